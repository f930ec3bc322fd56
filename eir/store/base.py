"""The list store's interface and the one implementation of its write semantics.

A load is a :class:`Batch` of :class:`Group` s (sorted, unique keys of one table, list and
source). :func:`apply_batch` applies it through any :class:`WriteTxn` (LMDB or in memory), so
both stores share one meaning of add, replace and remove. The caller commits or aborts.
"""

from __future__ import annotations

import builtins
import enum
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice, repeat
from typing import TYPE_CHECKING, Protocol

from eir.errors import StoreError
from eir.model import Entry, Hits, ListName
from eir.store.records import (
    META,
    Table,
    entry_prefix,
    pack_entry,
    pack_record,
    pack_tail,
    unpack_record,
)

if TYPE_CHECKING:  # numpy only where a list is read or replaced, not for every CLI command
    import numpy as np
    import numpy.typing as npt


class Mode(enum.StrEnum):
    ADD = "add"  # add or update the listed entries
    REPLACE = "replace"  # the file becomes the whole of its (list, source) entries
    REMOVE = "remove"  # delete the listed entries


@dataclass(slots=True)
class Group:
    """Entries of one table, list and source: keys sorted and unique.

    ``fields`` holds (reason, reference, added) per key; None means ("", "", the load's time).
    ``tails`` is the bulk form of the same: one buffer holding each key's packed reason and
    reference (see :func:`eir.store.records.pack_tail`) at ``starts[i]:ends[i]``. ``numbers``
    may hold 14-digit keys as integers (a numpy int64 array, from the loader's fast path).
    """

    table: Table
    list: ListName
    source: str
    keys: builtins.list[bytes]
    fields: builtins.list[tuple[str, str, int]] | None = None
    tails: tuple[bytes, builtins.list[int], builtins.list[int]] | None = None
    numbers: npt.NDArray[np.int64] | None = None

    def values(self, now: int) -> Iterator[bytes]:
        if self.tails is not None:
            prefix = entry_prefix(self.list, self.source, now)
            buffer, starts, ends = self.tails
            return (prefix + buffer[a:b] for a, b in zip(starts, ends, strict=True))
        if self.fields is None:
            return repeat(pack_entry(self.list, self.source, "", "", now), len(self.keys))
        prefix = entry_prefix(self.list, self.source, now)
        return (
            pack_tail(prefix, r, ref)
            if not added
            else pack_entry(self.list, self.source, r, ref, added)
            for r, ref, added in self.fields
        )

    def values_at(self, indices: Sequence[int], now: int) -> builtins.list[bytes]:
        """The values :meth:`values` yields, at ``indices`` only."""
        if self.tails is not None:
            prefix = entry_prefix(self.list, self.source, now)
            buffer, starts, ends = self.tails
            return [prefix + buffer[starts[i] : ends[i]] for i in indices]
        if self.fields is None:
            return [pack_entry(self.list, self.source, "", "", now)] * len(indices)
        prefix = entry_prefix(self.list, self.source, now)
        fields = self.fields
        return [
            pack_tail(prefix, r, ref)
            if not added
            else pack_entry(self.list, self.source, r, ref, added)
            for r, ref, added in (fields[i] for i in indices)
        ]


@dataclass(slots=True)
class Batch:
    groups: list[Group] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    rows: int = 0  # data rows read: valid, invalid and duplicate
    invalid: int = 0
    duplicates: int = 0


@dataclass(slots=True)
class LoadSummary:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    invalid: int = 0
    duplicates: int = 0
    rows: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        prefix = "dry run, nothing changed: " if self.dry_run else ""
        return (
            f"{prefix}added {self.added}, updated {self.updated}, removed {self.removed}, "
            f"unchanged {self.unchanged}, invalid {self.invalid}, duplicates {self.duplicates}; "
            f"{self.rows} rows in {self.seconds:.2f} s ({self.rate:,.0f} rows/s)"
        )


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    seq: int
    time: int
    mode: str
    list: str
    source: str
    files: builtins.list[str]
    added: int
    updated: int
    removed: int
    unchanged: int
    invalid: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class StoreStats:
    #: entries per "table/list/source"
    counts: dict[str, int]
    generation: int
    size_bytes: int
    used_bytes: int
    digest: str
    history: list[HistoryRecord]

    def per_list(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for name, count in self.counts.items():
            out[name.split("/")[1]] += count
        return dict(out)

    def per_table(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for name, count in self.counts.items():
            out[name.split("/")[0]] += count
        return dict(out)


@dataclass(frozen=True, slots=True)
class ExportRow:
    table: Table
    imei: str
    last: str | None
    imsi: str | None
    entry: Entry


class WriteTxn(Protocol):
    """What :func:`apply_batch` needs of a write transaction."""

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
    def delete_many(self, table: str, keys: list[bytes]) -> None: ...
    def items(self, table: str) -> Iterator[tuple[bytes, bytes]]: ...
    def last_key(self, table: str) -> bytes | None: ...
    def append_sorted(self, table: str, keys: list[bytes], values: Iterable[bytes]) -> None: ...
    def put_sorted(self, table: str, items: list[tuple[bytes, bytes]]) -> None:
        """Put (overwrite) ``items``, sorted by key."""
        ...

    def scan(self, table: str, chunk: int) -> Iterator[tuple[list[bytes], list[bytes]]]:
        """The whole table in key order, as (keys, values) lists of up to ``chunk`` each."""
        ...


Tick = Callable[[int], None]
_CHUNK = 1 << 20
_TICK = 1 << 16


class ListStore(Protocol):
    """The store as the policy, the CLI and the front-ends see it."""

    def lookup(self, imei14: str, imsi: str | None) -> Hits: ...
    def apply(
        self,
        batch: Batch,
        mode: Mode,
        scope: Iterable[tuple[ListName, str]],
        *,
        dry_run: bool = False,
        now: int | None = None,
        remove_any_source: bool = False,
        tick: Tick | None = None,
    ) -> LoadSummary: ...
    def export(
        self, list_name: ListName | None = None, source: str | None = None
    ) -> Iterator[ExportRow]: ...
    def stats(self, history_size: int = 20, *, digest: bool = True) -> StoreStats: ...
    def close(self) -> None: ...


def counter_key(table: Table, list_name: ListName, source: str) -> str:
    return f"{table}/{list_name}/{source}"


def _merge_add(
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
            # The same one entry but for its time (octets 1-4): unchanged, nothing decoded.
            summary.unchanged += 1
            continue
        entries = unpack_record(old)
        new = unpack_record(value)[0]
        for index, entry in enumerate(entries):
            if entry.list is group.list and entry.source == group.source:
                if (entry.reason, entry.reference) == (new.reason, new.reference):
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


def _remove(
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
        if len(kept) == len(entries):
            summary.unchanged += 1
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


def apply_batch(
    txn: WriteTxn,
    batch: Batch,
    mode: Mode,
    scope: Iterable[tuple[ListName, str]],
    now: int,
    *,
    remove_any_source: bool = False,
    tick: Tick | None = None,
) -> tuple[LoadSummary, Counter[str]]:
    """Apply ``batch`` in ``txn``. Returns the summary and the change of each entry counter.

    ``scope`` is the set of (list, source) a replace covers; ``remove_any_source`` makes a
    remove delete the list's entries whatever their source; ``tick(rows)`` reports progress.
    """
    summary = LoadSummary(invalid=batch.invalid, duplicates=batch.duplicates, rows=batch.rows)
    delta: Counter[str] = Counter()
    if mode is Mode.REPLACE:
        from eir.store.replace import replace_groups  # numpy: only where a replace runs

        replace_groups(txn, batch.groups, set(scope), now, summary, delta, tick)
        return summary, delta
    for group in batch.groups:
        if not group.keys:
            continue
        if mode is Mode.REMOVE:
            _remove(txn, group, summary, delta, remove_any_source)
            continue
        last = txn.last_key(group.table)
        if last is None or last < group.keys[0]:
            append_group(txn, group, 0, group.values(now), summary, delta, tick)
        else:
            _merge_add(txn, group, now, summary, delta, tick)
    return summary, delta


def update_meta(
    txn: WriteTxn,
    summary: LoadSummary,
    delta: Counter[str],
    batch: Batch,
    mode: Mode,
    scope: list[tuple[ListName, str]],
    stamp: int,
) -> None:
    """Counters, generations and the load history, in the load's own transaction.

    The history names the first (list, source) of ``scope``: the command line's own.
    """
    first = scope[0] if scope else (ListName.BLACK, "")
    record = {
        "time": stamp,
        "mode": mode.value,
        "list": first[0].value,
        "source": first[1],
        "files": batch.files,
    }
    touched = {g.table for g in batch.groups}
    for name, change in delta.items():
        if change:
            key = b"count\x00" + name.encode()
            old = txn.get(META, key)
            value = (int(old) if old else 0) + change
            if value:
                txn.put(META, key, str(value).encode())
            else:
                txn.delete(META, key)
    changed = summary.added + summary.updated + summary.removed > 0
    if changed:
        for name in ["generation", *(f"generation:{t}" for t in touched)]:
            old = txn.get(META, name.encode())
            txn.put(META, name.encode(), str((int(old) if old else 0) + 1).encode())
    seq_raw = txn.get(META, b"history-seq")
    seq = (int(seq_raw) if seq_raw else 0) + 1
    txn.put(META, b"history-seq", str(seq).encode())
    history = dict(
        record,
        seq=seq,
        added=summary.added,
        updated=summary.updated,
        removed=summary.removed,
        unchanged=summary.unchanged,
        invalid=summary.invalid,
        duplicates=summary.duplicates,
    )
    txn.put(META, b"history\x00%012d" % seq, json.dumps(history, sort_keys=True).encode())


def history_of(raw: bytes) -> HistoryRecord:
    data = json.loads(raw)
    return HistoryRecord(**{k: data[k] for k in HistoryRecord.__dataclass_fields__})


def history_dict(record: HistoryRecord) -> dict[str, object]:
    return asdict(record)
