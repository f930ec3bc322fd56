"""Reading a list file: its bytes, what shape it has, and the options that come with it.

Formats (detected from the first line that is not blank or a ``#`` comment):

* plain text: one IMEI (14, 15 or 16 digits) per line; blank lines and ``#`` comments skipped;
* CSV with a header naming some of ``imei, imei_last, imsi, list, reason, source, reference,
  added``; ``imei`` is required. ``imei_last`` makes the row a range, ``imsi`` an IMEI+IMSI pair;
  ``list`` and ``source`` override the command line's; ``added`` (ISO 8601 or epoch seconds)
  keeps an entry's original time, as ``eir export`` writes it;
* either one gzip-compressed (RFC 1952); ``-`` reads standard input. A UTF-8 byte order mark
  is skipped.
"""

from __future__ import annotations

import csv
import enum
import gzip
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from eir.errors import LoadError
from eir.model import ListName

COLUMNS = ("imei", "imei_last", "imsi", "list", "reason", "source", "reference", "added")
_BOM = b"\xef\xbb\xbf"

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

    @property
    def body(self) -> bytes:
        """The rows: the file from the first row's line on."""
        return self.text[self.rows_at :]

    @property
    def first_row(self) -> int:
        """The (1-based) line number of :attr:`body`'s first line."""
        return self.index + (1 if self.columns is None else 2)


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


def display_name(path: str) -> str:
    """A file's name in messages."""
    return "<stdin>" if path == "-" else path


def shape_of(data: bytes, name: str) -> FileShape | None:
    """The shape of a file's bytes; None when it holds no row at all. A bad header is a
    LoadError (nothing of the file can be read)."""
    text = data[len(_BOM) :] if data.startswith(_BOM) else data
    first = _first_meaningful_line(text)
    if first is None:
        return None
    index, start, end = first
    if not _is_header(text[start:end]):
        return FileShape(text, index, start, None)
    try:
        header = text[start:end].decode().strip()
    except UnicodeDecodeError:
        raise LoadError(f"{name}:{index + 1}: the header is not UTF-8 text") from None
    return FileShape(text, index, end + 1, _header_columns(header, name, index + 1))


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


def _is_header(line: bytes) -> bool:
    stripped = line.strip()
    return b"," in stripped or stripped.lower().lstrip(_BOM) in (b"imei", b'"imei"')


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
