"""Parsed list files -> one :class:`~eir.store.batch.Batch`: the groups, their duplicates
(each reported with the row it repeats) and the counts.

Rows of the row path are grouped by (table, list, source), sorted and made unique here. Bulk
blocks are grouped by :mod:`eir.store.bulk`; a block it returns as
:class:`~eir.store.bulk.Faulty` is read again by the row path (:func:`eir.store.rows.read_rows`),
which names each bad row. A CSV block stands alone (one file, nothing else in the load), or
goes row by row; IMEI blocks whose list and source also came row by row are folded into those
rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from eir.errors import LoadError
from eir.model import ListName
from eir.store.batch import Batch, Group
from eir.store.bulk import (
    CsvBlock,
    Faulty,
    ImeiBlock,
    group_csv_block,
    group_imei_blocks,
)
from eir.store.formats import LoadOptions, Report
from eir.store.records import NO_DIGIT, Table
from eir.store.rows import Row, Rows, read_rows

GroupKey = tuple[Table, ListName, str]
_NO_TIMES = (0, 0)


@dataclass(slots=True)
class Parsed:
    """What the loader made of one file: rows of the row path, or one bulk block."""

    rows: list[Row] = field(default_factory=list)
    blocks: list[ImeiBlock] = field(default_factory=list)
    csv_blocks: list[CsvBlock] = field(default_factory=list)
    read: int = 0
    invalid: int = 0
    warnings: int = 0

    @classmethod
    def of_rows(cls, rows: Rows) -> Parsed:
        return cls(rows=rows.rows, read=rows.read, invalid=rows.invalid, warnings=rows.warnings)


def assemble(
    parsed: Sequence[Parsed], names: list[str], options: LoadOptions, report: Report
) -> Batch:
    """The batch of a load's parsed files (``names``: the files, in messages). Raises LoadError
    when rows are invalid (unless ``skip_invalid``); every bad row has been reported by then."""
    work = _Assembly(names, options, report)
    for one in parsed:
        work.take(one)
    return work.batch_of()


class _Assembly:
    def __init__(self, names: list[str], options: LoadOptions, report: Report) -> None:
        self.names, self.options, self.report = names, options, report
        self.batch = Batch(files=names)
        self.blocks: list[ImeiBlock] = []
        self.csv_blocks: list[CsvBlock] = []
        self.rows: dict[GroupKey, list[Row]] = {}
        #: the group the bulk path's blocks belong to
        self.bulk_key: GroupKey = (Table.IMEI, options.list, options.source)

    def take(self, parsed: Parsed) -> None:
        self.batch.rows += parsed.read
        self.batch.invalid += parsed.invalid
        self.batch.warnings += parsed.warnings
        self.blocks.extend(parsed.blocks)
        self.csv_blocks.extend(parsed.csv_blocks)
        for row in parsed.rows:
            self.rows.setdefault((row.table, row.list, row.source), []).append(row)

    def row_by_row(self, blocks: Sequence[ImeiBlock | CsvBlock]) -> None:
        """Read these blocks' files again, row by row: their bulk check found a fault (the row
        path names each bad row), or their rows must merge with others of their group."""
        for block in blocks:
            if isinstance(block, CsvBlock):
                self.csv_blocks.remove(block)
            else:
                self.blocks.remove(block)
            self.batch.rows -= block.count
            name = self.names[block.file]
            self.take(
                Parsed.of_rows(read_rows(block.shape, block.file, name, self.options, self.report))
            )

    def batch_of(self) -> Batch:
        csv_blocks = self.csv_blocks
        if len(csv_blocks) > 1 or (csv_blocks and (self.blocks or self.rows)):
            self.row_by_row(list(csv_blocks))  # a CSV block stands alone or goes row by row
        csv_groups = self._csv_groups()
        if self.blocks and self.bulk_key in self.rows:
            self._fold_blocks()
        imei_group = self._imei_group()
        batch = self.batch
        if batch.invalid and not self.options.skip_invalid:
            raise LoadError(
                f"eir: {batch.invalid} invalid rows: nothing was changed "
                "(fix them, or take the others with --skip-invalid)"
            )
        for group in [imei_group, *csv_groups]:
            if group is not None and group.keys:
                batch.groups.append(group)
        for rows in self.rows.values():
            group, duplicates = group_rows(rows, self.names, self.report)
            batch.groups.append(group)
            batch.duplicates += duplicates
        batch.groups.sort(key=lambda g: (list(Table).index(g.table), g.list, g.source))
        return batch

    def _csv_groups(self) -> list[Group]:
        """The groups of the CSV block, when there is one."""
        if not self.csv_blocks:
            return []
        groups, duplicates = group_csv_block(self.csv_blocks[0], self.names, self.report)
        self.batch.duplicates += duplicates
        return groups

    def _imei_group(self) -> Group | None:
        """The IMEI blocks' group; blocks whose Luhn check failed go row by row."""
        while self.blocks:
            grouped = group_imei_blocks(self.blocks, self.names, self.report, self.options)
            if isinstance(grouped, Faulty):
                self.row_by_row(grouped.blocks)
                continue
            self.batch.duplicates += grouped[1]
            return grouped[0]
        return None

    def _fold_blocks(self) -> None:
        """The same list and source came both ways: fold the IMEI blocks' rows into the row
        path's (blocks whose Luhn check failed are read row by row first)."""
        self.row_by_row([block for block in self.blocks if not block.luhn_ok()])
        options, rows = self.options, self.rows[self.bulk_key]
        for block in self.blocks:
            for offset, key in enumerate(block.keys()):
                where = (block.file, block.first_line + offset)
                rows.append(Row(Table.IMEI, options.list, options.source, key, None, where))
        rows.sort(key=attrgetter("where"))
        self.blocks.clear()


def _where(names: list[str], where: tuple[int, int]) -> str:
    return f"{names[where[0]]}:{where[1]}"


def _shown(table: Table, key: bytes) -> str:
    """A key as messages write it: ``IMEI k``, ``range first-last``, ``pair imei+imsi`` (as
    :meth:`eir.model.Match.describe` does)."""
    text = key.decode()
    if table is Table.RANGE:
        return f"range {text[:14]}-{text[14:]}"
    if table is Table.PAIR:
        return f"pair {text[:14]}+{text[14:]}"
    return f"IMEI {text}"


def group_rows(rows: list[Row], names: list[str], report: Report) -> tuple[Group, int]:
    """The group of the row path's rows of one (table, list, source): keys sorted and unique,
    and its count of duplicates (each reported; the first row is kept)."""
    rows.sort(key=attrgetter("key"))  # stable: equal keys stay in file order
    keys: list[bytes] = []
    fields: list[tuple[str, str, int]] = []
    digits = bytearray()
    lines: list[tuple[int, int]] = []
    times: list[tuple[int, int]] = []
    duplicates = 0
    previous: Row | None = None
    for row in rows:
        if previous is not None and row.key == previous.key:
            duplicates += 1
            report(
                f"{_where(names, row.where)}: duplicate of {_shown(row.table, row.key)} "
                f"on {_where(names, previous.where)} (first kept)"
            )
            continue
        previous = row
        keys.append(row.key)
        fields.append(row.fields or ("", "", 0))
        digits.append(row.digit)
        lines.append(row.where)
        times.append(row.times or _NO_TIMES)
    first = rows[0]
    has_fields = any(f != ("", "", 0) for f in fields)
    group = Group(first.table, first.list, first.source, keys, fields if has_fields else None)
    group.times = times if any(t != _NO_TIMES for t in times) else None
    if first.table is Table.PAIR:
        group.lines = lines  # what pairs.max_per_imei names (eir.store.pair_limit)
    if digits.strip(bytes([NO_DIGIT])):  # some IMEI was written with its check digit
        group.digits = bytes(digits)
    return group, duplicates
