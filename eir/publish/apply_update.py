"""Applying one list update to the store: the update checked against the stored version and
applied with its new version record in one LMDB transaction (run in a thread by the session).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from eir.publish.case_update import is_case_update, write_case
from eir.publish.lists import Version, decode_version, version_key
from eir.publish.restore_apply import write_restore
from eir.publish.restore_update import RestoreUpdate, decode_blob
from eir.publish.update import DeviceUpdate, UpdateError, UpdateMeta
from eir.store.api import HandsetChange, LoadSummary, Mode
from eir.store.devices import ACTION
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
    meta, content = decode_blob(blob)
    if meta.seq != seq:
        raise UpdateError(f"the parts of #{seq} hold update #{meta.seq}")
    if isinstance(content, RestoreUpdate) and content.snapshot:
        raise UpdateError(f"#{seq} is a snapshot, not an update of the log")
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
        if isinstance(content, RestoreUpdate):
            summary = _restore(store, meta, content, files, inside)
        elif isinstance(content, DeviceUpdate):
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
                change=audit_of(meta, ACTION[content.table]),
            )
        else:
            content.files = files
            content.change = audit_of(meta, "load")
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


def audit_of(meta: UpdateMeta, action: str) -> HandsetChange:
    """The history's audit of an applied update: the publisher's who, why and node, origin
    "update" and the update's seq (``action`` when the update names none: an older one)."""
    return HandsetChange(
        action=meta.action or action,
        imeis=(),
        by=meta.by or meta.publisher,
        reason=meta.reason,
        reference=meta.reference,
        origin="update",
        node=meta.node,
        update=meta.seq,
        restores=meta.restores,
    )


def _restore(
    store: LmdbStore,
    meta: UpdateMeta,
    content: RestoreUpdate,
    files: list[str],
    inside: Callable[[WriteTxn], None],
) -> LoadSummary:
    def work(txn: WriteTxn) -> LoadSummary:
        change = audit_of(meta, "rollback")
        if is_case_update(meta):
            summary = write_case(txn, meta, content.records, change, store.keep_versions)
        else:
            summary, _ = write_restore(
                txn, content, change, meta.time, store.keep_versions, store.case_sources
            )
        inside(txn)
        return summary

    return store.write(work, may_grow=False)


def apply_snapshot(
    store: LmdbStore, prefix: str, seq: int, blob: bytes, clock: Callable[[], float] = time.time
) -> tuple[UpdateMeta, LoadSummary | None]:
    """Load snapshot ``seq``: the list, class, device and case tables replaced whole, the
    counters following, the version ``seq`` and one history record ("snapshot"), in one
    transaction. None when the store is at ``seq`` or later already (it keeps its own)."""
    meta, content = decode_blob(blob)
    if meta.seq != seq or not isinstance(content, RestoreUpdate) or not content.snapshot:
        raise UpdateError(f"the snapshot parts of #{seq} hold no snapshot #{seq}")
    key = version_key(prefix)

    def work(txn: WriteTxn) -> LoadSummary:
        current = decode_version(txn.get(META, key))
        if current.seq >= seq:
            raise _StaleError(current)
        change = audit_of(meta, "snapshot")
        summary, _ = write_restore(txn, content, change, meta.time, store.keep_versions)
        txn.put(META, key, Version(seq, meta.id, meta.time, clock()).payload())
        return summary

    try:
        return meta, store.write(work, may_grow=False)
    except _StaleError:
        return meta, None
