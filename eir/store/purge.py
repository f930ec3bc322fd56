"""``eir purge`` and the daemon's purge: the entries whose ``expires`` is past deleted, a step
of at most ``lifecycle.purge_batch`` entries per transaction, each step a version of its own
(history action ``purge``). A record keeps its other entries; an expired entry already stopped
matching at its time (:func:`eir.policy.decide`), so a purge changes no answer, only the space
and the counts.

The scan (:func:`scan_step`) is pure over any :class:`~eir.store.writes.WriteTxn`; the store
(:meth:`eir.store.lmdb_store.LmdbStore.purge`) runs the steps, one transaction each.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from eir.model import Entry, is_expired
from eir.store.api import HandsetChange, LoadSummary, Mode
from eir.store.apply import update_meta
from eir.store.audit import daemon_change
from eir.store.batch import Batch
from eir.store.records import TIMED, Table, is_single_entry, pack_record, unpack_record
from eir.store.versions import VersionTxn, record_changes
from eir.store.writes import WriteTxn, counter_key

#: a place in the scan: the table's index in :class:`Table` and the first key not yet read
Position = tuple[int, bytes]
START: Position = (0, b"")


def purge_change(node: str) -> HandsetChange:
    """The audit of the daemon's purge steps: by ``node`` (:func:`eir.host.node_name`), from
    it (:func:`~eir.store.audit.daemon_change`); `eir purge` records its ``--by``."""
    return daemon_change("purge", node, "expired")


def expired_of(record: bytes, now: float) -> tuple[bytes | None, list[Entry]] | None:
    """What a purge at ``now`` makes of ``record``: None when none of its entries expired,
    else the record it keeps (None: no entry left) and the entries gone."""
    if record[0] < TIMED and is_single_entry(record):
        return None  # one entry without times: the common case, nothing decoded
    entries = unpack_record(record)
    gone = [e for e in entries if is_expired(e.expires, now)]
    if not gone:
        return None
    kept = [e for e in entries if not is_expired(e.expires, now)]
    return (pack_record(kept) if kept else None), gone


@dataclass(slots=True)
class Step:
    """One step of a purge: the keys it rewrites (record kept, None: deleted), the entries
    removed, and where the next step starts (None: the scan is over)."""

    changes: list[tuple[Table, bytes, bytes | None]] = field(default_factory=list)
    gone: list[tuple[Table, Entry]] = field(default_factory=list)
    next: Position | None = None


def scan_step(txn: WriteTxn, now: float, limit: int, start: Position = START) -> Step:
    """The expired entries from ``start`` on, up to ``limit`` of them (a record's entries are
    never split between steps)."""
    step = Step()
    tables = list(Table)
    first, key = start
    for index in range(first, len(tables)):
        table = tables[index]
        for stored, record in txn.items(table, key if index == first else b""):
            found = expired_of(bytes(record), now)
            if found is None:
                continue
            kept, gone = found
            step.changes.append((table, bytes(stored), kept))
            step.gone += ((table, entry) for entry in gone)
            if len(step.gone) >= limit:
                step.next = (index, bytes(stored) + b"\x00")
                return step
    return step


def write_step(txn: WriteTxn, step: Step) -> tuple[LoadSummary, Counter[str]]:
    """Write a step's changes; returns its summary and the change of each entry counter."""
    for table, key, kept in step.changes:
        if kept is None:
            txn.delete(table, key)
        else:
            txn.put(table, key, kept)
    delta: Counter[str] = Counter()
    for table, entry in step.gone:
        delta[counter_key(table, entry.list, entry.source)] -= 1
    summary = LoadSummary(removed=len(step.gone), rows=len(step.gone))
    return summary, delta


def purge_step(
    txn: WriteTxn,
    now: float,
    limit: int,
    change: HandsetChange,
    start: Position,
    keep: int,
    *,
    write: bool = True,
) -> tuple[LoadSummary, Position | None, int]:
    """One step of a purge in ``txn``: at most ``limit`` expired entries from ``start`` on
    deleted and, when ``write`` and some went, recorded as a version (``change`` its audit,
    stamped with the wall clock, not ``now``; its change set kept like every version's, past
    ``keep`` the oldest dropped). Returns the summary, where the next step starts and the
    version made (0: none; without ``write`` the caller aborts: a dry run)."""
    step = scan_step(txn, now, limit, start)
    recording = VersionTxn(txn, keep_runs=False)
    summary, delta = write_step(recording, step)
    if not write or not step.gone:
        return summary, step.next, 0
    tables = {table.value for table, _, _ in step.changes}
    version = update_meta(
        txn,
        summary,
        delta,
        Batch(change=change),
        Mode.REMOVE,
        [],
        int(time.time()),
        touched=tables,
    )
    record_changes(txn, version, recording, keep)
    return summary, step.next, version
