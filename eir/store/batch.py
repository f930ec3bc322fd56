"""A load as the store applies it: a :class:`Batch` of :class:`Group` s, each the sorted, unique
keys of one table, list and source with their values. The loader (:mod:`eir.store.loader`) and
the list distribution (:mod:`eir.publish.update`) build one; :func:`eir.store.apply.apply_batch`
applies it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING

from eir.model import ListName
from eir.store.records import (
    NO_DIGIT,
    Table,
    entry_code,
    entry_prefix,
    pack_entry,
    pack_tail,
    with_times,
)

if TYPE_CHECKING:  # numpy only where a list is read or replaced, not for every CLI command
    import numpy as np
    import numpy.typing as npt

    from eir.store.api import HandsetChange
    from eir.store.entries import Entries


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
    #: one octet per key: the check digit (0 to 9) its IMEI was written with in the list
    #: file, or :data:`~eir.store.records.NO_DIGIT` (14 digits, an IMEISV); None: all NO_DIGIT.
    #: The entry keeps it (``eir export`` writes the IMEI as it was loaded).
    digits: bytes | None = None
    #: the whole values, packed by the bulk CSV path (:mod:`eir.store.entries`)
    entries: Entries | None = None
    #: where each key was read, (file index, line), for a group of pairs from list files:
    #: what a refusal of ``pairs.max_per_imei`` names; None: not from files
    lines: builtins.list[tuple[int, int]] | None = None
    #: (effective, expires) per key, seconds since the epoch, 0: none (see
    #: :class:`~eir.model.Entry`); None: no key has times. A key whose two are 0 keeps the
    #: entry form without times.
    times: builtins.list[tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        if self.digits is not None and self.digits.count(NO_DIGIT) == len(self.digits):
            self.digits = None  # all without a check digit: the plain form, today's code path
        if self.times is not None and not any(e or x for e, x in self.times):
            self.times = None  # no key has times: the plain form

    def values(self, now: int) -> Iterator[bytes]:
        if self.times is not None:
            return map(with_times, self._values(now), *zip(*self.times, strict=True))
        return self._values(now)

    def _values(self, now: int) -> Iterator[bytes]:
        if self.entries is not None:
            if self.digits is None or self.entries.packed.coded:
                return self.entries.values(now)
            return self._recoded(self.entries.values(now), range(len(self.keys)))
        if self.digits is not None:
            return self._values_with_digits(now)
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
        values = self._values_at(indices, now)
        times = self.times
        if times is None:
            return values
        return [with_times(v, *times[i]) for v, i in zip(values, indices, strict=True)]

    def _values_at(self, indices: Sequence[int], now: int) -> builtins.list[bytes]:
        if self.entries is not None:
            values = self.entries.values_at(indices, now)
            if self.digits is None or self.entries.packed.coded:
                return values
            return list(self._recoded(iter(values), indices))
        if self.digits is not None:
            return self._values_with_digits_at(indices, now)
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

    def _recoded(self, values: Iterator[bytes], indices: Sequence[int]) -> Iterator[bytes]:
        """Packed entries whose code octet is made that of their key's check digit (the
        digits were set after the entries were packed)."""
        digits = self.digits or b""
        codes = [entry_code(self.list, d) for d in range(NO_DIGIT + 1)]
        return (codes[digits[i]] + value[1:] for i, value in zip(indices, values, strict=True))

    def prefixes(self, now: int) -> builtins.list[bytes]:
        """The entry prefix (:func:`~eir.store.records.entry_prefix`) for each check digit,
        indexed by the digit (:data:`~eir.store.records.NO_DIGIT` last)."""
        return [entry_prefix(self.list, self.source, now, d) for d in range(NO_DIGIT + 1)]

    def _values_with_digits(self, now: int) -> Iterator[bytes]:
        """:meth:`values` when keys carry check digits: a prefix per digit, picked in C."""
        digits = self.digits or b""
        prefixes = self.prefixes(now)
        if self.tails is not None:
            buffer, starts, ends = self.tails
            return map(
                bytes.__add__,
                map(prefixes.__getitem__, digits),
                map(buffer.__getitem__, map(slice, starts, ends)),
            )
        if self.fields is None:
            empty = pack_tail(b"", "", "")
            return map([p + empty for p in prefixes].__getitem__, digits)
        return (
            pack_tail(prefixes[d], r, ref)
            if not added
            else pack_entry(self.list, self.source, r, ref, added, d)
            for d, (r, ref, added) in zip(digits, self.fields, strict=True)
        )

    def _values_with_digits_at(self, indices: Sequence[int], now: int) -> builtins.list[bytes]:
        digits = self.digits or b""
        prefixes = self.prefixes(now)
        if self.tails is not None:
            buffer, starts, ends = self.tails
            return [prefixes[digits[i]] + buffer[starts[i] : ends[i]] for i in indices]
        if self.fields is None:
            empty = pack_tail(b"", "", "")
            whole = [p + empty for p in prefixes]
            return [whole[digits[i]] for i in indices]
        fields = self.fields
        return [
            pack_tail(prefixes[digits[i]], r, ref)
            if not added
            else pack_entry(self.list, self.source, r, ref, added, digits[i])
            for i in indices
            for r, ref, added in (fields[i],)
        ]


@dataclass(slots=True)
class Batch:
    groups: list[Group] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    rows: int = 0  # data rows read: valid, invalid and duplicate
    invalid: int = 0
    duplicates: int = 0
    warnings: int = 0  # rows loaded with a warning, and headers with ignored columns
    #: a block or unblock by hand: who, why, which IMEIs (kept in the load history)
    change: HandsetChange | None = None
