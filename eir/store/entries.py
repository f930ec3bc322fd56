"""Whole stored entries of a bulk group, packed back to back in one buffer by numpy.

The bulk CSV path (:mod:`eir.store.bulk`) knows each row's list, source, reason, reference
and ``added`` time as spans of the file's bytes. :func:`pack_entries` writes every kept row's
entry (see :mod:`eir.store.records`) in key order into one buffer with a few vectorised passes;
the store then takes each value as one slice of it (:meth:`Entries.values`). Entries without an
``added`` time get the load's time, written into the buffer when the values are taken.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

#: rows copied per numpy call (the gathered windows of a chunk are a temporary)
_CHUNK = 1 << 20


@dataclass(slots=True, eq=False)
class Entries:
    """The entries of one group's keys, in key order: entry ``i`` is
    ``buffer[offsets[i]:offsets[i + 1]]``; ``head`` is the octets before the reason (list code,
    added, source: the same size for a whole group); ``added`` each entry's added time, 0 for
    those that get the load's time; ``unstamped`` the offsets of their ``added`` fields."""

    buffer: U8
    offsets: I64
    head: int
    added: npt.NDArray[np.uint32]
    unstamped: I64

    def _stamped(self, now: int) -> bytes:
        if len(self.unstamped):
            for octet, value in enumerate(now.to_bytes(4, "big")):
                self.buffer[self.unstamped + octet] = value
        return self.buffer.tobytes()

    def values(self, now: int) -> Iterator[bytes]:
        data = self._stamped(now)
        offsets = self.offsets.tolist()
        return (data[a:b] for a, b in pairwise(offsets))

    def values_at(self, indices: Sequence[int], now: int) -> list[bytes]:
        data = self._stamped(now)
        offsets = self.offsets
        return [data[offsets[i] : offsets[i + 1]] for i in indices]

    def tails(self) -> list[bytes]:
        """Each entry's packed reason and reference (what a list update carries)."""
        data = self.buffer.tobytes()
        offsets = self.offsets.tolist()
        head = self.head
        return [data[a + head : b] for a, b in pairwise(offsets)]

    def added_times(self) -> array[int] | None:
        """Each entry's own ``added`` time (0: the load's), or None when none has one."""
        if not self.added.any():
            return None
        return array("I", self.added.tobytes())


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
    for first in range(0, len(into), _CHUNK):
        part = slice(first, first + _CHUNK)
        target[into[part]] = origin[at[part]]


@dataclass(slots=True)
class Spans:
    """Where each row's reason and reference lie in the file (``text``, padded), in the order
    the entries are written."""

    text: U8
    reason_at: I64
    reason_size: I64
    reference_at: I64
    reference_size: I64


def pack_entries(head: bytes, stamps: npt.NDArray[np.uint32], spans: Spans) -> Entries:
    """The entries of one group: ``head`` is its list code, four octets of added time and its
    packed source; ``stamps`` each row's added time (0: the load's, written later)."""
    rows = len(stamps)
    size = len(head) + 2 + spans.reason_size + spans.reference_size
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(size, out=offsets[1:])
    widest = int(max(spans.reason_size.max(initial=0), spans.reference_size.max(initial=0)))
    width = 1 << max(3, widest.bit_length())
    out = np.zeros(int(offsets[-1]) + width, dtype=np.uint8)
    starts = offsets[:-1]
    reason = starts + len(head) + 1
    reference = reason + spans.reason_size + 1
    into = np.empty(2 * rows, dtype=np.int64)  # both fields of each row, in order
    into[0::2], into[1::2] = reason, reference
    at = np.empty(2 * rows, dtype=np.int64)
    at[0::2], at[1::2] = spans.reason_at, spans.reference_at
    copy_spans(out, into, spans.text, at, width)
    for index, octet in enumerate(head):  # after the spans: their spill is overwritten here
        out[starts + index] = octet
    for octet in range(4):
        out[starts + 1 + octet] = (stamps >> np.uint32(8 * (3 - octet))).astype(np.uint8)
    out[reason - 1] = spans.reason_size
    out[reference - 1] = spans.reference_size
    unstamped = starts[stamps == 0] + 1
    return Entries(out[: int(offsets[-1])], offsets, len(head), stamps, unstamped)
