"""The loader's reference path: a list file row by row, every row checked, every bad one
reported as ``file:line: reason``.

Where a row of a list file is checked: here. Each value goes through its one check in
:mod:`eir.store.fields`; this module adds what concerns a row as a whole (its number of
fields, a range's order, a range or a pair but not both) and the warnings a row gets (a check
digit listed with ``--check-digit list``, a lost leading 0), each told as ``file:line:
message`` and counted. Files the bulk path
(:mod:`eir.store.bulk`) does not take, and files in which it finds any fault, come here; property
tests hold the bulk path to this one.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from eir.errors import IdentityError
from eir.identity import Imsi
from eir.model import ListName, is_expired
from eir.store.dates import DateReader
from eir.store.dialect import NOT_UTF8
from eir.store.fields import (
    ListedImei,
    check_source,
    check_text,
    controls_in,
    parse_imei,
    parse_list,
)
from eir.store.formats import FileShape, LoadOptions, Report
from eir.store.records import NO_DIGIT, Table
from eir.store.times import check_times, parse_time, time_text

#: (reason, reference, added) of a row that has any of them
Fields = tuple[str, str, int]


@dataclass(slots=True)
class Row:
    """One valid row: its table's key, on one list from one source. ``digit``: the check digit
    its IMEI was written with, or :data:`~eir.store.records.NO_DIGIT`."""

    table: Table
    list: ListName
    source: str
    key: bytes
    fields: Fields | None
    where: tuple[int, int]  # (file index, line)
    digit: int = NO_DIGIT
    #: (effective, expires), seconds since the epoch, 0: none; None: neither
    times: tuple[int, int] | None = None


@dataclass(slots=True)
class Rows:
    """What the row path made of a file: its valid rows, and how many rows it read and
    found invalid, and how many warnings it told (each reported)."""

    rows: list[Row] = field(default_factory=list)
    read: int = 0
    invalid: int = 0
    warnings: int = 0

    def fault(self, report: Report, message: str) -> None:
        """Count one invalid row and report it."""
        self.read += 1
        self.invalid += 1
        report(message)

    def warn(self, report: Report, message: str) -> None:
        """Count one warning and report it (the row is loaded)."""
        self.warnings += 1
        report(message)


def read_rows(shape: FileShape, file: int, name: str, options: LoadOptions, report: Report) -> Rows:
    """Every row of a file (``file``: its index in the load, ``name``: in messages)."""
    lines = shape.text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    reader = _RowReader(file, name, options, report)
    if shape.columns is None:
        reader.plain_rows(lines, shape.index)
    else:
        reader.csv_rows(lines, shape.index, shape.columns, shape.delimiter)
    return reader.out


class _Columns:
    """Where each known column sits in a CSV row (-1: absent)."""

    def __init__(self, columns: list[str]) -> None:
        self.count = len(columns)
        at = {name: index for index, name in enumerate(columns) if name}
        self.imei = at["imei"]
        self.last = at.get("imei_last", -1)
        self.imsi = at.get("imsi", -1)
        self.list = at.get("list", -1)
        self.source = at.get("source", -1)
        self.reason = at.get("reason", -1)
        self.reference = at.get("reference", -1)
        self.added = at.get("added", -1)
        self.effective = at.get("effective", -1)
        self.expires = at.get("expires", -1)


def _cell(cells: list[str], index: int) -> str:
    return cells[index].strip() if index >= 0 else ""


class _RowReader:
    """The rows of one file: each checked, made a :class:`Row` or reported as a fault, and its
    warnings reported."""

    def __init__(self, file: int, name: str, options: LoadOptions, report: Report) -> None:
        self.file, self.name, self.options, self.report = file, name, options, report
        self.dates = DateReader(options.date_format, options.timezone)
        self.out = Rows()

    def imei(self, text: str, warnings: list[str]) -> ListedImei:
        listed = parse_imei(text, self.options.check_digit, self.options.strict)
        if listed.warning is not None:
            warnings.append(listed.warning)
        return listed

    def take(self, row: Row, warnings: list[str]) -> None:
        """A valid row, and the warnings it got."""
        self.out.read += 1
        self.out.rows.append(row)
        for warning in warnings:
            self.out.warn(self.report, f"{self.name}:{row.where[1]}: {warning}")

    def plain_rows(self, lines: list[bytes], start: int) -> None:
        options, out, report = self.options, self.out, self.report
        for number in range(start + 1, len(lines) + 1):
            raw = lines[number - 1].strip()
            if not raw or raw.startswith(b"#"):
                continue
            warnings: list[str] = []
            try:
                listed = self.imei(raw.decode(), warnings)
            except UnicodeDecodeError:
                out.fault(report, f"{self.name}:{number}: {NOT_UTF8}")
                continue
            except IdentityError as exc:
                out.fault(report, f"{self.name}:{number}: {exc}")
                continue
            where = (self.file, number)
            row = Row(
                Table.IMEI, options.list, options.source, listed.key.encode(), None, where,
                listed.digit, self.row_times(0, 0),
            )  # fmt: skip
            self.take(row, warnings)

    def csv_fields(self, cells: list[str], at: _Columns, controls: bool) -> Fields | None:
        reason = check_text(_cell(cells, at.reason), "reason", controls)
        reference = check_text(_cell(cells, at.reference), "reference", controls)
        added_text = _cell(cells, at.added)
        added = self.dates(added_text) if added_text else 0
        return (reason, reference, added) if reason or reference or added else None

    def row_times(self, effective: int, expires: int) -> tuple[int, int] | None:
        """A row's times: its own, else the load's (``--grace``, ``--expires-in``); None for
        none. IdentityError when its ``expires`` is not after its ``effective``."""
        effective = effective or self.options.effective
        expires = expires or self.options.expires
        if not (effective or expires):
            return None
        return check_times(effective, expires)

    def csv_times(self, cells: list[str], at: _Columns) -> tuple[int, int] | None:
        effective = parse_time(_cell(cells, at.effective), "effective")
        expires = parse_time(_cell(cells, at.expires), "expires")
        if self.options.now and is_expired(expires, self.options.now):
            raise IdentityError(f"expires: {time_text(expires)} is past")
        return self.row_times(effective, expires)

    def csv_row(
        self, cells: list[str], at: _Columns, where: tuple[int, int], controls: bool
    ) -> tuple[Row, list[str]]:
        """The row of a CSV line, and its warnings."""
        warnings: list[str] = []
        imei_text = cells[at.imei].strip()
        imei = self.imei(imei_text, warnings)
        last, imsi = _cell(cells, at.last), _cell(cells, at.imsi)
        if last and imsi:
            raise IdentityError("a row is a range (imei_last) or a pair (imsi), not both")
        list_text = _cell(cells, at.list)
        list_name = parse_list(list_text) if list_text else self.options.list
        source = _cell(cells, at.source)
        source = check_source(source) if source else self.options.source
        fields = self.csv_fields(cells, at, controls)
        times = self.csv_times(cells, at)
        if last:
            last_key = self.imei(last, warnings).key
            if last_key < imei.key:
                raise IdentityError(f"range ends ({last}) before it starts ({imei_text})")
            key = (imei.key + last_key).encode()
            return Row(Table.RANGE, list_name, source, key, fields, where, times=times), warnings
        if imsi:
            key = (imei.key + Imsi.parse(imsi).digits).encode()
            row = Row(Table.PAIR, list_name, source, key, fields, where, imei.digit, times)
            return row, warnings
        key = imei.key.encode()
        return Row(Table.IMEI, list_name, source, key, fields, where, imei.digit, times), warnings

    def csv_text(self, lines: list[bytes], start: int) -> str:
        """The CSV body after the header as text; a line that is not UTF-8 is reported and
        left blank (the others are parsed)."""
        try:
            return b"\n".join(lines[start + 1 :]).decode()
        except UnicodeDecodeError:
            pass
        good: list[bytes] = []
        for number in range(start + 2, len(lines) + 1):
            try:
                lines[number - 1].decode()
            except UnicodeDecodeError:
                self.out.fault(self.report, f"{self.name}:{number}: {NOT_UTF8}")
                good.append(b"")
            else:
                good.append(lines[number - 1])
        return b"\n".join(good).decode()

    def lone_returns(self, text: str, start: int) -> str:
        """The body with each line holding a carriage return alone (not ending a CRLF)
        reported and left blank: csv would take it for a line end, cut the row in two and
        count lines apart from the file's."""
        body = text.split("\n")
        for index, line in enumerate(body):
            if "\r" in line.rstrip("\r"):
                number = start + 2 + index
                self.out.fault(
                    self.report,
                    f"{self.name}:{number}: a carriage return (\\r) alone inside the line",
                )
                body[index] = ""
        return "\n".join(body)

    def csv_rows(
        self, lines: list[bytes], start: int, columns: list[str], delimiter: bytes
    ) -> None:
        at = _Columns(columns)
        text = self.csv_text(lines, start)
        if "\r" in text:
            text = self.lone_returns(text, start)
        # A quoted field may hold a line break: then every field is checked.
        controls = '"' in text or controls_in(text)
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=delimiter.decode(), strict=True
        )
        offset = start + 1  # line numbers of the body start after the header
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                self.out.fault(
                    self.report, f"{self.name}:{offset + reader.line_num}: bad CSV: {exc}"
                )
                continue
            self.csv_line(cells, at, offset + reader.line_num, controls)

    def csv_line(self, cells: list[str], at: _Columns, number: int, controls: bool) -> None:
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            return
        if cells[0].lstrip().startswith("#"):
            return
        out, report, name = self.out, self.report, self.name
        if len(cells) != at.count:
            out.fault(report, f"{name}:{number}: {len(cells)} fields, the header has {at.count}")
            return
        try:
            row, warnings = self.csv_row(cells, at, (self.file, number), controls)
        except IdentityError as exc:
            out.fault(report, f"{name}:{number}: {exc}")
            return
        self.take(row, warnings)
