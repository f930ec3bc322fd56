"""Records put back as they were: the write under ``eir rollback``, a restore update from the
broker and a snapshot. Each change names a key of a list table (``imei``, ``range``, ``pair``,
``class``) and the whole record it must hold (None: it must not exist); the entry counters
follow the entries the records hold, so ``eir stats`` stays true. Runs in the caller's write
transaction (the caller writes the history with :func:`eir.store.apply.update_meta`, naming
the tables touched, and commits).

The records are taken as they are, ``added`` times included, so the content after a restore
is byte for byte the content the records came from: its digest too; except the entries of the
``keep_sources`` (a rollback's and a restore update's: the theft cases' source, whose entries
change only by ``eir case``): each key keeps its current entries of those sources, whatever
the record put back holds of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from eir.store.api import LoadSummary
from eir.store.records import LIST_TABLES, Table, entries_of, pack_record
from eir.store.writes import WriteTxn, counter_key

#: one record to put back: (table, key, the whole record or None for "no record")
Restore = tuple[Table, bytes, bytes | None]
#: the tables a restore may write
RESTORE_TABLES = (*LIST_TABLES, Table.CLASS)


def _count(table: Table, record: bytes, sign: int, delta: Counter[str]) -> None:
    for entry in entries_of(record):
        delta[counter_key(table, entry.list, entry.source)] += sign


def kept_sources(
    old: bytes | None, record: bytes | None, keep_sources: frozenset[str]
) -> bytes | None:
    """``record`` with the entries of ``keep_sources`` as ``old`` holds them (None: no
    entry left)."""
    if not keep_sources:
        return record
    kept = [e for e in entries_of(old) if e.source in keep_sources] if old else []
    given = entries_of(record) if record else ()
    others = [e for e in given if e.source not in keep_sources]
    if not kept and len(others) == len(given):
        return record
    if not kept and not others:
        return None
    return pack_record([*others, *kept])


def restore_records(
    txn: WriteTxn, changes: Iterable[Restore], keep_sources: frozenset[str] = frozenset()
) -> tuple[LoadSummary, Counter[str], set[Table]]:
    """Put each change's record in ``txn`` (or delete its key), the entries of
    ``keep_sources`` kept as they are (:func:`kept_sources`). Returns the summary (a key
    that comes back is ``added``, one that goes ``removed``, one whose record differs
    ``updated``, one already as asked ``unchanged``), the change of each entry counter and
    the tables written."""
    summary = LoadSummary()
    delta: Counter[str] = Counter()
    touched: set[Table] = set()
    for table, key, given in changes:
        summary.rows += 1
        old = txn.get(table, key)
        if old is not None:
            old = bytes(old)
        record = kept_sources(old, given, keep_sources)
        if old == record:
            summary.unchanged += 1
            continue
        touched.add(table)
        if old is not None:
            _count(table, old, -1, delta)
        if record is None:
            txn.delete(table, key)
            summary.removed += 1
            continue
        _count(table, record, 1, delta)
        txn.put(table, key, record)
        if old is None:
            summary.added += 1
        else:
            summary.updated += 1
    return summary, delta, touched
