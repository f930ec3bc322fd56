"""The daemon's purge of expired list entries: the leading process, every
``lifecycle.purge_interval_s`` (0: never), runs :meth:`~eir.store.lmdb_store.LmdbStore.purge`
in a thread at the lifecycle's clock (:func:`eir.lifecycle.now`), so the event loop keeps
answering; each step of ``lifecycle.purge_batch`` entries is a version (history action
``purge``, origin ``daemon``, by the node's name). A failure is logged and tried again at the
next interval.
"""

from __future__ import annotations

import asyncio
import logging

from eir import lifecycle
from eir.config import Config
from eir.errors import EirError, MapGrowthNeededError
from eir.store.api import LoadSummary
from eir.store.lmdb_store import LmdbStore
from eir.store.purge import purge_change

log = logging.getLogger("eir.lifecycle")


async def purge_every(config: Config, store: LmdbStore, node: str) -> None:
    """Purge now, then every ``lifecycle.purge_interval_s`` (0: return at once)."""
    interval = config.lifecycle.purge_interval_s
    if not interval:
        return
    while True:
        await purge_once(config, store, node)
        await asyncio.sleep(interval)


async def purge_once(config: Config, store: LmdbStore, node: str) -> LoadSummary | None:
    """One purge, in a thread; None when it failed (logged)."""
    change = purge_change(node)
    try:
        while True:
            try:
                summary = await asyncio.to_thread(
                    store.purge,
                    lifecycle.now(config),
                    config.lifecycle.purge_batch,
                    change,
                    may_grow=False,
                )
                break
            except MapGrowthNeededError:
                store.grow_map()  # here, in the loop's thread, between lookups
    except EirError as exc:
        log.warning("lifecycle: the purge of expired entries failed: %s", exc)
        return None
    if summary.removed:
        log.info("lifecycle: purged %d expired entries", summary.removed)
    return summary
