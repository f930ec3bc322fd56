"""Device database files read into :class:`~eir.devices.record.Device` records, every bad row
told as ``file:line: message`` (pure: bytes in, records out).

Three kinds, told by the header (the first line that is not blank or a ``#`` comment; case,
spacing and quotes in it do not matter):

* ``gsma17``: the GSMA TAC database's 17-column layout, pipe separated;
* ``gsma20``: its 20-column layout, pipe separated;
* ``lab``: a CSV (``,`` ``;`` tab or ``|``) whose columns are :class:`Device` fields by name
  (``tac`` required; ``brand``, ``model``, ``device_type``, ``radio_interface``...).

What real files do and is taken: a byte order mark and CRLF line ends (the caller's
:func:`~eir.store.dialect.as_utf8` and the CSV reader), quoted fields, trailing pipes (empty
cells past the header), the allocation date as ``01-Jan-2015``, ``2015-01-01``,
``01/01/2015`` (day first) or ``20150101``. A TAC repeated with the same values is counted
and kept once; repeated with other values it is an error naming the first line (a loader
that keeps the last row silently loses the first device).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from eir.devices.record import FIELDS, Device

GSMA17 = (
    "TAC", "Marketing Name", "Internal Model Name", "Manufacturer", "Bands", "Allocation Date",
    "Country Code", "Fixed Code", "Manufacturer Code", "Radio Interface", "Brand Name",
    "Model Name", "Operating System", "NFC", "Bluetooth", "WLAN", "Device Type",
)  # fmt: skip
GSMA20 = (
    "TAC", "Marketing Name", "Manufacturer (or) Applicant", "Bands", "5G Bands", "LPWAN",
    "Radio Interface", "Brand Name", "Model Name", "Operating System", "NFC", "Bluetooth", "WLAN",
    "Device Type", "Removable UICC", "Removable EUICC", "NonRemovable UICC", "NonRemovable EUICC",
    "Simslot", "Imeiquantitysupport",
)  # fmt: skip
#: each layout's column -> Device field (columns not named here are not kept)
_GSMA_FIELDS = {
    "tac": "tac",
    "marketing name": "marketing_name",
    "internal model name": "",
    "manufacturer": "manufacturer",
    "manufacturer (or) applicant": "manufacturer",
    "bands": "bands",
    "allocation date": "allocation_date",
    "radio interface": "radio_interface",
    "brand name": "brand",
    "model name": "model",
    "operating system": "operating_system",
    "nfc": "nfc",
    "bluetooth": "bluetooth",
    "wlan": "wlan",
    "device type": "device_type",
    "removable uicc": "removable_uicc",
    "removable euicc": "removable_euicc",
    "nonremovable uicc": "nonremovable_uicc",
    "nonremovable euicc": "nonremovable_euicc",
    "simslot": "simslot",
    "imeiquantitysupport": "imei_quantity",
}
#: the columns a lab CSV may have: every Device field but ``source`` (the loader's)
LAB_COLUMNS = tuple(f for f in FIELDS if f != "source")
_SPACES = re.compile(r"\s+")
_MONTHS = {
    name: index + 1
    for index, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DATES = (
    (re.compile(r"(\d{1,2})[- ]([A-Za-z]{3})[a-z]*[- ](\d{4})"), "dmy-name"),
    (re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"), "ymd"),
    (re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})"), "dmy"),
    (re.compile(r"(\d{4})(\d{2})(\d{2})"), "ymd"),
)


def _name(column: str) -> str:
    return _SPACES.sub(" ", column.strip().strip('"').strip()).lower()


_LAYOUTS = {
    "gsma17": tuple(map(_name, GSMA17)),
    "gsma20": tuple(map(_name, GSMA20)),
}


@dataclass(slots=True)
class DeviceFile:
    """What a device file holds: its kind, its devices (sorted by TAC) and what was wrong."""

    name: str
    kind: str = ""
    devices: list[Device] = field(default_factory=list)
    rows: int = 0
    #: TACs repeated with the same values (kept once)
    duplicates: int = 0
    #: every bad row (``file:line: message``); the file is refused when there is any
    errors: list[str] = field(default_factory=list)


class _Layout:
    """A header read: the file's kind and, per column, the Device field it fills ("": none)."""

    def __init__(self, kind: str, fields: list[str], delimiter: str) -> None:
        self.kind = kind
        self.fields = fields
        self.delimiter = delimiter
        #: (cell index, Device field index) of each column kept
        self.positions = [(i, FIELDS.index(f)) for i, f in enumerate(fields) if f]
        self.source = FIELDS.index("source")


def decode_text(data: bytes, name: str) -> tuple[str, str | None]:
    """The file as text, or the ``file:line`` message of its first octet that is not UTF-8."""
    try:
        return data.decode(), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return "", (
            f"{name}:{line}: not UTF-8 text (octet 0x{data[exc.start]:02x}): name the file's "
            "encoding with --encoding NAME"
        )


def parse_devices(data: bytes, name: str) -> DeviceFile:
    """Every device of a file's bytes (UTF-8, no byte order mark): see the module doc."""
    out = DeviceFile(name)
    text, error = decode_text(data, name)
    if error is not None:
        out.errors.append(error)
        return out
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        out.errors.append(f"{name}:{line}: a NUL character (not a text file?)")
        return out
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = _header_index(lines)
    if start is None:
        out.errors.append(f"{name}:1: empty: no header (expected {_expected()})")
        return out
    layout = _layout(lines[start], name, start + 1, out.errors)
    if layout is None:
        return out
    out.kind = layout.kind
    seen: dict[str, tuple[int, Device]] = {}
    for number, cells in _rows(lines, start + 1, layout.delimiter, f"{name}:", out.errors):
        out.rows += 1
        device = _device(cells, layout, f"{name}:{number}", out.errors)
        if device is not None:
            _keep(device, number, seen, out, name)
    out.devices = [seen[tac][1] for tac in sorted(seen)]
    return out


def _keep(
    device: Device, number: int, seen: dict[str, tuple[int, Device]], out: DeviceFile, name: str
) -> None:
    """A device kept, unless its TAC came before: the same values are a duplicate, others an
    error naming the first line."""
    first = seen.get(device.tac)
    if first is None:
        seen[device.tac] = (number, device)
    elif first[1] == device:
        out.duplicates += 1
    else:
        out.errors.append(
            f"{name}:{number}: TAC {device.tac} is repeated with other values "
            f"(first at line {first[0]})"
        )


def _header_index(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return index
    return None


def _expected() -> str:
    return (
        f"the GSMA TAC database's 17-column header {'|'.join(GSMA17)}, its 20-column header "
        f"{'|'.join(GSMA20)}, or a CSV header with a tac column"
    )


def _layout(line: str, name: str, number: int, errors: list[str]) -> _Layout | None:
    delimiter = _delimiter(line)
    try:
        columns = [_name(c) for c in next(csv.reader([line], delimiter=delimiter))]
    except csv.Error as exc:
        errors.append(f"{name}:{number}: {exc}")
        return None
    while columns and not columns[-1]:
        columns.pop()  # trailing pipes
    for kind, names in _LAYOUTS.items():
        if tuple(columns) == names:
            return _Layout(kind, [_GSMA_FIELDS.get(c, "") for c in columns], delimiter)
    lab = [c.replace(" ", "_").replace("-", "_") for c in columns]
    if "tac" not in lab:
        errors.append(f"{name}:{number}: unknown header: expected {_expected()}")
        return None
    unknown = [c for c in lab if c not in LAB_COLUMNS]
    if unknown or len(set(lab)) != len(lab):
        what = f"unknown column {unknown[0]!r}" if unknown else "a column named twice"
        errors.append(
            f"{name}:{number}: {what} (a lab CSV's columns are {', '.join(LAB_COLUMNS)}; "
            f"or give the GSMA TAC database's own header)"
        )
        return None
    return _Layout("lab", lab, delimiter)


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in ("|", ",", ";", "\t")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _rows(
    lines: list[str], start: int, delimiter: str, where: str, errors: list[str]
) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each row after the header: blank lines and comments skipped.
    A row the CSV reader cannot read ends the reading, told as ``file:line``."""
    reader = csv.reader(io.StringIO("\n".join(lines[start:])), delimiter=delimiter)
    try:
        for cells in reader:
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if cells[0].lstrip().startswith("#"):
                continue
            yield start + reader.line_num, cells
    except csv.Error as exc:
        errors.append(f"{where}{start + reader.line_num}: {exc}")


_DATE = FIELDS.index("allocation_date")


def _device(cells: list[str], layout: _Layout, where: str, errors: list[str]) -> Device | None:
    width = len(layout.fields)
    while len(cells) > width and not cells[-1].strip():
        cells.pop()  # trailing pipes
    if len(cells) != width:
        errors.append(f"{where}: {len(cells)} fields where the header has {width}")
        return None
    values = [""] * len(FIELDS)
    for cell, position in layout.positions:
        values[position] = cells[cell].strip()
    values[layout.source] = layout.kind
    tac = values[0]
    bad_tac = tac_problem(tac)
    if bad_tac is not None:
        errors.append(f"{where}: {bad_tac}")
        return None
    written = values[_DATE]
    if written:
        iso = iso_date(written)
        if iso is None:
            errors.append(
                f"{where}: allocation date {written!r} is not a date (01-Jan-2015, "
                "2015-01-01, 01/01/2015 or 20150101)"
            )
            return None
        values[_DATE] = iso
    return Device._make(values)


def tac_problem(tac: str) -> str | None:
    """What is wrong with a TAC as a device file or an approved list writes it (None: it is
    8 ASCII digits): the one check of both."""
    if len(tac) == 8 and tac.isascii() and tac.isdigit():
        return None
    if tac.isascii() and tac.isdigit() and len(tac) < 8:
        return f"TAC {tac!r} is not 8 digits (a leading 0 lost by a spreadsheet?)"
    return f"TAC {tac!r} is not 8 digits"


@lru_cache(maxsize=1 << 16)
def iso_date(text: str) -> str | None:
    """A written allocation date as ``YYYY-MM-DD`` (None: not a date; "" stays "")."""
    text = text.strip()
    if not text:
        return ""
    for pattern, order in _DATES:
        found = pattern.fullmatch(text)
        if found is not None:
            return _date_of(found.groups(), order)
    return None


def _date_of(parts: tuple[str, ...], order: str) -> str | None:
    try:
        if order == "dmy-name":
            month = _MONTHS.get(parts[1].lower())
            if month is None:
                return None
            return date(int(parts[2]), month, int(parts[0])).isoformat()
        if order == "ymd":
            return date(int(parts[0]), int(parts[1]), int(parts[2])).isoformat()
        return date(int(parts[2]), int(parts[1]), int(parts[0])).isoformat()
    except ValueError:
        return None
