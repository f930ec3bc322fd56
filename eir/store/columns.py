"""A CSV list file's columns read in numpy: where each field lies, and each column's check
applied to the whole column at once (the rules of :mod:`eir.store.fields`).

:func:`read_columns` takes a CSV whose columns are among ``imei, reason, reference, source,
list, added`` and ignored ones, in any order, with any one-octet delimiter, and returns each
row's key, check digit, group (list and source) and ``added`` time, and where its reason and
reference lie; or None when anything needs the row path's care (it names each bad row): quotes,
control characters, blank or comment lines, an IMEI that is not 14 to 16 plain digits or has a
wrong check digit, a 14-digit IMEI whose Reporting Body Identifier is not allocated, a field
with a space or non-ASCII at its edge or longer than the store holds, a list or source the row
path would refuse, an ``added`` that is not epoch seconds or ``YYYY-MM-DDTHH:MM:SSZ``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from eir.errors import IdentityError
from eir.model import ListName
from eir.reporting_body import ALLOCATED
from eir.store.dates import DateReader
from eir.store.fields import (
    CONTROL_OCTETS,
    IMEI_WIDTHS,
    check_source,
    parse_added,
    parse_list,
)
from eir.store.formats import FileShape, LoadOptions
from eir.store.records import MAX_FIELD, NO_DIGIT

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]

#: the columns the bulk path reads ("" is an ignored column)
BULK_COLUMNS = frozenset(["imei", "reason", "reference", "source", "list", "added", ""])
#: octets of room past the text, for fixed-width gathers near its end
PAD = 256
#: more distinct (list, source) pairs than this: the row path
MAX_GROUPS = 256
#: octets of a file's rows read at a time (whole lines): the arrays of a part stay in the
#: processor's cache, which makes each pass over them several times faster than over the file
CHUNK = 32 << 20
#: parts read at once (threads)
READERS = 2
_SOURCE_MAX = 64
#: the control characters are the octets below this one, and DEL
_PRINTABLE = min(set(range(256)) - set(CONTROL_OCTETS))
_DEL = bytes([max(CONTROL_OCTETS)])
#: an ``added`` cell longer than this goes to the row path
_ADDED_MAX = 40
#: more distinct ``added`` values than this are read in numpy (epoch seconds, ISO with Z)
_DISTINCT_TIMES = 4096
_ISO = b"0000-00-00T00:00:00Z"
_ISO_DIGITS = np.array([c == ord("0") for c in _ISO])
_ISO_MARKS = np.frombuffer(_ISO, dtype=np.uint8)
_EPOCH_WIDTH = 10  # 9999999999 is past what an entry holds (4 octets): the row path decides
#: Luhn look-ups by ASCII octet: a digit's value, and its value doubled (digits summed)
PLAIN_DIGIT = np.zeros(256, dtype=np.uint8)
PLAIN_DIGIT[48:58] = np.arange(10)
DOUBLED_DIGIT = np.zeros(256, dtype=np.uint8)
DOUBLED_DIGIT[48:58] = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
#: by the first two digits of a 14-digit IMEI: whether they are an allocated Reporting Body
#: Identifier (else the row path warns of a lost leading 0)
ALLOCATED_RBI = np.zeros(100, dtype=bool)
ALLOCATED_RBI[[int(r) for r in ALLOCATED]] = True


@dataclass(slots=True)
class Columns:
    """Each row of a CSV, read in bulk: ``keys`` (14 digits as integers), ``digits`` (the
    check digit as written, or NO_DIGIT), ``group`` (an index into ``groups``), ``stamps``
    (added, 0: none), and the spans of reason and reference in ``text`` (the body, padded)."""

    keys: I64
    digits: U8
    group: I64
    groups: list[tuple[ListName, str]]
    stamps: U32
    text: U8
    reason_at: I64
    reason_size: I64
    reference_at: I64
    reference_size: I64


@dataclass(slots=True)
class _Fields:
    """The body's octets (padded) and where each row's fields lie: ``bounds[:, c]`` is the
    offset of the delimiter before column ``c`` (or of the line end before the row), and
    ``bounds[:, -1]`` of the row's line end."""

    text: U8
    bounds: I64  # (rows, columns + 1)

    @property
    def rows(self) -> int:
        return len(self.bounds)

    def at(self, column: int) -> tuple[I64, I64]:
        """Each row's field ``column``: where it starts, and its size."""
        before, after = self.bounds[:, column], self.bounds[:, column + 1]
        return before + 1, after - before - 1


def plain_body(body: bytes, delimiter: bytes) -> bytes | None:
    """The body with LF line ends, when nothing in it needs the row path's care: no quotes,
    CR but before LF, DEL or text that is not UTF-8 (:func:`_fields` looks for the other
    control characters and blank lines)."""
    if b'"' in body:
        return None
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n")
        if b"\r" in body:
            return None
    if not body.endswith(b"\n"):
        body += b"\n"
    if _DEL in body:
        return None  # the other control characters and blank lines: see _fields
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError:
            return None
    return body


def _fields(text: U8, first: int, end: int, delimiter: int, count: int) -> _Fields | None:
    """Each line's fields in ``text[first:end]`` (whole lines); None when a line is a comment
    or blank, has another number of fields or a control character."""
    part = text[first:end]
    ends = np.flatnonzero(part == 10) + first
    rows = len(ends)
    starts = np.empty(rows, dtype=np.int64)
    starts[0] = first
    starts[1:] = ends[:-1] + 1
    if np.any(text[starts] == ord("#")) or np.any(starts == ends):
        return None  # a comment or a blank line
    cuts = np.flatnonzero(part == delimiter) + first
    if len(cuts) != rows * (count - 1):
        return None
    controls = int(np.count_nonzero(part < _PRINTABLE))  # line ends, a tab delimiter
    if controls != rows + (len(cuts) if delimiter < _PRINTABLE else 0):
        return None
    bounds = np.empty((rows, count + 1), dtype=np.int64)
    bounds[:, 0] = starts - 1
    bounds[:, 1:count] = cuts.reshape(rows, count - 1)
    bounds[:, count] = ends
    if count > 1 and (np.any(bounds[:, 1] < starts) or np.any(bounds[:, count - 1] >= ends)):
        return None  # sorted cuts, each line's first and last inside it: all are in place
    return _Fields(text, bounds)


def _parts(body: bytes) -> list[tuple[int, int]]:
    """The body cut into whole lines of about :data:`CHUNK` octets: (first, end) of each."""
    out, first = [], 0
    while first < len(body):
        end = body.find(b"\n", min(first + CHUNK, len(body)) - 1) + 1
        out.append((first, end))
        first = end
    return out


def _gather(text: U8, starts: I64, width: int) -> U8:
    """``width`` octets from each start on, as rows (what follows a field is garbage)."""
    view = np.lib.stride_tricks.as_strided(text, (len(text) - width + 1, width), (1, 1))
    gathered: U8 = view[starts]
    return gathered


def _imeis(fields: _Fields, column: int) -> tuple[I64, U8] | None:
    """Keys and check digits of the IMEI column: 14 to 16 plain digits, a right check digit
    (15), an allocated Reporting Body Identifier (14); else None."""
    starts, width = fields.at(column)
    if np.any((width < IMEI_WIDTHS[0]) | (width > IMEI_WIDTHS[-1])):
        return None
    octets = _gather(fields.text, starts, 16)
    inside = np.arange(16) < width[:, None]
    if np.any(((octets - np.uint8(48)) > 9) & inside):
        return None
    keys = np.zeros(len(starts), dtype=np.int64)
    for index in range(14):
        keys *= 10
        keys += octets[:, index]
    keys -= 48 * 11111111111111
    fifteen = width == 15
    digits = np.where(fifteen, octets[:, 14] - np.uint8(48), np.uint8(NO_DIGIT)).astype(np.uint8)
    if np.any(fifteen):
        table = octets[fifteen]
        total = np.zeros(len(table), dtype=np.uint8)
        for index in range(0, 15, 2):
            total += PLAIN_DIGIT[table[:, index]]
        for index in range(1, 14, 2):
            total += DOUBLED_DIGIT[table[:, index]]
        if np.any(total % np.uint8(10)):
            return None
    short = width == 14
    if np.any(short) and not ALLOCATED_RBI[keys[short] // 10**12].all():
        return None  # the row path warns of a lost leading 0
    return keys, digits


def text_ok(fields: _Fields, column: int, limit: int) -> bool:
    """Whether a text column's fields are at most ``limit`` octets with neither a space nor
    non-ASCII at an edge (the row path strips those)."""
    starts, sizes = fields.at(column)
    if np.any(sizes > limit):
        return False
    filled = sizes > 0
    edges = np.concatenate([fields.text[starts[filled]], fields.text[(starts + sizes - 1)[filled]]])
    return not np.any((edges == ord(" ")) | (edges >= 128))


def _distinct(
    fields: _Fields, column: int, limit: int, most: int = MAX_GROUPS
) -> tuple[I64, list[str]] | None:
    """Each row's index into the column's distinct values (up to ``limit`` octets each, at
    most ``most`` of them); None when there are more, or a value needs the row path."""
    if not text_ok(fields, column, limit):
        return None
    starts, sizes = fields.at(column)
    packed = _words(fields.text, starts, sizes)  # each field's octets, exact
    mixed = packed[0]
    for word in packed[1:]:
        mixed = mixed * np.uint64(0x9E3779B97F4A7C15) + word
    found = _few_values(mixed) or _many_values(mixed, most)
    if found is None:
        return None
    index, chosen = found
    if len(packed) > 1 and not all(np.array_equal(w[chosen][index], w) for w in packed):
        return None  # two values of one hash: never seen, but then the row path
    texts = [
        fields.text[s : s + n].tobytes().decode()
        for s, n in zip(starts[chosen].tolist(), sizes[chosen].tolist(), strict=True)
    ]
    return index, texts


#: the low ``n`` octets of a (little-endian) word, for n = 0 to 8
_LOW_OCTETS = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)


def _words(text: U8, starts: I64, sizes: I64) -> list[npt.NDArray[np.uint64]]:
    """Each field's octets as little-endian words (octets past its end zero): ``ceil(longest
    / 8)`` arrays, each one gather of 8 octets a row."""
    view = np.ndarray((len(text) - 7,), dtype="<u8", buffer=text, strides=(1,))
    words = max(1, (int(sizes.max(initial=0)) + 7) // 8)
    out = []
    for word in range(words):
        left = np.clip(sizes - 8 * word, 0, 8)
        out.append(view[starts + 8 * word] & _LOW_OCTETS[left])
    return out


def _few_values(mixed: npt.NDArray[np.uint64], most: int = 8) -> tuple[I64, I64] | None:
    """Each row's index into the distinct values, and the first row of each, when there are
    at most ``most`` (a pass each: cheaper than a sort)."""
    index = np.full(len(mixed), -1, dtype=np.int64)
    firsts: list[int] = []
    left = 0
    while len(firsts) < most:
        unset = np.flatnonzero(index[left:] < 0)
        if not len(unset):
            return index, np.array(firsts, dtype=np.int64)
        first = left + int(unset[0])
        index[mixed == mixed[first]] = len(firsts)
        firsts.append(first)
        left = first + 1
    return None if np.any(index < 0) else (index, np.array(firsts, dtype=np.int64))


def _many_values(mixed: npt.NDArray[np.uint64], most: int) -> tuple[I64, I64] | None:
    """The same by a sort, for up to ``most`` distinct values."""
    heads = np.flatnonzero(np.r_[True, mixed[1:] != mixed[:-1]])
    values, first = np.unique(mixed[heads], return_index=True)
    if len(values) > most:
        return None
    return np.searchsorted(values, mixed).astype(np.int64), heads[first]


def _groups(
    fields: _Fields, at: dict[str, int], options: LoadOptions
) -> tuple[I64, list[tuple[ListName, str]]] | None:
    """Each row's (list, source) group."""
    rows = fields.rows
    lists: tuple[I64, list[ListName]] = (np.zeros(rows, dtype=np.int64), [options.list])
    sources: tuple[I64, list[str]] = (np.zeros(rows, dtype=np.int64), [options.source])
    try:
        if "list" in at:
            found = _distinct(fields, at["list"], 8)
            if found is None:
                return None
            lists = found[0], [parse_list(t) if t else options.list for t in found[1]]
        if "source" in at:
            found = _distinct(fields, at["source"], _SOURCE_MAX)
            if found is None:
                return None
            sources = found[0], [check_source(t) if t else options.source for t in found[1]]
    except IdentityError:
        return None  # the row path names each bad row
    pairs = sorted({(n, s) for n in lists[1] for s in sources[1]})
    number = {pair: i for i, pair in enumerate(pairs)}
    table = np.array([[number[(n, s)] for s in sources[1]] for n in lists[1]], dtype=np.int64)
    return table[lists[0], sources[0]], pairs


def _stamps(fields: _Fields, column: int, options: LoadOptions) -> U32 | None:
    """Each row's ``added`` time (0: none). A column of few distinct values (a list's report
    dates, an export's load times) has each value read by the row path's own
    :func:`~eir.store.fields.parse_added` with the load's date format and zone; else each row
    must be epoch seconds or ``YYYY-MM-DDTHH:MM:SSZ``, read in numpy."""
    found = _distinct(fields, column, _ADDED_MAX, _DISTINCT_TIMES)
    if found is not None:
        try:
            dates = DateReader(options.date_format, options.timezone)  # the load's, as rows'
            times = np.array([parse_added(t, dates) if t else 0 for t in found[1]], dtype=np.int64)
        except IdentityError:
            return None  # the row path names each bad row
        if np.any((times < 0) | (times >= 1 << 32)):
            return None
        return times.astype(np.uint32)[found[0]]
    return _iso_or_epoch(fields, column, options)


def _iso_or_epoch(fields: _Fields, column: int, options: LoadOptions) -> U32 | None:
    """Each row's ``added`` time (0: none): epoch seconds or ``YYYY-MM-DDTHH:MM:SSZ``."""
    starts, sizes = fields.at(column)
    if options.date_format is not None:
        return None
    octets = _gather(fields.text, starts, len(_ISO))
    digit = (octets - np.uint8(48)) <= 9
    epoch = (sizes > 0) & (sizes <= _EPOCH_WIDTH)
    iso = sizes == len(_ISO)
    inside = np.arange(_EPOCH_WIDTH) < sizes[:, None]
    epoch_ok = (digit[:, :_EPOCH_WIDTH] | ~inside).all(axis=1)
    marks_ok = (octets[:, ~_ISO_DIGITS] == _ISO_MARKS[~_ISO_DIGITS]).all(axis=1)
    iso_ok = marks_ok & digit[:, _ISO_DIGITS].all(axis=1)
    if np.any(~((sizes == 0) | (epoch & epoch_ok) | (iso & iso_ok))):
        return None
    values = np.zeros(len(starts), dtype=np.int64)
    if np.any(epoch):
        values[epoch] = _number(octets[epoch], 0, _EPOCH_WIDTH, sizes[epoch])
    if np.any(iso):
        seconds = _iso_seconds(octets[iso])
        if seconds is None:
            return None
        values[iso] = seconds
    if np.any((values < 0) | (values >= 1 << 32)):
        return None
    return values.astype(np.uint32)


def _number(octets: U8, first: int, width: int, sizes: I64 | None = None) -> I64:
    """The decimal number of ``octets[:, first:first + width]`` (only the first ``sizes``
    octets of each row, when given)."""
    value = np.zeros(len(octets), dtype=np.int64)
    for index in range(first, first + width):
        digit = octets[:, index].astype(np.int64) - 48
        if sizes is None:
            value = value * 10 + digit
        else:
            more = index - first < sizes
            value = np.where(more, value * 10 + digit, value)
    return value


def _iso_seconds(octets: U8) -> I64 | None:
    """Epoch seconds of ``YYYY-MM-DDTHH:MM:SSZ`` rows; None when a date or time does not
    exist (the row path names it)."""
    year, month, day = _number(octets, 0, 4), _number(octets, 5, 2), _number(octets, 8, 2)
    hour, minute, second = _number(octets, 11, 2), _number(octets, 14, 2), _number(octets, 17, 2)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    bad_month = (month < 1) | (month > 12)
    last = month_days[np.where(bad_month, 0, month)] + ((month == 2) & leap)
    if np.any(bad_month | (day < 1) | (day > last) | (hour > 23) | (minute > 59) | (second > 59)):
        return None
    # days from 1970-01-01 (H. Hinnant's days_from_civil)
    shifted = year - (month <= 2)
    era = shifted // 400
    of_era = shifted - era * 400
    of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    of_cycle = of_era * 365 + of_era // 4 - of_era // 100 + of_year
    days = era * 146097 + of_cycle - 719468
    seconds: I64 = days * 86400 + hour * 3600 + minute * 60 + second
    return seconds


def read_columns(
    shape: FileShape, options: LoadOptions, tick: Callable[[int], None] | None = None
) -> Columns | None:
    """The rows of a CSV in bulk; None sends the file to the row path. ``tick`` is told of
    a share of the file's bytes after each part."""
    columns = shape.columns
    if columns is None or not BULK_COLUMNS.issuperset(columns) or len(shape.delimiter) != 1:
        return None
    body = plain_body(shape.body, shape.delimiter)
    if body is None:
        return None
    text = np.frombuffer(body + b"\n" * PAD, dtype=np.uint8)
    cuts = _parts(body)

    def read(cut: tuple[int, int]) -> Columns | None:
        return _read_part(text, cut[0], cut[1], columns, shape.delimiter[0], options)

    parts = []
    # a part at a time (its arrays stay in the cache), two at once: numpy lets go of the GIL
    with ThreadPoolExecutor(max_workers=min(READERS, len(cuts))) as pool:
        for (first, end), part in zip(cuts, pool.map(read, cuts), strict=True):
            if part is None:
                return None
            parts.append(part)
            if tick is not None:
                tick((end - first) * 3 // 5)  # the grouping that follows takes the rest
    return _joined(parts)


def _read_part(
    text: U8, first: int, end: int, columns: list[str], delimiter: int, options: LoadOptions
) -> Columns | None:
    """The rows of ``text[first:end]`` (whole lines)."""
    fields = _fields(text, first, end, delimiter, len(columns))
    if fields is None:
        return None
    at = {name: index for index, name in enumerate(columns) if name}
    imeis = _imeis(fields, at["imei"])
    texts_ok = all(text_ok(fields, at[n], MAX_FIELD) for n in ("reason", "reference") if n in at)
    grouped = _groups(fields, at, options) if imeis is not None and texts_ok else None
    rows = fields.rows
    stamps = np.zeros(rows, dtype=np.uint32) if "added" not in at else None
    if grouped is not None and stamps is None:
        stamps = _stamps(fields, at["added"], options)
    if imeis is None or grouped is None or stamps is None:
        return None
    empty = np.full(rows, len(text) - PAD, dtype=np.int64), np.zeros(rows, dtype=np.int64)
    reason = fields.at(at["reason"]) if "reason" in at else empty
    reference = fields.at(at["reference"]) if "reference" in at else empty
    return Columns(imeis[0], imeis[1], grouped[0], grouped[1], stamps, text, *reason, *reference)


def _joined(parts: list[Columns]) -> Columns:
    """The parts of one file as one: their groups numbered anew."""
    if len(parts) == 1:
        return parts[0]
    pairs = sorted({pair for part in parts for pair in part.groups})
    number = {pair: index for index, pair in enumerate(pairs)}
    group = np.concatenate(
        [np.array([number[p] for p in part.groups], dtype=np.int64)[part.group] for part in parts]
    )

    def joined(name: str) -> Any:  # one of the arrays of Columns, all parts' end to end
        return np.concatenate([getattr(part, name) for part in parts])

    return Columns(
        joined("keys"),
        joined("digits"),
        group,
        pairs,
        joined("stamps"),
        parts[0].text,
        joined("reason_at"),
        joined("reason_size"),
        joined("reference_at"),
        joined("reference_size"),
    )
