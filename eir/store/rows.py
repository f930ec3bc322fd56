"""The loader's reference path: a list file row by row, every row checked, every bad one
reported as ``file:line: reason``.

Where a row of a list file is checked: here. Each value goes through its one check in
:mod:`eir.store.fields`; this module adds what concerns a row as a whole (its number of
fields, a range's order, a range or a pair but not both). Files the bulk path
(:mod:`eir.store.bulk`) does not take, and files in which it finds any fault, come here; property
tests hold the bulk path to this one.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from eir.errors import IdentityError
from eir.identity import Imsi
from eir.model import ListName
from eir.store.fields import (
    check_source,
    check_text,
    controls_in,
    parse_added,
    parse_imei_key,
    parse_list,
)
from eir.store.formats import FileShape, LoadOptions, Report
from eir.store.records import Table

#: (reason, reference, added) of a row that has any of them
Fields = tuple[str, str, int]


@dataclass(slots=True)
class Row:
    """One valid row: its table's key, on one list from one source."""

    table: Table
    list: ListName
    source: str
    key: bytes
    fields: Fields | None
    where: tuple[int, int]  # (file index, line)


@dataclass(slots=True)
class Rows:
    """What the row path made of a file: its valid rows, and how many rows it read and
    found invalid (each reported)."""

    rows: list[Row] = field(default_factory=list)
    read: int = 0
    invalid: int = 0

    def fault(self, report: Report, message: str) -> None:
        """Count one invalid row and report it."""
        self.read += 1
        self.invalid += 1
        report(message)


def read_rows(shape: FileShape, file: int, name: str, options: LoadOptions, report: Report) -> Rows:
    """Every row of a file (``file``: its index in the load, ``name``: in messages)."""
    lines = shape.text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = Rows()
    if shape.columns is None:
        _plain_rows(lines, shape.index, file, name, options, out, report)
    else:
        _csv_rows(
            lines,
            shape.index,
            shape.columns,
            file,
            name,
            options,
            out,
            report,
            shape.delimiter.decode(),
        )
    return out


def _plain_rows(
    lines: list[bytes],
    start: int,
    file: int,
    name: str,
    options: LoadOptions,
    out: Rows,
    report: Report,
) -> None:
    for number in range(start + 1, len(lines) + 1):
        raw = lines[number - 1].strip()
        if not raw or raw.startswith(b"#"):
            continue
        try:
            text = raw.decode()
            key = parse_imei_key(text)
        except UnicodeDecodeError:
            out.fault(report, f"{name}:{number}: not UTF-8 text")
            continue
        except IdentityError as exc:
            out.fault(report, f"{name}:{number}: {exc}")
            continue
        out.read += 1
        out.rows.append(
            Row(Table.IMEI, options.list, options.source, key.encode(), None, (file, number))
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


def _csv_fields(cells: list[str], at: _Columns, controls: bool) -> Fields | None:
    reason = check_text(_cell(cells, at.reason), "reason", controls)
    reference = check_text(_cell(cells, at.reference), "reference", controls)
    added_text = _cell(cells, at.added)
    added = parse_added(added_text) if added_text else 0
    return (reason, reference, added) if reason or reference or added else None


def _csv_row(
    cells: list[str], at: _Columns, options: LoadOptions, where: tuple[int, int], controls: bool
) -> Row:
    imei_text = cells[at.imei].strip()
    imei_key = parse_imei_key(imei_text)
    last, imsi = _cell(cells, at.last), _cell(cells, at.imsi)
    if last and imsi:
        raise IdentityError("a row is a range (imei_last) or a pair (imsi), not both")
    list_text = _cell(cells, at.list)
    list_name = parse_list(list_text) if list_text else options.list
    source = _cell(cells, at.source)
    source = check_source(source) if source else options.source
    fields = _csv_fields(cells, at, controls)
    if last:
        last_key = parse_imei_key(last)
        if last_key < imei_key:
            raise IdentityError(f"range ends ({last}) before it starts ({imei_text})")
        return Row(Table.RANGE, list_name, source, (imei_key + last_key).encode(), fields, where)
    if imsi:
        imsi_digits = Imsi.parse(imsi).digits
        return Row(Table.PAIR, list_name, source, (imei_key + imsi_digits).encode(), fields, where)
    return Row(Table.IMEI, list_name, source, imei_key.encode(), fields, where)


def _csv_text(lines: list[bytes], start: int, name: str, out: Rows, report: Report) -> str:
    """The CSV body after the header as text; a line that is not UTF-8 is reported and left
    blank (the others are parsed)."""
    try:
        return b"\n".join(lines[start + 1 :]).decode()
    except UnicodeDecodeError:
        pass
    good: list[bytes] = []
    for number in range(start + 2, len(lines) + 1):
        try:
            lines[number - 1].decode()
        except UnicodeDecodeError:
            out.fault(report, f"{name}:{number}: not UTF-8 text")
            good.append(b"")
        else:
            good.append(lines[number - 1])
    return b"\n".join(good).decode()


def _csv_rows(
    lines: list[bytes],
    start: int,
    columns: list[str],
    file: int,
    name: str,
    options: LoadOptions,
    out: Rows,
    report: Report,
    delimiter: str = ",",
) -> None:
    at = _Columns(columns)
    text = _csv_text(lines, start, name, out, report)
    # A quoted field may hold a line break: then every field is checked.
    controls = '"' in text or controls_in(text)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter)
    offset = start + 1  # line numbers of the body start after the header
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.fault(report, f"{name}:{offset + reader.line_num}: bad CSV: {exc}")
            continue
        number = offset + reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if cells[0].lstrip().startswith("#"):
            continue
        if len(cells) != at.count:
            out.fault(report, f"{name}:{number}: {len(cells)} fields, the header has {at.count}")
            continue
        try:
            out.rows.append(_csv_row(cells, at, options, (file, number), controls))
        except IdentityError as exc:
            out.fault(report, f"{name}:{number}: {exc}")
            continue
        out.read += 1
