"""A restore update or a snapshot written in the caller's write transaction: the device and
case tables as whole values, then the list and class records through
:func:`eir.store.versions.restore_version` (counters follow, one history record with its audit,
the version's change set kept: a restore update's; a snapshot keeps none).
"""

from __future__ import annotations

from collections.abc import Iterable

from eir.publish.restore_update import HISTORY, RestoreUpdate
from eir.store.api import HandsetChange, LoadSummary
from eir.store.devices import DEVICE_TABLES, generation_key, replace_table, set_loaded
from eir.store.records import CASES, META, Table
from eir.store.restore import Restore
from eir.store.versions import HISTORY_IMPORTED, head_version, restore_version
from eir.store.writes import WriteTxn

#: the list store's tables a restore writes through :func:`restore_records`
RECORD_TABLES = (Table.IMEI, Table.RANGE, Table.PAIR, Table.CLASS)


def write_restore(
    txn: WriteTxn,
    content: RestoreUpdate,
    change: HandsetChange,
    stamp: int,
    keep: int,
    keep_sources: frozenset[str] = frozenset(),
) -> tuple[LoadSummary, int]:
    """Write ``content`` in ``txn`` and record it as one version (its change set kept as
    :func:`eir.store.versions.restore_version` keeps it: ``keep`` versions). Returns the
    summary of the list tables and the others and the version (the history record's seq).
    A restore update keeps each key's entries of ``keep_sources`` (the theft cases': they
    change only by ``eir case``); a snapshot writes them as it holds them, with its case
    table, records no change set (a rollback cannot cross it) and, on a node with no history,
    brings the publisher's history records first."""
    by_table: dict[str, list[tuple[bytes, bytes | None]]] = {}
    for table, key, record in content.records:
        by_table.setdefault(table, []).append((key, record))
    changes: list[Restore] = []
    for table in RECORD_TABLES:
        items = by_table.get(table.value, [])
        changes += [(table, key, record) for key, record in items]
        if content.snapshot:
            changes += [(table, key, None) for key in _gone(txn, table.value, items)]
    others = LoadSummary()
    for table in DEVICE_TABLES:
        _devices(txn, table, by_table.get(table, []), content.snapshot, others)
    _cases(txn, by_table.get(CASES, []), content.snapshot, others)
    if content.snapshot:
        _take_history(txn, by_table.get(HISTORY, []))
        summary, seq = restore_version(txn, changes, change, stamp, keep, snapshot=True)
    else:
        summary, seq = restore_version(txn, changes, change, stamp, keep, keep_sources=keep_sources)
    _add(summary, others)
    return summary, seq


def _take_history(txn: WriteTxn, items: list[tuple[bytes, bytes | None]]) -> None:
    """A node with no history of its own takes the snapshot's (its audit trail), numbered as
    the publisher's; its own snapshot record follows them. A node with history keeps its own."""
    if head_version(txn) or not items:
        return
    for key, record in items:
        if record is not None:
            txn.put(META, b"history\x00" + key, record)
    top = items[-1][0].decode()
    txn.put(META, b"history-seq", top.encode())
    txn.put(META, HISTORY_IMPORTED, top.encode())


def _gone(txn: WriteTxn, table: str, items: list[tuple[bytes, bytes | None]]) -> list[bytes]:
    """The keys of ``table`` a snapshot does not hold."""
    kept = {key for key, _ in items}
    return [bytes(key) for key, _ in txn.items(table) if bytes(key) not in kept]


def _devices(
    txn: WriteTxn,
    table: str,
    items: list[tuple[bytes, bytes | None]],
    whole: bool,
    summary: LoadSummary,
) -> None:
    """A device table: made whole (a snapshot) or its keys put back one by one."""
    if whole:
        values = [(key, record) for key, record in items if record is not None]
        done = replace_table(txn, table, values)
        set_loaded(txn, table, len(values), "snapshot")
    else:
        done = _put_each(txn, table, items)
        count = sum(1 for _ in txn.items(table))
        set_loaded(txn, table, count, "rollback")
    _add(summary, done)
    if done.added + done.updated + done.removed:
        old = txn.get(META, generation_key(table))
        txn.put(META, generation_key(table), str((int(old) if old else 0) + 1).encode())


def _cases(
    txn: WriteTxn, items: list[tuple[bytes, bytes | None]], whole: bool, summary: LoadSummary
) -> None:
    changes = list(items)
    if whole:
        changes += [(key, None) for key in _gone(txn, CASES, items)]
    _add(summary, _put_each(txn, CASES, changes))


def _put_each(
    txn: WriteTxn, table: str, items: Iterable[tuple[bytes, bytes | None]]
) -> LoadSummary:
    done = LoadSummary()
    for key, record in items:
        old = txn.get(table, key)
        old = None if old is None else bytes(old)
        if old == record:
            done.unchanged += 1
        elif record is None:
            txn.delete(table, key)
            done.removed += 1
        else:
            txn.put(table, key, record)
            if old is None:
                done.added += 1
            else:
                done.updated += 1
    return done


def _add(summary: LoadSummary, done: LoadSummary) -> None:
    summary.rows += done.added + done.updated + done.removed + done.unchanged
    summary.added += done.added
    summary.updated += done.updated
    summary.removed += done.removed
    summary.unchanged += done.unchanged
