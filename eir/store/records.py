"""The store's on-disk layout: tables, keys and the packed entry records.

Tables (LMDB named databases):

* ``imei``: key = 14-digit TAC+SNR (ASCII), value = record
* ``range``: key = first + last 14-digit IMEI (28 ASCII digits), value = record
* ``pair``: key = 14-digit IMEI + IMSI digits, value = record
* ``class``: key = 14-digit IMEI, value = record: one entry per class eir learnt about the IMEI
  (:mod:`eir.store.classes`: list grey, unused; source the class, reason the rule that found
  it, reference its figures as compact JSON, added when it was found). Written only by the
  aggregator's list updates, never by a list file; read by the decision at the anomalies' level
* ``meta``: generations, per-list/source counters, load history (JSON): one record per
  committed change, its version and audit record (:class:`~eir.store.api.HistoryRecord`)
* ``case``: theft cases (``eir case``); ``change``: each version's changes (``eir diff``,
  ``eir rollback``)

A record is one or more entries back to back (one IMEI can be on several lists from several
sources). An entry is::

    code (1) | added (4, big-endian seconds) | source (1 + n) | reason (1 + n) |
    reference (1 + n)          n = length in UTF-8 octets, at most 255 each

The code octet names the list and the form the IMEI was loaded in: ``W`` ``G`` ``B`` for an
IMEI written without its check digit (14 digits, an IMEISV), ``0x80 | list << 4 | d`` for one
written with check digit ``d`` (list 0 white, 1 grey, 2 black; ``d`` kept even when it is not
the Luhn digit), so ``eir export`` writes it back as it was loaded.

An entry with times (``effective`` or ``expires`` not 0, :class:`~eir.model.Entry`) has the
code ``0xC0 | list << 4 | d`` (``d`` 10: no check digit) and 8 more octets at its end::

    ... | reference (1 + n) | effective (4) | expires (4)      big-endian seconds, 0: none

so an entry without times keeps the form (and the digest) it always had.

Keys sort as the IMEIs they hold, so a sorted load is an LMDB append.
"""

from __future__ import annotations

import enum
import struct
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from eir.errors import StoreError
from eir.model import Entry, Level, ListName, Match

_ADDED = struct.Struct(">I")
_TIMES = struct.Struct(">II")
#: the octets an entry with times has after its reference
TIMES_SIZE = _TIMES.size
#: the first code octet of an entry with times
TIMED = 0xC0
MAX_FIELD = 255
#: in :attr:`~eir.store.batch.Group.digits`: the IMEI was written without a check digit
NO_DIGIT = 10


class Table(enum.StrEnum):
    IMEI = "imei"
    RANGE = "range"
    PAIR = "pair"
    CLASS = "class"


#: the tables a list file loads (every one but ``class``)
LIST_TABLES = (Table.IMEI, Table.RANGE, Table.PAIR)
_LEVEL_OF = {
    Table.IMEI: Level.IMEI,
    Table.RANGE: Level.RANGE,
    Table.PAIR: Level.PAIR,
    Table.CLASS: Level.CLASS,
}
META = "meta"
#: theft cases (:mod:`eir.store.cases`): key = the case's reference, value = its JSON record
CASES = "case"
#: each version's changes (:mod:`eir.store.versions`): what ``eir diff`` and ``eir rollback``
#: read; key = version (8, big-endian) | table name | NUL | entry key, value = the records
#: before and after (:func:`eir.store.versions.pack_change`)
CHANGES = "change"


_LENGTH = [bytes((n,)) for n in range(MAX_FIELD + 1)]

_LISTS = (ListName.WHITE, ListName.GREY, ListName.BLACK)
#: the list of each valid code octet (plain, with a check digit, with times)
LIST_OF_CODE: dict[int, ListName] = (
    {name.code[0]: name for name in _LISTS}
    | {0x80 | index << 4 | digit: name for index, name in enumerate(_LISTS) for digit in range(10)}
    | {TIMED | index << 4 | digit: name for index, name in enumerate(_LISTS) for digit in range(11)}
)
#: the check digit of each code octet that carries one
DIGIT_OF_CODE: dict[int, int] = {
    base | index << 4 | digit: digit
    for base in (0x80, TIMED)
    for index in range(len(_LISTS))
    for digit in range(10)
}
#: the code octets of entries with times
TIMED_CODES = frozenset(code for code in LIST_OF_CODE if code >= TIMED)
#: each code octet as the plain code of its list (``translate`` table; other octets as is):
#: what a (list, source) test compares, whatever form the IMEI was loaded in
PLAIN_CODE = bytes(
    LIST_OF_CODE[octet].code[0] if octet in LIST_OF_CODE else octet for octet in range(256)
)


def _codes() -> dict[tuple[ListName, int | None], bytes]:
    """The code octet of each (list, check digit); None and NO_DIGIT: the plain code."""
    out: dict[tuple[ListName, int | None], bytes] = {}
    for index, name in enumerate(_LISTS):
        out[name, None] = out[name, NO_DIGIT] = name.code
        for digit in range(10):
            out[name, digit] = bytes((0x80 | index << 4 | digit,))
    return out


def _timed_codes() -> dict[tuple[ListName, int | None], bytes]:
    """The code octet of each (list, check digit) of an entry with times."""
    out: dict[tuple[ListName, int | None], bytes] = {}
    for index, name in enumerate(_LISTS):
        out[name, None] = bytes((TIMED | index << 4 | NO_DIGIT,))
        for digit in range(NO_DIGIT + 1):
            out[name, digit] = bytes((TIMED | index << 4 | digit,))
    return out


_CODE = _codes()
_TIMED_CODE = _timed_codes()
#: each untimed code octet as the code of the same list and form with times (``translate``
#: table; a timed octet stays as is)
TIMED_OF_CODE = bytes(
    _TIMED_CODE[LIST_OF_CODE[octet], DIGIT_OF_CODE.get(octet)][0]
    if octet in LIST_OF_CODE and octet < TIMED
    else octet
    for octet in range(256)
)


def entry_code(list_name: ListName, digit: int | None = None, *, timed: bool = False) -> bytes:
    """The code octet of an entry of ``list_name`` whose IMEI was written with check digit
    ``digit`` (None or :data:`NO_DIGIT`: without one); ``timed``: of an entry with times."""
    return (_TIMED_CODE if timed else _CODE)[list_name, digit]


def pack_times(effective: int, expires: int) -> bytes:
    """The 8 octets an entry with times ends with."""
    return _TIMES.pack(effective, expires)


def with_times(value: bytes, effective: int, expires: int) -> bytes:
    """The packed entry ``value`` (without times) given ``effective`` and ``expires``: itself
    when both are 0 (the canonical form of an entry without times)."""
    if not (effective or expires):
        return value
    return TIMED_OF_CODE[value[0]].to_bytes() + value[1:] + _TIMES.pack(effective, expires)


def _field(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > MAX_FIELD:
        raise StoreError(f"{text[:20]!r}...: longer than {MAX_FIELD} octets")
    return _LENGTH[len(raw)] + raw


def entry_prefix(list_name: ListName, source: str, added: int, digit: int | None = None) -> bytes:
    """The part of an entry before its reason: the same for a whole load of one source (and
    one check digit)."""
    return _CODE[list_name, digit] + _ADDED.pack(added) + _field(source)


def pack_entry(
    list_name: ListName,
    source: str,
    reason: str,
    reference: str,
    added: int,
    digit: int | None = None,
    effective: int = 0,
    expires: int = 0,
) -> bytes:
    value = entry_prefix(list_name, source, added, digit) + _field(reason) + _field(reference)
    return with_times(value, effective, expires) if effective or expires else value


def pack_tail(prefix: bytes, reason: str, reference: str) -> bytes:
    """An entry from its prefix (see :func:`entry_prefix`), reason and reference."""
    return prefix + _field(reason) + _field(reference)


def unpack_record(record: bytes) -> list[Entry]:
    """Entries of a record; a damaged record raises StoreError (never a silent half answer)."""
    try:  # one entry without times, the common case, read straight from its header
        source_end = 6 + record[5]
        reason_end = source_end + 1 + record[source_end]
        code = record[0]
        if reason_end + 1 + record[reason_end] == len(record) and code < TIMED:
            return [
                Entry(
                    LIST_OF_CODE[code],
                    record[6:source_end].decode(),
                    record[source_end + 1 : reason_end].decode(),
                    record[reason_end + 1 :].decode(),
                    int.from_bytes(record[1:5], "big"),
                    DIGIT_OF_CODE.get(code),
                )
            ]
    except (IndexError, KeyError, UnicodeDecodeError):
        raise StoreError(f"damaged record {record[:40].hex()}") from None
    out: list[Entry] = []
    pos, end = 0, len(record)
    try:
        while pos < end:
            code = record[pos]
            list_name = LIST_OF_CODE[code]
            (added,) = _ADDED.unpack_from(record, pos + 1)
            pos += 5
            fields: list[str] = []
            for _ in range(3):
                size = record[pos]
                raw = record[pos + 1 : pos + 1 + size]
                if len(raw) != size:
                    raise IndexError
                fields.append(raw.decode())
                pos += 1 + size
            effective = expires = 0
            if code >= TIMED:
                if pos + TIMES_SIZE > end:
                    raise IndexError
                effective, expires = _TIMES.unpack_from(record, pos)
                pos += TIMES_SIZE
                if not (effective or expires):
                    raise KeyError  # the timed form of an entry without times: not canonical
            out.append(
                Entry(
                    list_name,
                    fields[0],
                    fields[1],
                    fields[2],
                    added,
                    DIGIT_OF_CODE.get(code),
                    effective,
                    expires,
                )
            )
    except (IndexError, KeyError, struct.error, UnicodeDecodeError):
        raise StoreError(f"damaged record {record[:40].hex()}") from None
    return out


def pack_record(entries: Iterable[Entry]) -> bytes:
    return b"".join(
        pack_entry(
            e.list, e.source, e.reason, e.reference, e.added, e.digit, e.effective, e.expires
        )
        for e in entries
    )


def canonical_record(record: bytes) -> bytes:
    """The record without its ``added`` times, entries sorted: what the content digest covers.

    Two stores that hold the same entries have the same canonical records, whenever the
    entries were added. The code octet is kept: it holds the form the IMEI was loaded in; so
    are an entry's ``effective`` and ``expires``.
    """
    if is_single_entry(record):
        return record[:1] + record[5:]
    return b"".join(
        sorted(
            pack_entry(e.list, e.source, e.reason, e.reference, 0, e.digit, e.effective, e.expires)
            for e in unpack_record(record)
        )
    )


def is_single_entry(record: bytes) -> bool:
    """Whether a record holds exactly one well-formed entry, read from its length octets."""
    if len(record) < 8 or record[0] not in LIST_OF_CODE:
        return False
    source_end = 6 + record[5]
    if source_end >= len(record):
        return False
    reason_end = source_end + 1 + record[source_end]
    times = TIMES_SIZE if record[0] >= TIMED else 0
    return reason_end < len(record) and reason_end + 1 + record[reason_end] + times == len(record)


def split_key(table: Table, key: bytes) -> tuple[str, str | None, str | None]:
    """(imei, last, imsi) of a table key."""
    text = key.decode()
    if table is Table.RANGE:
        return text[:14], text[14:], None
    if table is Table.PAIR:
        return text[:14], None, text[14:]
    return text, None, None


@lru_cache(maxsize=1 << 16)
def entries_of(record: bytes) -> tuple[Entry, ...]:
    """The entries of a record, cached: records of one bulk load are mostly the same bytes."""
    return tuple(unpack_record(record))


def matches_of(table: Table, key: bytes, record: bytes) -> tuple[Match, ...]:
    entries = entries_of(record)
    if table is Table.IMEI:  # the hot case: no key to split
        imei = key.decode()
        if len(entries) == 1:
            return (Match(Level.IMEI, imei, entries[0]),)
        return tuple(Match(Level.IMEI, imei, e) for e in entries)
    imei, last, imsi = split_key(table, key)
    level = _LEVEL_OF[table]
    return tuple(Match(level, imei, e, last=last, imsi=imsi) for e in entries)


def class_index(items: Iterable[tuple[bytes, bytes]]) -> dict[str, tuple[Match, ...]]:
    """The ``class`` table in memory: each IMEI's classes, so a lookup is one dict probe.
    Built once per change of the table, like :class:`RangeIndex`."""
    return {bytes(key).decode(): matches_of(Table.CLASS, key, record) for key, record in items}


@dataclass(frozen=True, slots=True)
class _Segment:
    start: int
    matches: tuple[Match, ...]  # the narrowest ranges covering the segment (ties all kept)


class RangeIndex:
    """All ranges cut into disjoint segments, each knowing its narrowest covering ranges.

    Built once per change of the range table; a lookup is one binary search.
    """

    def __init__(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        spans: list[tuple[int, int, tuple[Match, ...]]] = []
        for key, record in items:
            matches = matches_of(Table.RANGE, key, record)
            spans.append((int(key[:14]), int(key[14:]), matches))
        self.count = len(spans)
        bounds = sorted({s for s, _, _ in spans} | {e + 1 for _, e, _ in spans})
        starts: list[int] = []
        segments: list[_Segment] = []
        spans.sort(key=lambda span: span[0])
        active: list[tuple[int, int, tuple[Match, ...]]] = []
        next_span = 0
        for point in bounds[:-1]:
            active = [span for span in active if span[1] >= point]
            while next_span < len(spans) and spans[next_span][0] <= point:
                active.append(spans[next_span])
                next_span += 1
            if not active:
                continue
            width = min(end - start for start, end, _ in active)
            best = tuple(m for start, end, ms in active if end - start == width for m in ms)
            starts.append(point)
            segments.append(_Segment(point, best))
        self._starts = starts
        self._segments = segments
        self._limit = bounds[-1] if bounds else 0  # first IMEI past every range

    def lookup(self, imei14: str) -> tuple[Match, ...]:
        if not self._starts:
            return ()
        value = int(imei14)
        index = bisect_right(self._starts, value) - 1
        if index < 0 or value >= self._limit:
            return ()
        segment = self._segments[index]
        # Gaps between ranges have no segment: the point may lie past the one found.
        first = segment.matches[0]
        if first.last is not None and int(first.key) <= value <= int(first.last):
            return segment.matches
        return ()
