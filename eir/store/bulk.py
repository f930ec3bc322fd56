"""The loader's bulk path: whole files of the common shapes validated and grouped in a few numpy
passes, with the rules of :mod:`eir.store.fields` applied to whole columns.

* One IMEI a row (plain text, or a CSV of only ``imei``): :func:`imei_block` checks every
  row's width and digits in one pass; the keys are sorted as integers, with the Luhn check of
  15-digit rows running on another core meanwhile.
* A CSV of any of ``imei, reason, reference, source, list, added`` and ignored columns, in
  any order and with any delimiter: :func:`csv_block` reads its columns
  (:mod:`eir.store.columns`); :func:`group_csv_block` sorts the rows by (list, source, key)
  and packs each group's stored values (:mod:`eir.store.entries`).

A file that is not exactly so is not taken (None): the row path (:mod:`eir.store.rows`) reads
it. An IMEI block whose background Luhn check fails comes back from :func:`group_imei_blocks`
as :class:`Faulty`: the caller hands it to the row path, which names every bad row. Property
tests hold this path to the row path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from eir.model import ListName
from eir.store.batch import Group
from eir.store.columns import ALLOCATED_RBI, DOUBLED_DIGIT, PLAIN_DIGIT, Columns, read_columns
from eir.store.entries import Entries, Rows, pack_entries
from eir.store.fields import IMEI_WIDTHS
from eir.store.formats import FileShape, LoadOptions, Report
from eir.store.records import NO_DIGIT, Table, entry_code, entry_prefix

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


@dataclass(slots=True, eq=False)  # identity: two blocks are never "equal" arrays
class ImeiBlock:
    """A file's own fixed-width lines of one IMEI each, on one list and source. ``luhn`` is
    the check of 15-digit rows, still running on another core."""

    table: U8  # shape (n, width + 1): digits then the line end
    file: int
    first_line: int
    shape: FileShape  # the whole file, to read row by row should the Luhn check fail
    luhn: Future[bool] | None = None

    @property
    def digits(self) -> U8:
        """The 14 digits of each row's key (a view: no copy)."""
        return self.table[:, :14]

    def keys(self) -> list[bytes]:
        """Each row's 14-digit key, in file order."""
        keys: list[bytes] = np.ascontiguousarray(self.digits).view("S14").ravel().tolist()
        return keys

    def check_digits(self) -> U8:
        """Each row's check digit as written (0 to 9), or NO_DIGIT for 14 and 16 digits."""
        if self.table.shape[1] == 16:  # 15 digits and the line end
            return self.table[:, 14] - np.uint8(48)
        return np.full(len(self.table), NO_DIGIT, dtype=np.uint8)

    def luhn_ok(self) -> bool:
        return self.luhn is None or self.luhn.result()

    @property
    def count(self) -> int:
        return len(self.table)


Block = ImeiBlock


@dataclass(slots=True, eq=False)
class CsvBlock:
    """A CSV read in bulk (:mod:`eir.store.columns`): its rows' columns."""

    columns: Columns
    file: int
    first_line: int
    shape: FileShape  # the whole file, to read row by row should it not stand alone

    @property
    def count(self) -> int:
        return len(self.columns.keys)


@dataclass(frozen=True, slots=True)
class Faulty:
    """Blocks whose background Luhn check found a wrong check digit: the row path must read
    them (it names each bad row). Nothing has been reported of them."""

    blocks: list[Block]


def luhn_ok(table: U8) -> bool:
    """Every row of 15 ASCII digits ends in its Luhn digit (column-wise table look-ups)."""
    total = np.zeros(len(table), dtype=np.uint8)  # at most 8 * 9 + 7 * 9: no overflow
    for column in range(0, 15, 2):
        total += PLAIN_DIGIT[table[:, column]]
    for column in range(1, 14, 2):
        total += DOUBLED_DIGIT[table[:, column]]
    return not np.any(total % np.uint8(10))


def _unix_lines(body: bytes) -> bytes | None:
    """Lines ending in LF, the last one too; None when a CR stands anywhere but before an LF."""
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n")
        if b"\r" in body:
            return None
    return body if body.endswith(b"\n") else body + b"\n"


def _check_luhn(block: Block, table: U8, pool: Executor | None) -> bool:
    """Start (with a ``pool``) or make the Luhn check of ``table``'s rows; False when it
    failed already."""
    if pool is not None:
        block.luhn = pool.submit(luhn_ok, table)
        return True
    return luhn_ok(table)


def imei_block(shape: FileShape, file: int, pool: Executor | None) -> ImeiBlock | None:
    """Fixed-width lines of 14/15/16 digits, all valid; None when anything is not so.

    Every check is one pass in C: line ends where a fixed width puts them, nothing but digits
    and line ends, and (for 15 digits) the Luhn digit of every row. With a ``pool`` the Luhn
    check runs there (numpy lets go of the GIL) while the caller sorts the keys.
    """
    body = _unix_lines(shape.body)
    if body is None:
        return None
    width = body.find(b"\n")
    if width not in IMEI_WIDTHS or len(body) % (width + 1):
        return None
    rows = len(body) // (width + 1)
    if body[width :: width + 1] != b"\n" * rows or body.translate(None, b"0123456789\n"):
        return None
    if body.count(b"\n") != rows:
        return None  # a blank line: the line ends are not where a fixed width puts them
    if width == 14 and not _allocated(body, rows):
        return None
    table: U8 = np.frombuffer(body, dtype=np.uint8).reshape(rows, width + 1)
    block = ImeiBlock(table, file, shape.first_row, shape)
    if width == 15 and not _check_luhn(block, table, pool):
        return None
    return block


def _allocated(body: bytes, rows: int) -> bool:
    """Whether every line of 14 digits starts with an allocated Reporting Body Identifier."""
    lines = np.frombuffer(body, dtype=np.uint8).reshape(rows, 15)
    pairs = lines[:, 0].astype(np.int64) * 10 + lines[:, 1] - 48 * 11
    return bool(ALLOCATED_RBI[pairs].all())


def csv_block(
    shape: FileShape, options: LoadOptions, file: int, tick: Callable[[int], None] | None = None
) -> CsvBlock | None:
    """A CSV of the bulk path's columns, read in bulk; None sends it to the row path.
    ``tick`` is told of the bytes checked, step by step."""
    columns = read_columns(shape, options, tick)
    return None if columns is None else CsvBlock(columns, file, shape.first_row, shape)


def as_int(digits: U8) -> I64:
    """Rows of 14 ASCII digits as integers (column by column: no n x 14 temporary)."""
    values = np.zeros(len(digits), dtype=np.int64)
    for column in range(14):
        values *= 10
        values += digits[:, column]
    values -= 48 * 11111111111111
    return values


_ASCII_PAIRS = (
    np.array([[48 + a, 48 + b] for a in range(10) for b in range(10)], dtype=np.uint8)
    .view(np.uint16)
    .ravel()
)


def ascii_keys(values: I64) -> U8:
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


def _faulty(blocks: Sequence[Block]) -> Faulty | None:
    """The blocks whose Luhn check failed (waiting for it), or None when all passed."""
    failed = [block for block in blocks if not block.luhn_ok()]
    return Faulty(failed) if failed else None


def report_duplicates(
    blocks: Sequence[ImeiBlock | CsvBlock],
    values: I64,
    names: list[str],
    report: Report,
    keys: I64 | None = None,
) -> None:
    """Name every repeated row and the earlier row it repeats (rare: the slow way is fine).
    ``values`` are what makes rows equal: the keys as integers (``keys``, when they are
    not), with their group."""
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
        key = f"{int((values if keys is None else keys)[row]):014d}"
        report(f"{locate(row)}: duplicate of IMEI {key} on {locate(kept)} (first kept)")


def _is_sorted(values: I64) -> bool:
    return len(values) < 2 or bool(np.all(values[1:] > values[:-1]))


def group_imei_blocks(
    blocks: list[ImeiBlock], names: list[str], report: Report, options: LoadOptions
) -> tuple[Group, int] | Faulty:
    """The group of IMEI blocks (one list and source): sorted unique keys, with the keys as
    integers in ``numbers`` (a replace matches them against the store's) and the check digits
    they were written with, and its count of duplicates (reported, the first row is kept);
    Faulty, before anything is reported, when a block's background Luhn check failed.

    The keys are sorted as integers and written back as ASCII: cheaper than sorting rows.
    """
    digits = blocks[0].digits if len(blocks) == 1 else np.concatenate([b.digits for b in blocks])
    checks = np.concatenate([b.check_digits() for b in blocks])
    values = as_int(digits)
    if _is_sorted(values):
        faulty = _faulty(blocks)
        if faulty is not None:
            return faulty
        keys: list[bytes] = np.ascontiguousarray(digits).view("S14").ravel().tolist()
        return _imei_group(keys, values, checks, options), 0
    plain = bool(np.all(checks == NO_DIGIT))
    # with the check digit in the low 4 bits: one sort orders both (while the Luhn check may
    # still run on the other core)
    ordered = np.sort(values) if plain else np.sort(values * 16 + checks)
    faulty = _faulty(blocks)
    if faulty is not None:
        return faulty
    if not plain:
        ordered, checks = ordered >> 4, (ordered & 15).astype(np.uint8)
    fresh = np.r_[True, ordered[1:] != ordered[:-1]]
    duplicates = len(ordered) - int(np.count_nonzero(fresh))
    if duplicates:
        report_duplicates(blocks, values, names, report)
        ordered = ordered[fresh]
        first = np.argsort(values, kind="stable")[fresh]  # the row kept of each key
        checks = np.concatenate([b.check_digits() for b in blocks])[first]
    keys = ascii_keys(ordered).view("S14").ravel().tolist()
    return _imei_group(keys, ordered, checks, options), duplicates


def _imei_group(keys: list[bytes], numbers: I64, checks: U8, options: LoadOptions) -> Group:
    digits = None if bool(np.all(checks == NO_DIGIT)) else checks.tobytes()
    return Group(Table.IMEI, options.list, options.source, keys, numbers=numbers, digits=digits)


def group_csv_block(block: CsvBlock, names: list[str], report: Report) -> tuple[list[Group], int]:
    """The groups of a CSV block, one per (list, source): keys sorted and unique, values
    packed in key order in one buffer for all groups, and the count of duplicates (reported,
    the first row is kept)."""
    columns = block.columns
    count = len(columns.groups)
    # sorted by key, then group: a repeated row (same key and group) follows the one it repeats
    values = columns.keys * count + columns.group if count > 1 else columns.keys
    kept: I64 | slice = slice(None)
    duplicates = 0
    if not _is_sorted(values):
        order = np.argsort(values, kind="stable")  # the first of equal rows stays first
        ordered = values[order]
        fresh = np.r_[True, ordered[1:] != ordered[:-1]]
        duplicates = len(order) - int(np.count_nonzero(fresh))
        if duplicates:
            report_duplicates([block], values, names, report, columns.keys)
            order = order[fresh]
        kept = order
    rows = Rows(
        columns.keys[kept],
        columns.group[kept],
        columns.stamps[kept],
        columns.text,
        columns.reason_at[kept],
        columns.reason_size[kept],
        columns.reference_at[kept],
        columns.reference_size[kept],
    )
    heads = [entry_prefix(list_name, source, 0) for list_name, source in columns.groups]
    digits = columns.digits[kept]
    packed = pack_entries(heads, rows, _codes(columns.groups, rows.group, digits))
    packed.keys = ascii_keys(packed.numbers).view("S14").ravel().tolist()
    if count == 1:
        entries = Entries(packed, np.arange(packed.count), len(heads[0]))
        list_name, source = columns.groups[0]
        return [_csv_group(entries, packed.keys, digits, list_name, source)], duplicates
    every = np.array(packed.keys, dtype=object)  # each group's keys: the same bytes objects
    groups = []
    members = _members(rows.group, count)
    for number, (list_name, source) in enumerate(columns.groups):
        mine = members[number]
        if len(mine):
            entries = Entries(packed, mine, len(heads[number]))
            keys = every[mine].tolist()
            groups.append(_csv_group(entries, keys, digits[mine], list_name, source))
    return groups, duplicates


def _codes(groups: list[tuple[ListName, str]], group: I64, digits: U8) -> U8 | None:
    """Each row's entry code octet: its list's, in the form its IMEI was written (the check
    digit kept, see :func:`~eir.store.records.entry_code`); None when no row has a digit."""
    if bool(np.all(digits == NO_DIGIT)):
        return None
    table = np.array(
        [[entry_code(name, digit)[0] for digit in range(NO_DIGIT + 1)] for name, _ in groups],
        dtype=np.uint8,
    )
    codes: U8 = table[group, digits]
    return codes


def _members(group: I64, count: int) -> list[I64]:
    """The rows of each of ``count`` groups, in key order: a pass per group when they are
    few, else a stable sort of the group numbers."""
    if count <= 8:
        return [np.flatnonzero(group == number) for number in range(count)]
    by_group = np.argsort(group, kind="stable")
    return np.split(by_group, np.cumsum(np.bincount(group, minlength=count))[:-1])


def _csv_group(
    entries: Entries, keys: list[bytes], checks: U8, list_name: ListName, source: str
) -> Group:
    numbers = entries.packed.numbers[entries.rows]
    digits = None if bool(np.all(checks == NO_DIGIT)) else checks.tobytes()
    return Group(
        Table.IMEI, list_name, source, keys, numbers=numbers, digits=digits, entries=entries
    )
