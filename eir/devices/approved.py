"""The national approved-models list read from a file: TACs, or brand and model, matched
case-insensitively (pure).

A file is text or a CSV, one entry a row:

* without a header: each row an 8-digit TAC, or ``brand,model`` (``,`` ``;`` tab or ``|``);
* with a header naming ``tac`` and/or ``brand`` and ``model`` (in any case): a row with a TAC
  is a TAC, else its brand and model (both needed).

Blank lines and ``#`` comments are skipped. An entry written twice is counted and kept once.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

from eir.devices.formats import decode_text, tac_problem
from eir.devices.packing import Approved, pack_approved

_HEADER_NAMES = {"tac", "brand", "model"}


@dataclass(slots=True)
class ApprovedFile:
    """What an approved-models file holds, sorted by stored key, and what was wrong."""

    name: str
    entries: list[Approved] = field(default_factory=list)
    rows: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


def parse_approved(data: bytes, name: str) -> ApprovedFile:
    """Every entry of an approved-models file's bytes (UTF-8, no byte order mark)."""
    out = ApprovedFile(name)
    text, error = decode_text(data, name)
    if error is not None:
        out.errors.append(error)
        return out
    rows = list(_rows(text, name, out.errors))
    columns: list[str] | None = None
    if rows and _is_header(rows[0][1]):
        columns = [c.strip().lower() for c in rows[0][1]]
        rows = rows[1:]
    kept: dict[bytes, Approved] = {}
    for number, cells in rows:
        out.rows += 1
        entry = _entry(cells, columns)
        if isinstance(entry, str):
            out.errors.append(f"{name}:{number}: {entry}")
            continue
        key, _ = pack_approved(entry)
        if key in kept:
            out.duplicates += 1
        else:
            kept[key] = entry
    out.entries = [kept[k] for k in sorted(kept)]
    return out


def _rows(text: str, name: str, errors: list[str]) -> list[tuple[int, list[str]]]:
    out = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        delimiter = max((",", ";", "\t", "|"), key=stripped.count)
        try:
            cells = next(csv.reader([stripped], delimiter=delimiter))
        except csv.Error as exc:
            errors.append(f"{name}:{number}: {exc}")
            continue
        out.append((number, [c.strip() for c in cells]))
    return out


def _is_header(cells: list[str]) -> bool:
    names = {c.strip().lower() for c in cells}
    return bool(names & _HEADER_NAMES) and not any(tac_problem(c) is None for c in cells)


def _entry(cells: list[str], columns: list[str] | None) -> Approved | str:
    """The entry of a row, or what is wrong with it."""
    if columns is not None:
        values = dict(zip(columns, cells, strict=False))
        tac = values.get("tac", "")
        if tac:
            return _tac_entry(tac)
        brand, model = values.get("brand", ""), values.get("model", "")
    elif len(cells) == 1:
        if not cells[0].isdigit():
            return f"{cells[0]!r} is neither a TAC (8 digits) nor brand,model"
        return _tac_entry(cells[0])
    elif len(cells) == 2:
        brand, model = cells
    else:
        return f"{len(cells)} fields: expected a TAC or brand,model"
    if not brand or not model:
        return "a model needs both its brand and its model (or give a TAC)"
    if "\x00" in brand + model:
        return "a NUL character"
    return Approved(brand=brand, model=model)


def _tac_entry(text: str) -> Approved | str:
    bad = tac_problem(text)
    return Approved(tac=text) if bad is None else bad
