"""List files -> a validated :class:`Batch`, or every bad row as ``file:line: reason``.

Formats (detected from the first line that is not blank or a ``#`` comment):

* plain text: one IMEI (14, 15 or 16 digits) per line; blank lines and ``#`` comments skipped;
* CSV with a header naming some of ``imei, imei_last, imsi, list, reason, source, reference,
  added``; ``imei`` is required. ``imei_last`` makes the row a range, ``imsi`` an IMEI+IMSI pair;
  ``list`` and ``source`` override the command line's; ``added`` (ISO 8601 or epoch seconds)
  keeps an entry's original time, as ``eir export`` writes it;
* either one gzip-compressed; ``-`` reads standard input.

A 15-digit IMEI whose check digit is wrong is refused: in a list file it is a typo, and loading it
would list some other, innocent handset.

Speed: two bulk paths validate whole files in a few numpy passes. Files of one IMEI a row
(plain, or CSV with only ``imei``) are sorted as integers, with the Luhn check on another core.
CSV ``imei,reason[,reference]`` is packed into stored values in the file's own bytes. Anything
else, and any file in which a bulk check finds a fault, goes row by row, which names every bad
row. Property tests hold the paths to the same result.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from eir.errors import IdentityError, LoadError
from eir.identity import Imei, Imsi, luhn_ok15
from eir.model import ListName
from eir.store.batch import Batch, Group
from eir.store.records import MAX_FIELD, Table

COLUMNS = ("imei", "imei_last", "imsi", "list", "reason", "source", "reference", "added")
SOURCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")  # but line ends
_PLAIN_ASCII = np.zeros(256, dtype=np.uint8)
_PLAIN_ASCII[48:58] = np.arange(10)
_DOUBLED_ASCII = np.zeros(256, dtype=np.uint8)
_DOUBLED_ASCII[48:58] = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)

Report = Callable[[str], None]

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class LoadOptions:
    list: ListName = ListName.BLACK
    source: str = "manual"
    skip_invalid: bool = False


@dataclass(slots=True)
class _Row:
    table: Table
    list: ListName
    source: str
    key: bytes
    fields: tuple[str, str, int] | None
    where: tuple[int, int]  # (file index, line)


@dataclass(slots=True, eq=False)  # identity: two blocks are never "equal" arrays
class _Block:
    """A fast-path block: the file's own fixed-width lines of one IMEI each, on one list and
    source. ``luhn`` is the check of 15-digit rows, still running on another core."""

    table: U8  # shape (n, width + 1): digits then the line end
    file: int
    first_line: int
    data: bytes  # the whole file, to parse row by row should the Luhn check fail
    luhn: Future[bool] | None = None

    @property
    def digits(self) -> U8:
        """The 14 digits of each row's key (a view: no copy)."""
        return self.table[:, :14]

    def luhn_ok(self) -> bool:
        return self.luhn is None or self.luhn.result()

    @property
    def count(self) -> int:
        return len(self.table)


@dataclass(slots=True, eq=False)
class _TextBlock:
    """A fast-path CSV of ``imei,reason[,reference]``: keys, and each row's packed reason and
    reference already in place in ``buffer`` (the file's own bytes, commas overwritten by the
    field lengths) at ``tail_starts[i]:tail_ends[i]``."""

    values: I64
    buffer: bytes
    tail_starts: I64
    tail_ends: I64
    file: int
    first_line: int
    data: bytes
    luhn: Future[bool] | None = None

    def luhn_ok(self) -> bool:
        return self.luhn is None or self.luhn.result()

    @property
    def count(self) -> int:
        return len(self.values)


@dataclass(slots=True)
class _Parsed:
    rows: list[_Row] = field(default_factory=list)
    blocks: list[_Block] = field(default_factory=list)
    text_blocks: list[_TextBlock] = field(default_factory=list)
    read: int = 0
    invalid: int = 0


def read_input(path: str) -> bytes:
    """The whole of a file (or standard input for ``-``), gunzipped when it is gzip."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as handle:
                data = handle.read()
    except FileNotFoundError:
        raise LoadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LoadError(f"{path}: is a directory") from None
    except OSError as exc:
        raise LoadError(f"{path}: cannot read: {exc.strerror}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise LoadError(f"{path}: damaged gzip data: {exc}") from None
    return data


def _name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def parse_imei_key(text: str) -> str:
    """The 14-digit key of a list file's IMEI; a wrong 15th (check) digit is an error here."""
    size = len(text)
    if 14 <= size <= 16 and text.isascii() and text.isdigit() and (size != 15 or luhn_ok15(text)):
        return text[:14]
    imei = Imei.parse(text)  # raises the precise error for anything else
    raise IdentityError(
        f"IMEI {text} has check digit {imei.check_digit}, expected {imei.luhn} "
        "(a typo would list another handset)"
    )


def _parse_added(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise IdentityError(f"added {text!r} is not ISO 8601 or epoch seconds") from None
    if stamp.tzinfo is None:
        raise IdentityError(f"added {text!r} has no time zone (write Z or +00:00)")
    return int(stamp.timestamp())


def _text_field(value: str, what: str, controls: bool = True) -> str:
    """``controls``: whether the file holds control characters at all (checked once)."""
    if controls and _CONTROL.search(value):
        raise IdentityError(f"{what} has a control character")
    # A UTF-8 character is at most 4 octets: short text cannot be too long.
    if len(value) > MAX_FIELD // 4 and len(value.encode()) > MAX_FIELD:
        raise IdentityError(f"{what} is longer than {MAX_FIELD} octets")
    return value


def check_source(source: str) -> str:
    if not SOURCE_RE.fullmatch(source):
        raise IdentityError(
            f"source {source!r} is not 1 to 64 of letters, digits and ._:@/- "
            "(starting with a letter or digit)"
        )
    return source


def _header_columns(line: str, name: str, number: int) -> list[str]:
    columns = [c.strip().lower() for c in next(csv.reader([line]))]
    seen: set[str] = set()
    for column in columns:
        if column not in COLUMNS:
            raise LoadError(
                f"{name}:{number}: unknown column {column!r} (known: {', '.join(COLUMNS)})"
            )
        if column in seen:
            raise LoadError(f"{name}:{number}: column {column!r} appears twice")
        seen.add(column)
    if "imei" not in seen:
        raise LoadError(f"{name}:{number}: the header has no 'imei' column")
    return columns


def _is_header(line: bytes) -> bool:
    stripped = line.strip()
    return b"," in stripped or stripped.lower().lstrip(b"\xef\xbb\xbf") in (b"imei", b'"imei"')


# -- the fast path -------------------------------------------------------------------------------


def _luhn_ok(table: U8) -> bool:
    """Every row of 15 ASCII digits ends in its Luhn digit (column-wise table look-ups)."""
    total = np.zeros(len(table), dtype=np.uint8)  # at most 8 * 9 + 7 * 9: no overflow
    for column in range(0, 15, 2):
        total += _PLAIN_ASCII[table[:, column]]
    for column in range(1, 14, 2):
        total += _DOUBLED_ASCII[table[:, column]]
    return not np.any(total % np.uint8(10))


def _unix_lines(body: bytes) -> bytes | None:
    """Lines ending in LF, the last one too; None when a CR stands anywhere but before an LF."""
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n")
        if b"\r" in body:
            return None
    return body if body.endswith(b"\n") else body + b"\n"


def _fast_block(
    body: bytes, file: int, first_line: int, data: bytes, pool: Executor | None
) -> _Block | None:
    """Fixed-width lines of 14/15/16 digits, all valid; None when anything is not so.

    Every check is one pass in C: line ends where a fixed width puts them, nothing but digits
    and line ends, and (for 15 digits) the Luhn digit of every row. With a ``pool`` the Luhn
    check runs there (numpy lets go of the GIL) while the caller sorts the keys.
    """
    lines = _unix_lines(body)
    if lines is None:
        return None
    body = lines
    width = body.find(b"\n")
    if width not in (14, 15, 16) or len(body) % (width + 1):
        return None
    rows = len(body) // (width + 1)
    if body[width :: width + 1] != b"\n" * rows or body.translate(None, b"0123456789\n"):
        return None
    table: U8 = np.frombuffer(body, dtype=np.uint8).reshape(rows, width + 1)
    block = _Block(table, file, first_line, data)
    if width == 15:
        if pool is not None:
            block.luhn = pool.submit(_luhn_ok, table)
        elif not _luhn_ok(table):
            return None
    return block


#: column lists whose rows the text fast path takes: the line from its first comma on has the
#: length of a packed reason and reference (see _fast_text_block)
TEXT_LAYOUTS = (["imei", "reason", "reference"], ["imei", "reason"])
#: every octet but the control characters (line feed is allowed): what translate deletes
_NOT_CONTROL = bytes([10, *range(32, 127), *range(128, 256)])


def _fast_text_block(
    body: bytes, columns: list[str], file: int, first_line: int, data: bytes, pool: Executor | None
) -> _TextBlock | None:
    """Rows of ``imei,reason[,reference]`` validated in bulk; None sends the file row by row.

    In ``IMEI,reason,reference\n`` the bytes from the first comma to the line end are exactly
    as long as a packed tail ``len reason len reference``: writing the two lengths over the two
    commas packs every row in place. Taken only when nothing needs the row path's care:
    no quotes, control characters, blank or comment lines, spaces or non-ASCII at a field's
    edge (the row path strips those), or fields longer than 255 octets.
    """
    if b'"' in body:
        return None
    lines = _unix_lines(body)
    if lines is None:
        return None
    body = lines
    if body.startswith(b"\n") or b"\n\n" in body or body.translate(None, _NOT_CONTROL):
        return None
    try:
        body.decode()
    except UnicodeDecodeError:
        return None
    text: U8 = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(text == 10)
    rows = len(ends)
    starts = np.empty(rows, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    if np.any(text[starts] == ord("#")):
        return None
    separators = len(columns) - 1
    commas = np.flatnonzero(text == ord(","))
    if len(commas) != rows * separators:
        return None
    cuts = commas.reshape(rows, separators)
    if np.any(cuts[:, 0] < starts) or np.any(cuts[:, -1] >= ends):
        return None  # sorted commas, each line's first and last inside it: all are in place
    width = cuts[:, 0] - starts
    if np.any((width < 14) | (width > 16)):
        return None
    gather = np.minimum(starts[:, None] + np.arange(16), len(text) - 1)
    imeis = text[gather]
    inside = np.arange(16) < width[:, None]
    if np.any(((imeis - np.uint8(48)) > 9) & inside):
        return None
    fields = [(cuts[:, 0] + 1, cuts[:, 1] if separators == 2 else ends)]
    if separators == 2:
        fields.append((cuts[:, 1] + 1, ends))
    lengths = []
    for first, end in fields:
        size = end - first
        if np.any(size > MAX_FIELD):
            return None
        filled = size > 0
        edges = np.concatenate([text[first[filled]], text[end[filled] - 1]])
        if np.any((edges == ord(" ")) | (edges >= 128)):
            return None
        lengths.append(size.astype(np.uint8))
    packed = bytearray(body)
    view = np.frombuffer(packed, dtype=np.uint8)
    view[cuts[:, 0]] = lengths[0]
    if separators == 2:
        view[cuts[:, 1]] = lengths[1]
        tail_ends = ends
    else:
        view[ends] = 0  # no reference: its length, where the line end was
        tail_ends = ends + 1
    block = _TextBlock(
        _as_int(imeis[:, :14]), bytes(packed), cuts[:, 0].copy(), tail_ends, file, first_line, data
    )
    check = imeis[width == 15]
    if len(check):
        if pool is not None:
            block.luhn = pool.submit(_luhn_ok, check)
        elif not _luhn_ok(check):
            return None
    return block


def _group_text(
    block: _TextBlock, names: list[str], report: Report, options: LoadOptions
) -> tuple[Group, int]:
    """The group of a text block: keys sorted and unique, tails in the same order."""
    values = block.values
    if len(values) < 2 or bool(np.all(values[1:] > values[:-1])):
        _check_luhn([block])
        order = np.arange(len(values))
        duplicates = 0
    else:
        order = np.argsort(values, kind="stable")  # the first of equal keys stays first
        _check_luhn([block])
        ordered = values[order]
        fresh = np.r_[True, ordered[1:] != ordered[:-1]]
        duplicates = len(order) - int(np.count_nonzero(fresh))
        if duplicates:
            _report_duplicates([block], values, names, report)
            order = order[fresh]
    keys: list[bytes] = _ascii_keys(values[order]).view("S14").ravel().tolist()
    tails = (block.buffer, block.tail_starts[order].tolist(), block.tail_ends[order].tolist())
    return Group(Table.IMEI, options.list, options.source, keys, tails=tails), duplicates


# -- the row-by-row path -------------------------------------------------------------------------


def _plain_rows(
    lines: list[bytes],
    start: int,
    file: int,
    name: str,
    options: LoadOptions,
    out: _Parsed,
    report: Report,
) -> None:
    for number in range(start + 1, len(lines) + 1):
        raw = lines[number - 1].strip()
        if not raw or raw.startswith(b"#"):
            continue
        out.read += 1
        try:
            text = raw.decode()
            key = parse_imei_key(text)
        except UnicodeDecodeError:
            out.invalid += 1
            report(f"{name}:{number}: not UTF-8 text")
            continue
        except IdentityError as exc:
            out.invalid += 1
            report(f"{name}:{number}: {exc}")
            continue
        out.rows.append(
            _Row(Table.IMEI, options.list, options.source, key.encode(), None, (file, number))
        )


class _Columns:
    """Where each known column sits in a CSV row (-1: absent)."""

    def __init__(self, columns: list[str]) -> None:
        self.count = len(columns)
        at = {name: index for index, name in enumerate(columns)}
        self.imei = at["imei"]
        self.last = at.get("imei_last", -1)
        self.imsi = at.get("imsi", -1)
        self.list = at.get("list", -1)
        self.source = at.get("source", -1)
        self.reason = at.get("reason", -1)
        self.reference = at.get("reference", -1)
        self.added = at.get("added", -1)


def _cell(cells: list[str], index: int) -> str:
    return cells[index].strip() if index >= 0 else ""


def _csv_row(
    cells: list[str], at: _Columns, options: LoadOptions, where: tuple[int, int], controls: bool
) -> _Row:
    imei_text = cells[at.imei].strip()
    imei_key = parse_imei_key(imei_text)
    last, imsi = _cell(cells, at.last), _cell(cells, at.imsi)
    if last and imsi:
        raise IdentityError("a row is a range (imei_last) or a pair (imsi), not both")
    list_name = options.list
    list_text = _cell(cells, at.list)
    if list_text:
        try:
            list_name = ListName(list_text.lower())
        except ValueError:
            raise IdentityError(f"list {list_text!r} is not white, grey or black") from None
    source = _cell(cells, at.source)
    source = check_source(source) if source else options.source
    reason = _text_field(_cell(cells, at.reason), "reason", controls)
    reference = _text_field(_cell(cells, at.reference), "reference", controls)
    added_text = _cell(cells, at.added)
    added = _parse_added(added_text) if added_text else 0
    fields = (reason, reference, added) if reason or reference or added else None
    if last:
        last_key = parse_imei_key(last)
        if last_key < imei_key:
            raise IdentityError(f"range ends ({last}) before it starts ({imei_text})")
        return _Row(Table.RANGE, list_name, source, (imei_key + last_key).encode(), fields, where)
    if imsi:
        imsi_digits = Imsi.parse(imsi).digits
        return _Row(Table.PAIR, list_name, source, (imei_key + imsi_digits).encode(), fields, where)
    return _Row(Table.IMEI, list_name, source, imei_key.encode(), fields, where)


def _csv_rows(
    lines: list[bytes],
    start: int,
    columns: list[str],
    file: int,
    name: str,
    options: LoadOptions,
    out: _Parsed,
    report: Report,
) -> None:
    at = _Columns(columns)
    body = b"\n".join(lines[start + 1 :])
    try:
        text = body.decode()
    except UnicodeDecodeError:
        # Name every line that is not UTF-8; parse the others.
        good: list[bytes] = []
        for number in range(start + 2, len(lines) + 1):
            try:
                lines[number - 1].decode()
            except UnicodeDecodeError:
                out.read += 1
                out.invalid += 1
                report(f"{name}:{number}: not UTF-8 text")
                good.append(b"")
            else:
                good.append(lines[number - 1])
        text = b"\n".join(good).decode()
    # A quoted field may hold a line break: then every field is checked.
    controls = '"' in text or _CONTROL_IN_TEXT.search(text) is not None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    offset = start + 1  # line numbers of the body start after the header
    rows = out.rows
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.read += 1
            out.invalid += 1
            report(f"{name}:{offset + reader.line_num}: bad CSV: {exc}")
            continue
        number = offset + reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if cells[0].lstrip().startswith("#"):
            continue
        out.read += 1
        if len(cells) != at.count:
            out.invalid += 1
            report(f"{name}:{number}: {len(cells)} fields, the header has {at.count}")
            continue
        try:
            rows.append(_csv_row(cells, at, options, (file, number), controls))
        except IdentityError as exc:
            out.invalid += 1
            report(f"{name}:{number}: {exc}")


def _first_meaningful_line(data: bytes) -> tuple[int, int, int] | None:
    """(line index, start, end) of the first line that is not blank or a comment."""
    position, index = 0, 0
    while position < len(data):
        end = data.find(b"\n", position)
        end = len(data) if end < 0 else end
        line = data[position:end].strip()
        if line and not line.startswith(b"#"):
            return index, position, end
        position, index = end + 1, index + 1
    return None


def parse_data(
    data: bytes,
    file: int,
    name: str,
    options: LoadOptions,
    report: Report,
    pool: Executor | None = None,
    fast: bool = True,
) -> _Parsed:
    """Parse one file's bytes; bad rows are reported and counted, not raised.

    ``fast`` False parses row by row whatever the file; ``pool`` lets the fast path's Luhn
    check run in the background (the block's ``luhn`` future).
    """
    out = _Parsed()
    original = data
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    first = _first_meaningful_line(data)
    if first is None:
        return out
    index, start, end = first
    columns: list[str] | None = None
    if _is_header(data[start:end]):
        try:
            header = data[start:end].decode().strip()
        except UnicodeDecodeError:
            raise LoadError(f"{name}:{index + 1}: the header is not UTF-8 text") from None
        columns = _header_columns(header, name, index + 1)
        block = (
            _fast_block(data[end + 1 :], file, index + 2, original, pool)
            if fast and columns == ["imei"]
            else None
        )
        if fast and columns in TEXT_LAYOUTS:
            text_block = _fast_text_block(data[end + 1 :], columns, file, index + 2, original, pool)
            if text_block is not None:
                out.text_blocks.append(text_block)
                out.read = text_block.count
                return out
    else:
        block = _fast_block(data[start:], file, index + 1, original, pool) if fast else None
    if block is not None:
        out.blocks.append(block)
        out.read = len(block.table)
        return out
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if columns is None:
        _plain_rows(lines, index, file, name, options, out, report)
    else:
        _csv_rows(lines, index, columns, file, name, options, out, report)
    return out


# -- assembling groups ---------------------------------------------------------------------------


def _where(names: list[str], where: tuple[int, int]) -> str:
    return f"{names[where[0]]}:{where[1]}"


def _as_int(digits: U8) -> I64:
    """Rows of 14 ASCII digits as integers (column by column: no n x 14 temporary)."""
    values = np.zeros(len(digits), dtype=np.int64)
    for column in range(14):
        values *= 10
        values += digits[:, column]
    values -= 48 * 11111111111111
    return values


class _LuhnFailedError(Exception):
    def __init__(self, blocks: Sequence[_Block | _TextBlock]) -> None:
        super().__init__("Luhn check failed")
        self.blocks = blocks


def _check_luhn(blocks: Sequence[_Block | _TextBlock]) -> None:
    failed = [block for block in blocks if not block.luhn_ok()]
    if failed:
        raise _LuhnFailedError(failed)


_ASCII_PAIRS = (
    np.array([[48 + a, 48 + b] for a in range(10) for b in range(10)], dtype=np.uint8)
    .view(np.uint16)
    .ravel()
)


def _ascii_keys(values: I64) -> U8:
    """Integers below 10**14 as rows of 14 ASCII digits, two digits a look-up, in 32 bits."""
    out = np.empty((len(values), 7), dtype=np.uint16)
    high = (values // 10**7).astype(np.uint32)  # digits 0-6
    low = (values - high.astype(np.int64) * 10**7).astype(np.uint32)  # digits 7-13
    rest, digit6 = np.divmod(high, np.uint32(10))
    for column in (2, 1, 0):
        rest, pair = np.divmod(rest, np.uint32(100))
        out[:, column] = _ASCII_PAIRS[pair]
    digit7, rest = np.divmod(low, np.uint32(10**6))
    out[:, 3] = _ASCII_PAIRS[digit6 * np.uint32(10) + digit7]
    for column in (6, 5, 4):
        rest, pair = np.divmod(rest, np.uint32(100))
        out[:, column] = _ASCII_PAIRS[pair]
    return out.view(np.uint8).reshape(len(values), 14)


def _report_duplicates(
    blocks: Sequence[_Block | _TextBlock], values: I64, names: list[str], report: Report
) -> None:
    """Name every repeated row and the earlier row it repeats (rare: the slow way is fine)."""
    order = np.argsort(values, kind="stable")  # equal keys stay in file order
    ordered = values[order]
    offsets = np.cumsum([0] + [b.count for b in blocks])

    def locate(row: int) -> str:
        index = int(np.searchsorted(offsets, row, side="right")) - 1
        block = blocks[index]
        return f"{names[block.file]}:{block.first_line + row - int(offsets[index])}"

    found: list[tuple[int, int]] = []
    first = -1
    for position in range(len(ordered)):
        if position and ordered[position] == ordered[position - 1]:
            found.append((int(order[position]), first))
        else:
            first = int(order[position])
    for row, kept in sorted(found):
        key = f"{int(values[row]):014d}"
        report(f"{locate(row)}: duplicate of IMEI {key} on {locate(kept)} (first kept)")


def _group_blocks(
    blocks: list[_Block], names: list[str], report: Report
) -> tuple[list[bytes], int, I64]:
    """Sorted unique keys of fast-path blocks, their count of duplicates (reported, the first
    row is kept) and the keys as integers (a replace matches them against the store's).

    The keys are sorted as integers and written back as ASCII: cheaper than sorting rows.
    Raises _LuhnFailedError (before reporting anything) when a block's background check failed.
    """
    digits = blocks[0].digits if len(blocks) == 1 else np.concatenate([b.digits for b in blocks])
    values = _as_int(digits)
    if len(values) < 2 or bool(np.all(values[1:] > values[:-1])):
        _check_luhn(blocks)
        return np.ascontiguousarray(digits).view("S14").ravel().tolist(), 0, values
    ordered = np.sort(values)
    _check_luhn(blocks)
    fresh = np.r_[True, ordered[1:] != ordered[:-1]]
    duplicates = len(ordered) - int(np.count_nonzero(fresh))
    if duplicates:
        _report_duplicates(blocks, values, names, report)
        ordered = ordered[fresh]
    keys: list[bytes] = _ascii_keys(ordered).view("S14").ravel().tolist()
    return keys, duplicates, ordered


def _group_rows(rows: list[_Row], names: list[str], report: Report) -> tuple[Group, int]:
    rows.sort(key=attrgetter("key"))  # stable: equal keys stay in file order
    keys: list[bytes] = []
    fields: list[tuple[str, str, int]] = []
    duplicates = 0
    previous: _Row | None = None
    for row in rows:
        if previous is not None and row.key == previous.key:
            duplicates += 1
            what = (
                "range"
                if row.table is Table.RANGE
                else ("pair" if row.table is Table.PAIR else "IMEI")
            )
            report(
                f"{_where(names, row.where)}: duplicate of {what} {row.key.decode()} "
                f"on {_where(names, previous.where)} (first kept)"
            )
            continue
        previous = row
        keys.append(row.key)
        fields.append(row.fields or ("", "", 0))
    first = rows[0]
    has_fields = any(f != ("", "", 0) for f in fields)
    return Group(
        first.table, first.list, first.source, keys, fields if has_fields else None
    ), duplicates


def parse_files(paths: Iterable[str], options: LoadOptions, report: Report) -> Batch:
    """Read, validate and group every file. Raises LoadError when rows are invalid (unless
    ``skip_invalid``) or a file cannot be read at all; every bad row has been reported by then.
    """
    check_source(options.source)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eir-luhn") as pool:
        return _parse_files(list(paths), options, report, pool)


def _parse_files(paths: list[str], options: LoadOptions, report: Report, pool: Executor) -> Batch:
    names = [_name(p) for p in paths]
    batch = Batch(files=names)
    blocks: list[_Block] = []
    text_blocks: list[_TextBlock] = []
    rows: dict[tuple[Table, ListName, str], list[_Row]] = {}

    def take(parsed: _Parsed) -> None:
        batch.rows += parsed.read
        batch.invalid += parsed.invalid
        blocks.extend(parsed.blocks)
        text_blocks.extend(parsed.text_blocks)
        for row in parsed.rows:
            rows.setdefault((row.table, row.list, row.source), []).append(row)

    def row_by_row(failed: Sequence[_Block | _TextBlock]) -> None:
        """Parse again, row by row, the files whose fast check failed (it names each bad row),
        or whose rows must merge with others of their group."""
        for block in failed:
            if isinstance(block, _TextBlock):
                text_blocks.remove(block)
            else:
                blocks.remove(block)
            batch.rows -= block.count
            take(parse_data(block.data, block.file, names[block.file], options, report, fast=False))

    for index, path in enumerate(paths):
        take(parse_data(read_input(path), index, names[index], options, report, pool))
    fast_group = (Table.IMEI, options.list, options.source)
    if len(text_blocks) > 1 or (text_blocks and (blocks or fast_group in rows)):
        row_by_row(list(text_blocks))  # a text block stands alone or goes row by row
    text_group: Group | None = None
    while text_blocks:
        try:
            text_group, duplicates = _group_text(text_blocks[0], names, report, options)
        except _LuhnFailedError as failed:
            row_by_row(failed.blocks)
            continue
        batch.duplicates += duplicates
        break
    if blocks and fast_group in rows:
        # The same list and source came both ways: fold the fast rows into the row path.
        row_by_row([block for block in blocks if not block.luhn_ok()])
        for block in blocks:
            keys = np.ascontiguousarray(block.digits).view("S14").ravel().tolist()
            for offset, key in enumerate(keys):
                rows[fast_group].append(
                    _Row(
                        Table.IMEI,
                        options.list,
                        options.source,
                        key,
                        None,
                        (block.file, block.first_line + offset),
                    )
                )
        rows[fast_group].sort(key=attrgetter("where"))
        blocks.clear()
    fast_keys: list[bytes] = []
    fast_numbers: I64 | None = None
    while blocks:
        try:
            fast_keys, duplicates, fast_numbers = _group_blocks(blocks, names, report)
        except _LuhnFailedError as failed:
            row_by_row(failed.blocks)
            continue
        batch.duplicates += duplicates
        break
    if batch.invalid and not options.skip_invalid:
        raise LoadError(
            f"{batch.invalid} invalid rows: nothing was loaded "
            "(fix them, or load the rest with --skip-invalid)"
        )
    if fast_keys:
        batch.groups.append(
            Group(Table.IMEI, options.list, options.source, fast_keys, numbers=fast_numbers)
        )
    if text_group is not None and text_group.keys:
        batch.groups.append(text_group)
    for group_rows in rows.values():
        group, duplicates = _group_rows(group_rows, names, report)
        batch.groups.append(group)
        batch.duplicates += duplicates
    batch.groups.sort(key=lambda g: (list(Table).index(g.table), g.list, g.source))
    return batch
