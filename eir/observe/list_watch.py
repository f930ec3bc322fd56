"""Watching the store's lists while serving: once a second, whether they changed (a local
``eir load`` or an applied update); entry counts and update time for the metrics, and an
``events/lists`` event for the broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from eir.events import EventQueue, ListsChanged
from eir.store.lmdb_store import LmdbStore

if TYPE_CHECKING:  # a broker session is made only when a broker is configured
    from eir.publish.session import BrokerSession

log = logging.getLogger("eir.service")


class ListWatch:
    """Notices list changes (a local `eir load` or an applied update) once a second: entry
    counts and update time for the metrics, and an `events/lists` event."""

    def __init__(
        self, store: LmdbStore, queue: EventQueue | None, mqtt: BrokerSession | None, prefix: str
    ) -> None:
        self.store = store
        self.queue = queue
        self.mqtt = mqtt
        self.prefix = prefix
        self.generation = -1
        self.entries: dict[str, int] = {}
        self.changed_at = 0.0

    def poll(self) -> None:
        stats = self.store.stats(history_size=1, digest=False)
        if stats.generation == self.generation:
            return
        first = self.generation < 0
        self.generation = stats.generation
        self.entries = stats.per_list()
        last = stats.history[-1] if stats.history else None
        self.changed_at = float(last.time) if last is not None else 0.0
        if first or self.queue is None:
            return
        version = self.mqtt.stats.version.seq if self.mqtt is not None else 0
        cause = "load"
        if last is not None and last.files and last.files[0].startswith("update "):
            cause = last.files[0]
        self.queue.offer(
            ListsChanged(stats.generation, dict(self.entries), cause, time.time(), version)
        )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.poll()
            except Exception:  # a store error must not stop the watch
                log.exception("cannot read the store's counters")
