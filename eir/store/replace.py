"""``--mode replace`` as one merge walk per table over sorted keys.

A replace makes the batch the whole of its (list, source) entries: each group adds or updates
its keys as an ``add`` would, then every entry of a (list, source) in scope that the batch
does not hold is removed; other entries are untouched. Both sides are in key order (the batch's
groups are sorted, LMDB iterates in key order), so one walk over the table does it all:

* the table is read in chunks (two cursors: keys and values); the batch keys up to a chunk's
  last key are matched against it with numpy (one comparison when they are the same keys);
* a matched record that is the group's own entry with the same reason and reference (only its
  ``added`` time may differ) is unchanged: decided for the whole chunk at once, nothing written
  (an entry's ``effective`` and ``expires`` are among the octets compared);
* a batch key absent from the table is a new entry; those past the table's last key are
  appended in order, the rest put in one sorted pass;
* anything else (an update, a record holding several entries, a record the batch does not
  hold, an entry with times: the header matrices read the layout without them) is settled one
  key at a time by :meth:`_Walk.settle`, the reference meaning.

Changes are collected during the walk and written after it, in the caller's transaction.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from eir.model import Entry, ListName
from eir.store.api import ClassScope, LoadSummary, Tick
from eir.store.batch import Group
from eir.store.records import (
    LIST_OF_CODE,
    PLAIN_CODE,
    Table,
    is_single_entry,
    pack_record,
    unpack_record,
)
from eir.store.writes import Olds, WriteTxn, append_group, counter_key, same_content

#: records read from the table per step of the walk
CHUNK = 1 << 15

#: records up to this long are classified from a matrix of their octets (see _Walk.unheld)
_HEADER_WIDTH = 64
_CODES = np.array(sorted(LIST_OF_CODE), dtype=np.uint8)
#: each code octet as its list's plain code (see eir.store.records.PLAIN_CODE)
_PLAIN = np.frombuffer(PLAIN_CODE, dtype=np.uint8)

#: decoded records the walk remembers (see _Walk.decode)
_DECODED = 4096

Owner = tuple[ListName, str]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.intp]


def replace_groups(
    txn: WriteTxn,
    groups: Sequence[Group],
    scope: set[Owner],
    now: int,
    summary: LoadSummary,
    delta: Counter[str],
    tick: Tick | None,
    removed: Counter[str] | None = None,
) -> None:
    """Apply ``groups`` as a replace of the (list, source) pairs in ``scope``, in ``txn``.

    ``removed`` counts the entries removed, by entry counter (see ``counter_key``).

    A class's scope (:class:`~eir.store.api.ClassScope`) covers the ``class`` table only and a
    list's (list, source) every other table only, so a list source named like a class never
    touches the class, nor the class a list.
    """
    gone: Counter[str] = Counter() if removed is None else removed
    for table in Table:
        mine = [g for g in groups if g.table is table and g.keys]
        owners = {o for o in scope if isinstance(o, ClassScope) is (table is Table.CLASS)}
        if mine or owners:
            _Walk(txn, table, mine, owners, now, summary, delta, gone).run(tick)


def _pick(items: Sequence[bytes], where: Ints) -> list[bytes]:
    """``items`` at ``where`` (distinct indices in order, so as many as items means all)."""
    if len(where) == len(items):
        return list(items)
    if len(where) == 1:
        return [items[int(where[0])]]
    return list(itemgetter(*where.tolist())(items)) if len(where) else []


def _lengths(items: Sequence[bytes]) -> Ints:
    return np.fromiter(map(len, items), dtype=np.intp, count=len(items))


def _rows(items: Sequence[bytes], width: int) -> npt.NDArray[np.uint8]:
    """Byte strings of at most ``width`` octets as the rows of a matrix (zero padded)."""
    return np.array(items, dtype=f"S{width}").view(np.uint8).reshape(len(items), width)


def same_but_time(
    records: Sequence[bytes], lengths: Ints, matched: Ints, new: bytes | Sequence[bytes]
) -> Bools:
    """For each record ``records[matched[i]]``: is it the entry ``new`` (one value, or one per
    matched record) but for its time?

    The test an add (:func:`eir.store.writes.merge_add`) makes on one record, for a chunk at
    once: the same octets except ``added`` (octets 1-4), so a one-entry record of the same list,
    source, reason and reference. ``lengths`` are the records' lengths.
    """
    if isinstance(new, bytes):
        size = len(new)
        model = np.frombuffer(new, dtype=np.uint8)
        fits = lengths == size
        if bool(fits.all()):  # all of that length: one buffer, no padding
            rows = np.frombuffer(b"".join(records), dtype=np.uint8).reshape(len(records), size)
            same: Bools = (rows[:, 0] == model[0]) & (rows[:, 5:] == model[5:]).all(axis=1)
            return same[matched]
        same = fits[matched]
        where = np.flatnonzero(same)
        if len(where):
            rows = _rows(_pick(records, matched[where]), size)
            same[where] = (rows[:, 0] == model[0]) & (rows[:, 5:] == model[5:]).all(axis=1)
        return same
    same = lengths[matched] == _lengths(new)
    where = np.flatnonzero(same)
    if len(where):
        width = int(lengths[matched[where]].max())
        rows = _rows(_pick(records, matched[where]), width)
        model = _rows(_pick(new, where), width)
        same[where] = (rows[:, 0] == model[:, 0]) & (rows[:, 5:] == model[:, 5:]).all(axis=1)
    return same


def as_numbers(keys: npt.NDArray[np.bytes_]) -> npt.NDArray[np.int64] | None:
    """Keys of up to 18 digits and one length (NUL padded to one octet more) as integers, which
    sort as they do and are searched far faster; None for other keys."""
    width = keys.dtype.itemsize - 1
    if not 0 < width <= 18 or not len(keys):
        return None
    octets = keys.view(np.uint8).reshape(len(keys), width + 1)
    digits = octets[:, :width] - 48
    if octets[:, width].any() or not bool((digits < 10).all()):  # longer, shorter (NUL
        return None  # padded) or not digits
    if width <= 15:  # one product: every partial sum is a whole number below 2 ** 53, exact
        places = 10.0 ** np.arange(width - 1, -1, -1)
        exact: npt.NDArray[np.int64] = (digits.astype(np.float64) @ places).astype(np.int64)
        return exact
    out = digits[:, 0].astype(np.int64)
    for column in range(1, width):
        out *= 10
        out += digits[:, column]
    return out


_PLACES14 = 10.0 ** np.arange(13, -1, -1)


def _numbers14(keys: list[bytes]) -> npt.NDArray[np.int64] | None:
    """Keys all of 14 digits as integers (as :func:`as_numbers` makes them), or None.

    The keys joined by newlines: when every line of 15 octets is 14 digits and a newline,
    there are as many newlines as keys, so each key is one line, of 14 digits."""
    count = len(keys)
    joined = b"\n".join(keys) + b"\n"
    if len(joined) != 15 * count:
        return None
    lines = np.frombuffer(joined, dtype=np.uint8).reshape(count, 15)
    digits = lines[:, :14] - np.uint8(48)
    if not bool((lines[:, 14] == 10).all()) or not bool((digits < 10).all()):
        return None
    out: npt.NDArray[np.int64] = (digits.astype(np.float64) @ _PLACES14).astype(np.int64)
    return out


def _headers(
    values: Sequence[bytes], lengths: Ints, where: Ints
) -> tuple[Bools, npt.NDArray[np.uint8], Bools]:
    """The records ``values[where]`` (``lengths`` theirs) read from their headers at once:
    which are short enough to be (``short``, over ``where``), their first octets as rows, and
    which of those rows are one well-formed entry (as :func:`is_single_entry` says of one)."""
    short = lengths <= _HEADER_WIDTH
    rows = _rows(_pick(values, where[short]), _HEADER_WIDTH)
    sizes = lengths[short]
    at = np.arange(len(rows))
    source_end = 6 + rows[:, 5].astype(np.intp)
    reason_end = source_end + 1 + rows[at, np.minimum(source_end, _HEADER_WIDTH - 1)]
    single = (
        (sizes >= 8)
        & np.isin(rows[:, 0], _CODES)
        & (source_end < sizes)
        & (reason_end < sizes)
        & (reason_end + 1 + rows[at, np.minimum(reason_end, _HEADER_WIDTH - 1)] == sizes)
    )
    return short, rows, single


def _owned(rows: npt.NDArray[np.uint8], single: Bools, code: int, source: bytes) -> Bools:
    """Which header ``rows`` (see :func:`_headers`) are one entry of list ``code`` (its plain
    code, whatever the IMEI's form) and ``source``."""
    if 6 + len(source) > _HEADER_WIDTH:
        return np.zeros(len(rows), dtype=np.bool_)
    mine: Bools = single & (_PLAIN[rows[:, 0]] == code) & (rows[:, 5] == len(source))
    if source:
        mine &= (rows[:, 6 : 6 + len(source)] == np.frombuffer(source, dtype=np.uint8)).all(axis=1)
    return mine


def _search(table: npt.NDArray[Any], batch: npt.NDArray[Any]) -> tuple[Ints, Bools]:
    """Where each of ``batch`` would be in the sorted ``table``, and whether it is there."""
    at: Ints = np.searchsorted(table, batch)
    found: Bools = at < len(table)
    found[found] = table[at[found]] == batch[found]
    return at, found


def _entry_of(entries: list[Entry], group: Group) -> int:
    """The index of the group's (list, source) entry in ``entries``; -1 when none is."""
    for at, present in enumerate(entries):
        if present.list is group.list and present.source == group.source:
            return at
    return -1


class _Walk:
    """The replace of one table: its groups (distinct list and source, keys sorted)."""

    def __init__(
        self,
        txn: WriteTxn,
        table: Table,
        groups: list[Group],
        scope: set[Owner],
        now: int,
        summary: LoadSummary,
        delta: Counter[str],
        removed: Counter[str],
    ) -> None:
        self.txn, self.table, self.scope, self.now = txn, table, scope, now
        self.summary, self.delta, self.removed = summary, delta, removed
        #: the entry counter of each (list, source) in scope, by its raw form in a record
        self.owners = {
            (name.code[0], source.encode()): counter_key(table, name, source)
            for name, source in scope
        }
        self.groups = groups
        self.single = groups[0] if len(groups) == 1 else None
        #: for several groups: which groups hold each key, at which index
        self.members: dict[bytes, list[tuple[Group, int]]] = {}
        if self.single is not None:
            self.keys = self.single.keys
        else:
            for group in groups:
                for index, key in enumerate(group.keys):
                    self.members.setdefault(key, []).append((group, index))
            self.keys = sorted(self.members)
        self._array: npt.NDArray[np.bytes_] | None = None  # the keys for numpy, when needed
        plain = (
            self.single is not None
            and self.single.fields is None
            and self.single.tails is None
            and self.single.digits is None
            and self.single.entries is None
            and self.single.times is None
        )
        self.constant = self.single.values_at([0], now)[0] if plain and self.single else None
        self.entry = None if self.constant is None else unpack_record(self.constant)[0]
        #: the entry counter of each group's (list, source)
        self.names = {(g.list, g.source): counter_key(table, g.list, g.source) for g in groups}
        #: the counter of the plain single group's (list, source) when it is in scope
        self.own = (
            None
            if self.constant is None or self.single is None
            else self.owners.get((self.constant[0], self.single.source.encode()))
        )
        self._decoded: dict[bytes, tuple[Entry, ...]] = {}
        self.puts: list[tuple[bytes, bytes]] = []
        #: the records the puts replace (absent: a new key), and those deleted (one a key)
        self.put_olds = Olds()
        self.deletes: list[bytes] = []
        self.gone: list[bytes] = []

    def run(self, tick: Tick | None) -> None:
        done = 0
        for keys, values in self.txn.scan(self.table, CHUNK):
            end = bisect_right(self.keys, keys[-1], done)
            self.chunk(keys, values, done, end)
            if tick is not None and end > done:
                tick(end - done)
            done = end
        self.txn.delete_many(self.table, self.deletes, self.gone)
        if self.single is None:
            for key in self.keys[done:]:  # past the table's end: new to every group
                self.settle(key, None)
        if self.puts:
            self.puts.sort()
            self.txn.put_sorted(self.table, self.puts, self.put_olds)
        if self.single is not None and done < len(self.keys):
            tail = self.single.values_at(range(done, len(self.keys)), self.now)
            append_group(self.txn, self.single, done, iter(tail), self.summary, self.delta, tick)
        elif tick is not None:  # progress counts rows: a key held by several groups is several
            tick(sum(len(g.keys) for g in self.groups) - done)

    def chunk(self, keys: list[bytes], values: list[bytes], lo: int, hi: int) -> None:
        """Settle one chunk of the table and the batch keys ``lo:hi`` (up to its last key)."""
        if hi - lo == len(keys) and keys == self.keys[lo:hi]:  # the same keys: all matched
            matched = np.arange(len(keys))
            found: Bools = np.ones(hi - lo, dtype=np.bool_)
            held = found
        else:
            at, found = self._search(keys, lo, hi)
            matched = at[found]
            held = np.zeros(len(keys), dtype=np.bool_)
            held[matched] = True
        fresh = lo + np.flatnonzero(~found)
        positions = lo + np.flatnonzero(found)
        if self.own is not None and self._all_own(values):
            self._settle_own(self.own, keys, values, len(matched), fresh, held)
            return
        lengths = _lengths(values)
        if self.single is not None:
            self._settle_single(self.single, values, lengths, matched, positions)
            self._add_fresh(fresh)
        else:
            for index, position in zip(matched.tolist(), positions.tolist(), strict=True):
                self.settle(self.keys[position], values[index])
            for position in fresh.tolist():
                self.settle(self.keys[position], None)
        unheld = np.flatnonzero(~held)
        if len(unheld):
            self.unheld(keys, values, lengths[unheld], unheld)

    def _search(self, keys: list[bytes], lo: int, hi: int) -> tuple[Ints, Bools]:
        """Where each batch key ``lo:hi`` is in the chunk's ``keys`` (sorted), and whether it
        is there: as integers when the keys are digits of one length, else as bytes."""
        numbers = self.single.numbers if self.single is not None else None
        here = None if numbers is None else _numbers14(keys)
        if here is not None and numbers is not None:  # 14-digit keys, already integers
            return _search(here, numbers[lo:hi])
        # Keys are digits (never NUL): padded with NUL, a key still sorts and compares as
        # itself. One octet more than the longest batch key shows a longer table key.
        if self._array is None:
            width = max(map(len, self.keys), default=0) + 1
            self._array = np.array(self.keys, dtype=f"S{width}")
        width = self._array.dtype.itemsize
        table = np.array(keys, dtype=f"S{width}")
        if table.view(np.uint8).reshape(len(keys), width)[:, -1].any():
            width = max(width, *map(len, keys))
            table = np.array(keys, dtype=f"S{width}")
        batch = self._array[lo:hi].astype(f"S{width}", copy=False)
        here, there = as_numbers(table), as_numbers(batch)
        if here is not None and there is not None:
            return _search(here, there)
        return _search(table, batch)

    def _settle_own(
        self,
        own: str,
        keys: list[bytes],
        values: list[bytes],
        matched: int,
        fresh: Ints,
        held: Bools,
    ) -> None:
        """Every record of the chunk is the plain group's entry, times aside (counter
        ``own``): the ``matched`` ones are unchanged and the others, in scope and not in the
        batch, removed."""
        self.summary.unchanged += matched
        self._add_fresh(fresh)
        unheld = np.flatnonzero(~held)
        if len(unheld):
            self.deletes.extend(_pick(keys, unheld))
            self.gone.extend(_pick(values, unheld))
            self.delta[own] -= len(unheld)
            self.removed[own] += len(unheld)
            self.summary.removed += len(unheld)

    def _settle_single(
        self, group: Group, values: list[bytes], lengths: Ints, matched: Ints, positions: Ints
    ) -> None:
        """The records matched by the single group's keys at ``positions``: those that are its
        entry but for their time are unchanged, those that are its one entry with another
        reason, reference or form are updated (their new record is the new entry), both
        decided at once; the others are settled."""
        new = (
            self.constant
            if self.constant is not None
            else group.values_at(positions.tolist(), self.now)
        )
        same = same_but_time(values, lengths, matched, new)
        self.summary.unchanged += int(np.count_nonzero(same))
        differ = np.flatnonzero(~same)
        if not len(differ):
            return
        short, rows, single = _headers(values, lengths[matched[differ]], matched[differ])
        own = np.zeros(len(differ), dtype=np.bool_)
        own[short] = _owned(rows, single, group.list.code[0], group.source.encode())
        updates = differ[own]
        if len(updates):
            keys = _pick(self.keys, positions[updates])
            fresh = [new] * len(keys) if isinstance(new, bytes) else _pick(new, updates)
            self.puts.extend(zip(keys, fresh, strict=True))
            self.put_olds.add(keys, _pick(values, matched[updates]))
            self.summary.updated += len(updates)
        for index in differ[~own].tolist():
            position = int(positions[index])
            self.settle(self.keys[position], values[int(matched[index])], position)

    def _all_own(self, values: list[bytes]) -> bool:
        """Whether every record is the plain group's one entry but for its time: read from the
        few distinct records a chunk holds (a bulk load writes one, each later load another)."""
        model = self.constant
        if model is None:
            return False
        # one load's records are the same octets: a count is cheaper than a set
        if values.count(values[0]) == len(values):
            kinds = {values[0]}
        elif len(set(values[:256])) > 64:  # records of their own (reasons, references)
            return False
        else:
            kinds = set(values)
        if len(kinds) > 64:
            return False
        size, code, tail = len(model), model[0], model[5:]
        return all(len(kind) == size and kind[0] == code and kind[5:] == tail for kind in kinds)

    def _add_fresh(self, fresh: Ints) -> None:
        """The single group's keys at ``fresh`` are absent from the table: new entries."""
        if len(fresh) and self.single is not None:
            group = self.single
            new_keys = _pick(self.keys, fresh)
            self.puts.extend(zip(new_keys, group.values_at(fresh.tolist(), self.now), strict=True))
            self.summary.added += len(new_keys)
            self.delta[counter_key(self.table, group.list, group.source)] += len(new_keys)

    def unheld(self, keys: list[bytes], values: list[bytes], lengths: Ints, where: Ints) -> None:
        """Records the batch does not hold: a one-entry record of a (list, source) in scope is
        removed, of another kept, both read from the record's header for many at once (as
        :func:`eir.store.records.is_single_entry` does for one); the rest are settled.
        ``lengths`` are theirs."""
        short, rows, single = _headers(values, lengths, where)
        removed = np.zeros(len(rows), dtype=np.bool_)
        for (code, source), name in self.owners.items():
            mine = _owned(rows, single, code, source)
            count = int(np.count_nonzero(mine))
            if count:
                removed |= mine
                self.delta[name] -= count
                self.removed[name] += count
                self.summary.removed += count
        self.deletes.extend(_pick(keys, where[short][removed]))
        self.gone.extend(_pick(values, where[short][removed]))
        rest = np.concatenate([where[~short], where[short][~single]])
        for index in np.sort(rest).tolist():
            self.settle(keys[index], values[index])

    def settle(self, key: bytes, old: bytes | None, position: int = -1) -> None:
        """One key, the reference meaning: the groups holding it add or update their entries,
        then the in-scope entries of (list, source) pairs not holding it are removed. A record
        is decoded at most once. ``position``: the key's index in the batch, when known."""
        held = self._holders(key, position)
        record, entries, stale = self._add_held(held, old)
        if record is None:
            return
        holders = {(group.list, group.source) for group, _ in held}
        if entries is None:
            if self._kept_whole(record, holders):
                self.keep(key, old, record)
                return
            entries = self.decode(record)
        survivors = [
            e
            for e in entries
            if (e.list, e.source) not in self.scope or (e.list, e.source) in holders
        ]
        if len(survivors) != len(entries):
            for gone in entries:
                if gone not in survivors:
                    name = counter_key(self.table, gone.list, gone.source)
                    self.delta[name] -= 1
                    self.removed[name] += 1
            self.summary.removed += len(entries) - len(survivors)
            entries, stale = survivors, True
        if stale:
            record = pack_record(entries) if entries else None
        self.keep(key, old, record)

    def _holders(self, key: bytes, position: int) -> list[tuple[Group, int]]:
        """The groups holding ``key``, each with the key's index in it."""
        if self.single is None:
            return self.members.get(key, [])
        if position < 0:
            index = bisect_right(self.keys, key) - 1
            position = index if index >= 0 and self.keys[index] == key else -1
        return [(self.single, position)] if position >= 0 else []

    def _add_held(
        self, held: list[tuple[Group, int]], old: bytes | None
    ) -> tuple[bytes | None, list[Entry] | None, bool]:
        """Each holding group adds or updates its entry in the record ``old`` (None: absent).

        Returns the record, its entries once it had to be decoded (else None), and whether
        the entries changed in a way the record's octets do not show yet."""
        summary = self.summary
        record = old
        entries: list[Entry] | None = None
        stale = False
        for group, index in held:
            plain = group is self.single and self.constant is not None
            value = (
                self.constant
                if plain and self.constant is not None
                else group.values_at([index], self.now)[0]
            )
            if record is None:
                record = value
                self._count_added(group)
                continue
            if entries is None:
                if record[0] == value[0] and record[5:] == value[5:]:
                    summary.unchanged += 1
                    continue
                entries = self.decode(record)
            entry = self.entry if plain and self.entry is not None else unpack_record(value)[0]
            at = _entry_of(entries, group)
            if at < 0:
                entries.append(entry)
                record += value  # the same octets as packing the entries again
                self._count_added(group)
            elif same_content(entries[at], entry):
                summary.unchanged += 1
            else:
                entries[at] = entry
                stale = True
                summary.updated += 1
        return record, entries, stale

    def _count_added(self, group: Group) -> None:
        self.summary.added += 1
        self.delta[self.names[(group.list, group.source)]] += 1

    def _kept_whole(self, record: bytes, holders: set[Owner]) -> bool:
        """Whether a record, not decoded, stays as it is: one entry, of a (list, source) out
        of scope or holding the key."""
        if not is_single_entry(record):
            return False
        raw = (PLAIN_CODE[record[0]], record[6 : 6 + record[5]])
        return raw not in self.owners or any(
            (name.code[0], source.encode()) == raw for name, source in holders
        )

    def decode(self, record: bytes) -> list[Entry]:
        """The entries of a record, from a small cache: a bulk load writes many equal records."""
        known = self._decoded.get(record)
        if known is None:
            known = tuple(unpack_record(record))
            if len(self._decoded) >= _DECODED:
                self._decoded.clear()
            self._decoded[record] = known
        return list(known)

    def keep(self, key: bytes, old: bytes | None, record: bytes | None) -> None:
        if record is None:
            if old is not None:
                self.deletes.append(key)
                self.gone.append(old)
        elif record != old:
            self.puts.append((key, record))
            if old is not None:
                self.put_olds.add((key,), (old,))
