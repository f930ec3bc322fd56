"""Applying one list update to the store: the update checked against the stored version and
applied with its new version record in one LMDB transaction (run in a thread by the session).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from eir.publish.lists import Version, decode_version, version_key
from eir.publish.update import DeviceUpdate, UpdateError, UpdateMeta, decode_any
from eir.store.api import LoadSummary, Mode
from eir.store.lmdb_store import LmdbStore
from eir.store.records import META
from eir.store.writes import WriteTxn


class _StaleError(Exception):
    def __init__(self, version: Version) -> None:
        super().__init__(f"already at #{version.seq}")
        self.version = version


def apply_update(
    store: LmdbStore, prefix: str, seq: int, blob: bytes, clock: Callable[[], float] = time.time
) -> tuple[UpdateMeta, LoadSummary | None]:
    """Check and apply update ``seq`` with its version record in one transaction.

    Returns the summary, or None when the store holds ``seq`` already (a repeat). Raises
    :class:`UpdateError` for an update that cannot follow the stored version, and
    :class:`MapGrowthNeededError` when the caller must grow the map first.
    """
    meta, content = decode_any(blob)
    if meta.seq != seq:
        raise UpdateError(f"the parts of #{seq} hold update #{meta.seq}")
    key = version_key(prefix)

    def inside(txn: WriteTxn) -> None:
        current = decode_version(txn.get(META, key))
        if current.seq >= seq:
            raise _StaleError(current)
        if current.seq != seq - 1:
            raise UpdateError(f"#{seq} cannot follow this store's #{current.seq}")
        txn.put(META, key, Version(seq, meta.id, meta.time, clock()).payload())

    names = ", ".join(meta.files) or "-"
    files = [f"update {prefix} #{seq} ({names})"]
    try:
        if isinstance(content, DeviceUpdate):
            summary = store.replace_devices(
                content.table,
                content.items,
                source=f"{meta.device_kind} {names}",
                files=files,
                rows=meta.rows,
                duplicates=meta.duplicates,
                now=meta.time,
                inside=inside,
                may_grow=False,
            )
        else:
            content.files = files
            summary = store.apply(
                content,
                Mode(meta.mode),
                meta.owners(),
                now=meta.time,
                remove_any_source=meta.remove_any_source,
                inside=inside,
                may_grow=False,
            )
    except _StaleError:
        return meta, None
    return meta, summary
