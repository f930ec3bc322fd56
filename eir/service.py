"""``eir serve``: open the store and run until SIGTERM or SIGINT, then close cleanly.

The protocol front-ends (Diameter S13, MAP over M3UA) attach their listeners here.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from eir.config import Config
from eir.store.lmdb_store import LmdbStore

log = logging.getLogger("eir.service")


async def serve(config: Config, store: LmdbStore) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stats_counts = store.stats(history_size=0).per_list()
    summary = ", ".join(f"{name} {count}" for name, count in sorted(stats_counts.items()))
    print(f"eir: serving lists from {store.path} ({summary or 'no entries'})",
          file=sys.stderr, flush=True)
    print("eir: ready", file=sys.stderr, flush=True)
    await stop.wait()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)
    print("eir: stopping", file=sys.stderr, flush=True)


def run(config: Config, store: LmdbStore) -> int:
    try:
        asyncio.run(serve(config, store))
    finally:
        store.close()
    return 0
