"""The writes of one group of a load, over any :class:`WriteTxn` (LMDB or in memory): add
(a sorted append past the table's end, else a merge key by key) and remove. What each entry
becomes is decided here once for both stores; :mod:`eir.store.apply` applies a whole batch and
:mod:`eir.store.replace` shares the sorted append.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Protocol

from eir.errors import StoreError
from eir.model import Entry, ListName
from eir.store.api import LoadSummary, Tick
from eir.store.batch import Group
from eir.store.records import Table, pack_record, unpack_record


class WriteTxn(Protocol):
    """What the writes of a load need of a write transaction."""

    def get(self, table: str, key: bytes) -> bytes | None: ...
    def put(self, table: str, key: bytes, value: bytes) -> None: ...
    def insert(self, table: str, key: bytes, value: bytes) -> bool:
        """Put ``key`` only when it is absent; False when it was there already."""
        ...

    def bound(
        self, table: str
    ) -> tuple[Callable[[bytes], bytes | None], Callable[[bytes, bytes], bool]]:
        """(get, insert) for one table, as direct as the backend allows (hot loops)."""
        ...

    def delete(self, table: str, key: bytes) -> None: ...
    def delete_many(self, table: str, keys: list[bytes], olds: list[bytes] | None = None) -> None:
        """Delete ``keys``; ``olds``, when the caller has them, are their records."""
        ...

    def items(self, table: str, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]: ...
    def last_key(self, table: str) -> bytes | None: ...
    def append_sorted(self, table: str, keys: list[bytes], values: Iterable[bytes]) -> None: ...
    def put_sorted(
        self,
        table: str,
        items: list[tuple[bytes, bytes]],
        olds: Olds | None = None,
    ) -> None:
        """Put (overwrite) ``items``, sorted by key; ``olds``, when the caller has them, are
        the records they replace (a key absent from them had none)."""
        ...

    def scan(self, table: str, chunk: int) -> Iterator[tuple[list[bytes], list[bytes]]]:
        """The whole table in key order, as (keys, values) lists of up to ``chunk`` each."""
        ...


class Olds:
    """The records keys held before a load overwrote them, kept as two lists (cheap) and
    looked up by key only when asked: only a recording of the changes asks."""

    def __init__(self) -> None:
        self.keys: list[bytes] = []
        self.records: list[bytes] = []
        self._by_key: dict[bytes, bytes] | None = None

    def add(self, keys: Iterable[bytes], records: Iterable[bytes]) -> None:
        self.keys += keys
        self.records += records
        self._by_key = None

    def getter(self) -> Callable[[bytes], bytes | None]:
        """The record a key held (None: it had none)."""
        if self._by_key is None:
            self._by_key = dict(zip(self.keys, self.records, strict=True))
        return self._by_key.get


class DryRunTxn:
    """A replace's dry run: its sorted writes (the only writes a replace makes, after it has
    read the table) are skipped, as the transaction would be aborted anyway; reads and other
    writes pass through. Not for add or remove, which read back what they wrote."""

    def __init__(self, inner: WriteTxn) -> None:
        self.inner = inner
        self.get, self.put, self.insert = inner.get, inner.put, inner.insert
        self.bound, self.delete, self.items = inner.bound, inner.delete, inner.items
        self.last_key, self.scan = inner.last_key, inner.scan

    def delete_many(self, table: str, keys: list[bytes], olds: list[bytes] | None = None) -> None:
        """Skipped."""

    def append_sorted(self, table: str, keys: list[bytes], values: Iterable[bytes]) -> None:
        """Skipped."""

    def put_sorted(
        self,
        table: str,
        items: list[tuple[bytes, bytes]],
        olds: Olds | None = None,
    ) -> None:
        """Skipped."""


_CHUNK = 1 << 20
_TICK = 1 << 16


def same_content(old: Entry, new: Entry) -> bool:
    """Whether ``new`` leaves the entry ``old`` of its (list, source) unchanged: the same
    reason, reference, form of the IMEI (its check digit) and ``effective`` and ``expires``
    (a changed due date is an update), whatever their ``added`` times."""
    return (old.reason, old.reference, old.digit, old.effective, old.expires) == (
        new.reason,
        new.reference,
        new.digit,
        new.effective,
        new.expires,
    )


def counter_key(table: Table, list_name: ListName, source: str) -> str:
    return f"{table}/{list_name}/{source}"


def merge_add(
    txn: WriteTxn,
    group: Group,
    now: int,
    summary: LoadSummary,
    delta: Counter[str],
    tick: Tick | None,
) -> None:
    """Add a group to a table that may hold some of its keys already."""
    name = counter_key(group.table, group.list, group.source)
    table = group.table
    get, insert = txn.bound(table)
    for done, (key, value) in enumerate(zip(group.keys, group.values(now), strict=True), 1):
        if tick is not None and done % _TICK == 0:
            tick(_TICK)
        if insert(key, value):
            summary.added += 1
            delta[name] += 1
            continue
        old = get(key)
        if old is None:
            raise StoreError(f"{table} {key!r} vanished inside its own transaction")
        if old[0] == value[0] and old[5:] == value[5:]:
            # The same one entry but for its added time (octets 1-4; an entry's effective and
            # expires are among the octets compared): unchanged, nothing decoded.
            summary.unchanged += 1
            continue
        entries = unpack_record(old)
        new = unpack_record(value)[0]
        for index, entry in enumerate(entries):
            if entry.list is group.list and entry.source == group.source:
                if same_content(entry, new):
                    summary.unchanged += 1
                else:
                    entries[index] = new
                    txn.put(table, key, pack_record(entries))
                    summary.updated += 1
                break
        else:
            txn.put(table, key, old + value)
            summary.added += 1
            delta[name] += 1
    if tick is not None:
        tick(len(group.keys) % _TICK)


def remove(
    txn: WriteTxn, group: Group, summary: LoadSummary, delta: Counter[str], any_source: bool
) -> None:
    for key in group.keys:
        old = txn.get(group.table, key)
        entries = [] if old is None else unpack_record(old)
        kept = [
            e
            for e in entries
            if not (e.list is group.list and (any_source or e.source == group.source))
        ]
        if len(kept) == len(entries):  # not listed (on that list, from that source)
            summary.missing += 1
            continue
        for gone in entries:
            if gone not in kept:
                delta[counter_key(group.table, gone.list, gone.source)] -= 1
        summary.removed += len(entries) - len(kept)
        if kept:
            txn.put(group.table, key, pack_record(kept))
        else:
            txn.delete(group.table, key)


def append_group(
    txn: WriteTxn,
    group: Group,
    start: int,
    values: Iterator[bytes],
    summary: LoadSummary,
    delta: Counter[str],
    tick: Tick | None,
) -> None:
    """Append ``group.keys[start:]``, all new and past the table's end, with ``values``: a
    sorted append, in chunks."""
    for first in range(start, len(group.keys), _CHUNK):
        chunk = group.keys[first : first + _CHUNK]
        txn.append_sorted(group.table, chunk, islice(values, len(chunk)))
        if tick is not None:
            tick(len(chunk))
    count = len(group.keys) - start
    summary.added += count
    delta[counter_key(group.table, group.list, group.source)] += count
