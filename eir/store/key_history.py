"""What the kept change sets (:mod:`eir.store.versions`) say about one key: for each version
that changed it, its entries before and after. `eir lookup` names the version that made an
entry with it and `eir audit --imei` the versions that added, changed or removed an IMEI's
entries (a replace that removed one, a rollback that restored one).

A point read per kept version and key: cheap (``versions.keep`` versions). Pure over a
:class:`~eir.store.reading.ReadTxn`.
"""

from __future__ import annotations

from collections.abc import Mapping

from eir.model import Entry, Level, Match
from eir.store.reading import ReadTxn
from eir.store.records import CHANGES, Table, entries_of
from eir.store.versions import change_key, kept, unpack_change

#: version -> (the key's entries before it, after it)
KeyChanges = Mapping[int, tuple[tuple[Entry, ...], tuple[Entry, ...]]]

_TABLE_OF = {Level.IMEI: Table.IMEI, Level.RANGE: Table.RANGE, Level.PAIR: Table.PAIR}


def table_key(match: Match) -> tuple[Table, bytes] | None:
    """The list table and key ``match`` was found at (None for a class match)."""
    table = _TABLE_OF.get(match.level)
    if table is None:
        return None
    tail = match.last if table is Table.RANGE else match.imsi if table is Table.PAIR else ""
    return table, (match.key + (tail or "")).encode()


def key_changes(txn: ReadTxn, table: Table, key: bytes) -> KeyChanges:
    """The changes of ``key`` in ``table`` in every version whose change set is kept."""
    span = kept(txn)
    out: dict[int, tuple[tuple[Entry, ...], tuple[Entry, ...]]] = {}
    if not span.first:
        return out
    for version in range(span.first, span.head + 1):
        raw = txn.get(CHANGES, change_key(version, table.value, key))
        if raw is not None:
            old, new = unpack_change(bytes(raw))
            out[version] = (_entries(old), _entries(new))
    return out


def _entries(record: bytes | None) -> tuple[Entry, ...]:
    return () if record is None else entries_of(record)
