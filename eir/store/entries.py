"""Whole stored entries of a bulk CSV, packed back to back in one buffer by numpy.

The bulk CSV path (:mod:`eir.store.bulk`) knows each row's list, source, reason, reference
and ``added`` time as spans of the file's bytes. :func:`pack_entries` writes every kept row's
entry (see :mod:`eir.store.records`) in key order into one buffer (:class:`Packed`) with a few
vectorised passes; each group's :class:`Entries` are its rows of that buffer, and the store
takes each value as one slice of it. Entries without an ``added`` time get the load's time,
written into the buffer when the values are taken. Laid out in key order, the values of
several groups written as one sorted append (:mod:`eir.store.interleave`) are read in order.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]

#: rows packed at a time (their arrays stay in the cache)
PACK_ROWS = 1 << 19


@dataclass(slots=True, eq=False)
class Packed:
    """The entries of a bulk CSV's kept rows in key order: entry ``i`` is
    ``buffer[offsets[i]:offsets[i + 1]]``, of key ``numbers[i]``; ``added`` is each one's added
    time (0: the load's), ``unstamped`` the offsets of the ``added`` fields that wait for it."""

    buffer: U8
    offsets: I64
    numbers: I64
    added: U32
    unstamped: I64
    #: the keys as ASCII, in key order (the groups' keys are the same objects)
    keys: list[bytes] = field(default_factory=list)
    #: whether each entry's code octet is its own (the form its IMEI was written in)
    coded: bool = False
    _data: tuple[int, bytes] | None = None

    def data(self, now: int) -> bytes:
        """The buffer with the load's time ``now`` in place."""
        if self._data is None or self._data[0] != now:
            if len(self.unstamped):
                for octet, value in enumerate(now.to_bytes(4, "big")):
                    self.buffer[self.unstamped + octet] = value
            self._data = (now, self.buffer.tobytes())
        return self._data[1]

    def values(self, now: int) -> Iterator[bytes]:
        """Every entry, in key order."""
        data = self.data(now)
        return (data[a:b] for a, b in pairwise(self.offsets.tolist()))

    @property
    def count(self) -> int:
        return len(self.numbers)


@dataclass(slots=True, eq=False)
class Entries:
    """The entries of one group: its ``rows`` of a :class:`Packed` buffer (ascending, in key
    order); ``head`` is the octets of each before its reason (list code, added, source)."""

    packed: Packed
    rows: I64
    head: int

    def _spans(self, rows: I64) -> tuple[list[int], list[int]]:
        offsets = self.packed.offsets
        return offsets[rows].tolist(), offsets[rows + 1].tolist()

    def values(self, now: int) -> Iterator[bytes]:
        data = self.packed.data(now)
        starts, ends = self._spans(self.rows)
        return (data[a:b] for a, b in zip(starts, ends, strict=True))

    def values_at(self, indices: Sequence[int], now: int) -> list[bytes]:
        data = self.packed.data(now)
        starts, ends = self._spans(self.rows[np.asarray(indices, dtype=np.int64)])
        return [data[a:b] for a, b in zip(starts, ends, strict=True)]

    def tails(self) -> list[bytes]:
        """Each entry's packed reason and reference (what a list update carries)."""
        data = self.packed.buffer.tobytes()
        starts, ends = self._spans(self.rows)
        head = self.head
        return [data[a + head : b] for a, b in zip(starts, ends, strict=True)]

    def added_times(self) -> array[int] | None:
        """Each entry's own ``added`` time (0: the load's), or None when none has one."""
        added = self.packed.added[self.rows]
        return array("I", added.tobytes()) if added.any() else None


def windows(buffer: U8, width: int) -> npt.NDArray[np.void]:
    """Every ``width`` octets of ``buffer`` from each offset on, as one element each (a view:
    element ``i`` overlaps element ``i + 1``). A gather of it copies spans of up to ``width``."""
    return np.ndarray(
        (len(buffer) - width + 1,), dtype=np.dtype((np.void, width)), buffer=buffer, strides=(1,)
    )


def copy_spans(out: U8, into: I64, source: U8, at: I64, width: int) -> None:
    """Copy ``width`` octets from ``source[at[i]:]`` to ``out[into[i]:]`` for each ``i`` in
    order: ``into`` ascending, each span is whole once the later ones have spilled over
    what follows it (the caller writes what lies between spans afterwards). ``out`` and
    ``source`` have ``width`` octets of room past their last span."""
    target, origin = windows(out, width), windows(source, width)
    for first in range(0, len(into), PACK_ROWS):
        part = slice(first, first + PACK_ROWS)
        target[into[part]] = origin[at[part]]


@dataclass(slots=True)
class Rows:
    """The kept rows of a bulk CSV in key order: key, group, added time, and where their
    reason and reference lie in the file (``text``, padded)."""

    numbers: I64
    group: I64
    added: U32
    text: U8
    reason_at: I64
    reason_size: I64
    reference_at: I64
    reference_size: I64


def pack_entries(heads: list[bytes], rows: Rows, codes: U8 | None = None) -> Packed:
    """The entries of ``rows``; ``heads[g]`` is group ``g``'s list code, four octets of added
    time (overwritten) and packed source; ``codes``, when given, each row's own code octet
    (the form its IMEI was written in) over its head's. Written a chunk of rows at a time (in
    order: a chunk's spill is overwritten by the next), so that each chunk's arrays stay in
    the cache."""
    count = len(rows.numbers)
    head_sizes = np.array([len(h) for h in heads], dtype=np.int64)
    size = head_sizes[rows.group] + 2 + rows.reason_size + rows.reference_size
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(size, out=offsets[1:])
    widest = int(max(rows.reason_size.max(initial=0), rows.reference_size.max(initial=0)))
    width = 1 << max(3, widest.bit_length())
    out = np.zeros(int(offsets[-1]) + width, dtype=np.uint8)
    for first in range(0, count, PACK_ROWS):
        _pack_chunk(out, offsets, heads, rows, slice(first, first + PACK_ROWS), width)
    if codes is not None:
        out[offsets[:-1]] = codes
    unstamped = offsets[:-1][rows.added == 0] + 1
    packed = Packed(out[: int(offsets[-1])], offsets, rows.numbers, rows.added, unstamped)
    packed.coded = codes is not None
    return packed


def _pack_chunk(
    out: U8, offsets: I64, heads: list[bytes], rows: Rows, chunk: slice, width: int
) -> None:
    starts = offsets[:-1][chunk]
    group, added = rows.group[chunk], rows.added[chunk]
    reason_size, reference_size = rows.reason_size[chunk], rows.reference_size[chunk]
    head_sizes = np.array([len(h) for h in heads], dtype=np.int64)
    reason = starts + head_sizes[group] + 1
    reference = reason + reason_size + 1
    into = np.empty(2 * len(starts), dtype=np.int64)  # both fields of each row, in order
    into[0::2], into[1::2] = reason, reference
    at = np.empty(2 * len(starts), dtype=np.int64)
    at[0::2], at[1::2] = rows.reason_at[chunk], rows.reference_at[chunk]
    copy_spans(out, into, rows.text, at, width)
    _write_heads(out, starts, heads, group)  # after the spans: over their spill
    for octet in range(4):
        out[starts + 1 + octet] = (added >> np.uint32(8 * (3 - octet))).astype(np.uint8)
    out[reason - 1] = reason_size
    out[reference - 1] = reference_size


def _write_heads(out: U8, starts: I64, heads: list[bytes], group: I64) -> None:
    """Each row's group head at its start, heads of one size at a time (exactly as wide as
    they are: nothing spills)."""
    sizes = np.array([len(h) for h in heads], dtype=np.int64)
    for size in sorted(set(sizes.tolist())):
        chosen = [g for g, h in enumerate(heads) if len(h) == size]
        table = np.frombuffer(b"".join(heads[g] for g in chosen), dtype=np.dtype((np.void, size)))
        local = np.zeros(len(heads), dtype=np.int64)
        local[chosen] = np.arange(len(chosen))
        rows = slice(None) if len(chosen) == len(heads) else sizes[group] == size
        windows(out, size)[starts[rows]] = table[local[group[rows]]]
