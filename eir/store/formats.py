"""Reading a list file: its bytes, what shape it has, and the options that come with it.

Formats (detected from the first line that is not blank or a ``#`` comment):

* plain text: one IMEI (14, 15 or 16 digits) per line; blank lines and ``#`` comments skipped;
* CSV with a header naming some of ``imei, imei_last, imsi, list, reason, source, reference,
  added``; ``imei`` is required. ``imei_last`` makes the row a range, ``imsi`` an IMEI+IMSI pair;
  ``list`` and ``source`` override the command line's; ``added`` keeps an entry's original time,
  as ``eir export`` writes it; ``effective`` and ``expires`` bound when the entry holds
  (:mod:`eir.store.times`). Header names match in any case, with spaces or ``_`` between
  words (``Imei Last``); ``--column "Case number=reference"`` maps another name; the columns
  neither known nor mapped are named in one warning and ignored (refused with
  ``--strict-columns``);
* either one packed in gzip or a zip of one file, in UTF-8, UTF-16 or the ``--encoding``
  named, its fields separated by ``,`` ``;`` tabs or ``|`` (see :mod:`eir.store.dialect`);
  ``-`` reads standard input.
"""

from __future__ import annotations

import csv
import enum
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from eir.errors import LoadError
from eir.model import ListName
from eir.store.dialect import (
    NOT_UTF8,
    as_utf8,
    delimiter_label,
    detect_delimiter,
    mac_line_ends,
    unpack,
)

COLUMNS = (
    "imei",
    "imei_last",
    "imsi",
    "list",
    "reason",
    "source",
    "reference",
    "added",
    "effective",
    "expires",
)
_WORD_BREAKS = re.compile(r"[\s_]+")

#: where each bad row is told, as ``file:line: reason``
Report = Callable[[str], None]


class CheckDigit(enum.StrEnum):
    """What a 15-digit IMEI whose check digit is wrong gets (``--check-digit``)."""

    REFUSE = "refuse"  # a bad row: in a list file it is most often a typo
    LIST = "list"  # listed by its 14 digits, each such row reported as a warning


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """What the command line says of its files: the list and source of rows without those
    columns, whether bad rows are skipped (else nothing is loaded), and how the files are
    written (delimiter, encoding, column names, dates, check digits)."""

    list: ListName = ListName.BLACK
    source: str = "manual"
    skip_invalid: bool = False
    #: the field delimiter (one octet); None: detected from the header
    delimiter: bytes | None = None
    #: the text encoding (a Python codec name); None: UTF-8, or UTF-16 by its byte order mark
    encoding: str | None = None
    #: (file column, known column) pairs: ``--column "Case number=reference"``
    column_map: tuple[tuple[str, str], ...] = ()
    #: refuse a file with a column that is neither known nor mapped (else: one warning)
    strict_columns: bool = False
    #: a strptime format of ``added`` cells that are not ISO 8601 or epoch seconds;
    #: None: day-first ``DD/MM/YYYY`` (and ``DD.MM.YYYY``, ``DD-MM-YYYY``)
    date_format: str | None = None
    #: the zone of ``added`` cells that name none (an IANA name, e.g. Asia/Ho_Chi_Minh)
    timezone: str = "UTC"
    check_digit: CheckDigit = CheckDigit.REFUSE
    #: warnings are refused as bad rows (a 14-digit IMEI that lost its leading 0)
    strict: bool = False
    #: the ``effective`` of rows without their own (``--grace``), seconds since the epoch;
    #: 0: none
    effective: int = 0
    #: the ``expires`` of rows without their own (``--expires-in``); 0: none
    expires: int = 0
    #: the load time (the lifecycle's clock): a row whose own ``expires`` is at or before it
    #: is refused (it would never match); 0: not checked
    now: int = 0

    @property
    def timed(self) -> bool:
        """Whether rows without times of their own get some (then the bulk path steps aside)."""
        return bool(self.effective or self.expires)


@dataclass(frozen=True, slots=True)
class FileShape:
    """What a list file is and where its rows start.

    ``text`` is the file as UTF-8, without a byte order mark; ``index`` the (0-based) index of
    its first line that is not blank or a comment: the header of a CSV, else the first row;
    ``rows_at`` the offset in ``text`` of the line its rows start on.
    """

    text: bytes
    index: int
    rows_at: int
    #: each column's known name, in file order ("" for a column that is ignored); None: plain
    #: text, one IMEI a line
    columns: list[str] | None
    #: the field delimiter of a CSV (one octet)
    delimiter: bytes = b","
    #: the warnings its header got (columns ignored), each reported already
    warnings: int = 0

    @property
    def body(self) -> bytes:
        """The rows: the file from the first row's line on."""
        return self.text[self.rows_at :]

    @property
    def first_row(self) -> int:
        """The (1-based) line number of :attr:`body`'s first line."""
        return self.index + (1 if self.columns is None else 2)


class ListInput(NamedTuple):
    """A list file's bytes, unpacked, and its name in messages (``<stdin>`` for ``-``,
    ``archive.zip!member.csv`` for a zip's file)."""

    data: bytes
    name: str


def read_input(path: str) -> ListInput:
    """The whole of a file (or standard input for ``-``), unpacked when it is gzip or a zip of
    one file."""
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
    return ListInput(*unpack(data, display_name(path)))


def display_name(path: str) -> str:
    """A file's name in messages."""
    return "<stdin>" if path == "-" else path


def column_key(name: str) -> str:
    """How a header name is matched: in lower case, words joined by ``_`` (``Imei Last``,
    `` imei_last`` and ``IMEI  LAST`` are all ``imei_last``)."""
    return _WORD_BREAKS.sub("_", name.strip()).lower()


def column_mapping(text: str) -> tuple[str, str]:
    """A ``--column "FILE NAME=known"`` option: (the file's name as matched, the known column);
    ValueError when it is not so."""
    left, equals, right = text.rpartition("=")
    known = column_key(right)
    if not equals or not left.strip():
        raise ValueError(f'{text!r} is not NAME=COLUMN (e.g. "Case number=reference")')
    if known not in COLUMNS:
        raise ValueError(f"{right.strip()!r} is not a known column (known: {', '.join(COLUMNS)})")
    return column_key(left), known


def shape_of(
    data: bytes, name: str, options: LoadOptions | None = None, report: Report | None = None
) -> FileShape | None:
    """The shape of a file's bytes; None when it holds no row at all. A bad header is a
    LoadError (nothing of the file can be read). ``report`` is told the delimiter when it was
    detected and is not ``,``, and the columns ignored (a warning: ``FileShape.warnings``)."""
    options = options or LoadOptions()
    say: Report = report or _silent
    text = mac_line_ends(as_utf8(data, name, options.encoding))
    first = _first_meaningful_line(text)
    if first is None:
        return None
    index, start, end = first
    line = text[start:end].strip()
    delimiter = options.delimiter or detect_delimiter(line)
    if (delimiter is None or delimiter not in line) and column_key(_unquoted(line)) != "imei":
        return FileShape(text, index, start, None)  # plain text, one IMEI a line
    delimiter = delimiter or b","
    try:
        header = line.decode()
    except UnicodeDecodeError:
        raise LoadError(f"{name}:{index + 1}: the header is {NOT_UTF8}") from None
    where = f"{name}:{index + 1}"
    columns, ignored = _header_columns(header, delimiter, where, options)
    ignored = _worth_telling(ignored, len(columns), text[end + 1 :], delimiter)
    if options.delimiter is None and delimiter != b",":
        say(f"{name}: fields separated by {delimiter_label(delimiter)}")
    if ignored:
        say(f"{where}: {_ignoring(ignored)}")
    return FileShape(text, index, end + 1, columns, delimiter, 1 if ignored else 0)


def _worth_telling(
    ignored: list[Ignored], width: int, body: bytes, delimiter: bytes
) -> list[Ignored]:
    """The ignored columns a warning names: all but the unnamed ones at the end of the header
    whose cells are all empty (Excel's trailing delimiter), which are ignored silently."""
    trailing = 0
    for column in reversed(ignored):
        if column.name or column.number != width - trailing:
            break
        trailing += 1
    if trailing and blank_trailing_columns(body, delimiter, trailing):
        return ignored[: len(ignored) - trailing]
    return ignored


def _silent(_message: str) -> None:
    pass


def _unquoted(line: bytes) -> str:
    return line.decode(errors="replace").strip().strip('"')


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


def _header_columns(
    line: str, delimiter: bytes, where: str, options: LoadOptions
) -> tuple[list[str], list[Ignored]]:
    """Each column's known name ("" when ignored), and the columns ignored."""
    mapped = dict(options.column_map)
    try:
        cells = next(csv.reader([line], delimiter=delimiter.decode()))
    except csv.Error as exc:  # a carriage return alone inside the line, a huge field
        why = "a carriage return (\\r) alone inside the line" if "\r" in line else str(exc)
        raise LoadError(f"{where}: the header cannot be read as CSV: {why}") from None
    written = [" ".join(c.split()) for c in cells]
    columns: list[str] = []
    ignored: list[Ignored] = []
    for number, cell in enumerate(written, 1):
        key = column_key(cell)
        known = mapped.get(key, key)
        if known not in COLUMNS:
            ignored.append(Ignored(number, cell))
            known = ""
        elif known in columns:
            raise LoadError(f"{where}: column {known!r} appears twice")
        columns.append(known)
    _check_mapped(mapped, written, where)
    if "imei" not in columns:
        raise LoadError(_no_imei(where, written))
    if ignored and options.strict_columns:
        raise LoadError(f"{where}: {_unknown(ignored)}")
    return columns, ignored


def _check_mapped(mapped: dict[str, str], written: list[str], where: str) -> None:
    """Every ``--column NAME=...`` names a column of the header (else the mapping was mistyped
    and would be silently ignored)."""
    keys = {column_key(cell) for cell in written}
    for name in mapped:
        if name not in keys:
            raise LoadError(
                f"{where}: --column {name!r}: no such column in the header "
                f"(columns: {', '.join(written)})"
            )


def _no_imei(where: str, written: list[str]) -> str:
    if written and written[0].strip("' ").replace("-", "").replace(" ", "").isdigit():
        return (
            f"{where}: the first line is not a header: a CSV starts with the names of its "
            "columns (imei, and any of reason, reference, list, source, added, ...)"
        )
    return f"{where}: the header has no 'imei' column (map one with --column \"NAME=imei\")"


class Ignored(NamedTuple):
    """A column of the header that is neither known nor mapped: its (1-based) number and name
    as written ("" for none)."""

    number: int
    name: str

    def __str__(self) -> str:
        return repr(self.name.lower()) if self.name else f"{self.number} (no name)"


#: what a column is likely meant as, by a word in its name (the first that matches)
_LIKELY = (
    (("date", "time"), "added"),
    (("case", "ref", "report"), "reference"),
    (("reason", "cause"), "reason"),
)


def likely_column(name: str) -> str | None:
    """The known column an ignored one is likely meant as (``Case number``: reference)."""
    lowered = name.lower()
    for words, known in _LIKELY:
        if any(word in lowered for word in words):
            return known
    return None


def _mapping_advice(ignored: list[Ignored]) -> str:
    """``map with --column "Date=added"`` for the columns whose name says what they likely
    are, else the generic form."""
    hints = [
        f'--column "{column.name}={known}"'
        for column in ignored
        if column.name and (known := likely_column(column.name)) is not None
    ]
    if not hints:
        return 'map one with --column "NAME=COLUMN"'
    return "map with " + " ".join(hints)


def _named(ignored: list[Ignored]) -> str:
    plural = "s" if len(ignored) > 1 else ""
    return f"column{plural} {', '.join(map(str, ignored))}"


def _unknown(ignored: list[Ignored]) -> str:
    return (
        f"unknown {_named(ignored)} (known: {', '.join(COLUMNS)}; {_mapping_advice(ignored)}, "
        f"or load without --strict-columns to ignore {'them' if len(ignored) > 1 else 'it'})"
    )


def _ignoring(ignored: list[Ignored]) -> str:
    return f"ignoring {_named(ignored)} (known: {', '.join(COLUMNS)}; {_mapping_advice(ignored)})"


def blank_trailing_columns(body: bytes, delimiter: bytes, count: int) -> bool:
    """Whether the last ``count`` columns are empty in every row of ``body`` (Excel writes a
    trailing delimiter for a column without name or cells): each line that is not blank ends
    with ``count`` delimiters. Counted in C; a doubt (a quoted line end, say) answers False."""
    suffix = delimiter * count
    lines = body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
    blank = body.count(b"\n\n") + body.count(b"\n\r\n") + (1 if body.startswith(b"\n") else 0)
    ending = (
        body.count(suffix + b"\n")
        + body.count(suffix + b"\r\n")
        + (1 if body.endswith(suffix) else 0)
    )
    return ending == lines - blank
