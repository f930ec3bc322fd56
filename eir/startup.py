"""What starting ``eir serve`` needs before any protocol stack: the store opened from the
configuration, the lines printed on stderr (scripts and tests wait for them), addresses as
shown in those lines.

It imports no protocol code, so that the supervisor of ``--workers N`` starts in a fraction of
a worker's time and the workers import the stacks side by side.
"""

from __future__ import annotations

import sys

from eir.config import Config
from eir.store.lmdb_store import LmdbStore


def say(line: str) -> None:
    """One line on stderr, at once."""
    print(line, file=sys.stderr, flush=True)


def open_store(config: Config, db: str | None, *, create: bool) -> LmdbStore:
    s = config.store
    return LmdbStore(db or s.path, map_size_mb=s.map_size_mb, max_map_size_mb=s.max_map_size_mb,
                     sync=s.sync, create=create, read_snapshot_ms=s.read_snapshot_ms)


def summary(store: LmdbStore) -> str:
    """``eir: serving lists from PATH (black N, ...)``."""
    counts = store.stats(history_size=0, digest=False).per_list()
    listed = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    return f"eir: serving lists from {store.path} ({listed or 'no entries'})"


def shown(host: str, port: int) -> str:
    """``HOST:PORT``, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
