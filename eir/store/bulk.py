"""The loader's bulk path: whole files of the common shapes validated and grouped in a few numpy
passes, with the rules of :mod:`eir.store.fields` applied to whole columns.

* One IMEI a row (plain text, or a CSV of only ``imei``): :func:`imei_block` checks every
  row's width and digits in one pass; the keys are sorted as integers, with the Luhn check of
  15-digit rows running on another core meanwhile.
* A CSV of ``imei,reason[,reference]``: :func:`text_block` packs each row's stored value in
  the file's own bytes.

A file that is not exactly so is not taken (None): the row path (:mod:`eir.store.rows`) reads
it. A block whose background Luhn check fails comes back from :func:`group_imei_blocks` or
:func:`group_text_block` as :class:`Faulty`: the caller hands it to the row path, which names
every bad row. Property tests hold this path to the row path.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from eir.store.batch import Group
from eir.store.fields import CONTROL_OCTETS, IMEI_WIDTHS
from eir.store.formats import FileShape, LoadOptions, Report
from eir.store.records import MAX_FIELD, Table

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

_PLAIN_ASCII = np.zeros(256, dtype=np.uint8)
_PLAIN_ASCII[48:58] = np.arange(10)
_DOUBLED_ASCII = np.zeros(256, dtype=np.uint8)
_DOUBLED_ASCII[48:58] = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)

#: column lists whose rows :func:`text_block` takes: the line from its first comma on has the
#: length of a packed reason and reference
TEXT_LAYOUTS = (["imei", "reason", "reference"], ["imei", "reason"])
#: every octet but the control characters (line feed is allowed): what translate deletes
_NOT_CONTROL = bytes(o for o in range(256) if o == 10 or o not in CONTROL_OCTETS)


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

    def luhn_ok(self) -> bool:
        return self.luhn is None or self.luhn.result()

    @property
    def count(self) -> int:
        return len(self.table)


@dataclass(slots=True, eq=False)
class TextBlock:
    """A CSV of ``imei,reason[,reference]``: keys, and each row's packed reason and reference
    already in place in ``buffer`` (the file's own bytes, commas overwritten by the field
    lengths) at ``tail_starts[i]:tail_ends[i]``."""

    values: I64
    buffer: bytes
    tail_starts: I64
    tail_ends: I64
    file: int
    first_line: int
    shape: FileShape
    luhn: Future[bool] | None = None

    def luhn_ok(self) -> bool:
        return self.luhn is None or self.luhn.result()

    @property
    def count(self) -> int:
        return len(self.values)


Block = ImeiBlock | TextBlock


@dataclass(frozen=True, slots=True)
class Faulty:
    """Blocks whose background Luhn check found a wrong check digit: the row path must read
    them (it names each bad row). Nothing has been reported of them."""

    blocks: list[Block]


def luhn_ok(table: U8) -> bool:
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
    table: U8 = np.frombuffer(body, dtype=np.uint8).reshape(rows, width + 1)
    block = ImeiBlock(table, file, shape.first_row, shape)
    if width == 15 and not _check_luhn(block, table, pool):
        return None
    return block


@dataclass(slots=True)
class _Lines:
    """A CSV body in numpy: its octets, each line's start and end (the LF), the commas of
    each line (``cuts``, one row per line) and each IMEI's width."""

    text: U8
    starts: I64
    ends: I64
    cuts: I64
    width: I64


def _plain_text(body: bytes) -> bytes | None:
    """The body with LF line ends, when nothing in it needs the row path's care: no quotes,
    control characters, blank lines or text that is not UTF-8."""
    if b'"' in body:
        return None
    lines = _unix_lines(body)
    if lines is None:
        return None
    if lines.startswith(b"\n") or b"\n\n" in lines or lines.translate(None, _NOT_CONTROL):
        return None
    try:
        lines.decode()
    except UnicodeDecodeError:
        return None
    return lines


def _lines(body: bytes, separators: int) -> _Lines | None:
    """Where each line and its fields are; None when a line is a comment, has another number
    of commas or an IMEI field of a width no IMEI has."""
    text: U8 = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(text == 10)
    rows = len(ends)
    starts = np.empty(rows, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    if np.any(text[starts] == ord("#")):
        return None
    commas = np.flatnonzero(text == ord(","))
    if len(commas) != rows * separators:
        return None
    cuts = commas.reshape(rows, separators)
    if np.any(cuts[:, 0] < starts) or np.any(cuts[:, -1] >= ends):
        return None  # sorted commas, each line's first and last inside it: all are in place
    width = cuts[:, 0] - starts
    if np.any((width < IMEI_WIDTHS[0]) | (width > IMEI_WIDTHS[-1])):
        return None
    return _Lines(text, starts, ends, cuts, width)


def _imei_digits(lines: _Lines) -> U8 | None:
    """Each row's IMEI as 16 octets (what follows a shorter one is ignored); None when one
    holds anything but digits."""
    text = lines.text
    gather = np.minimum(lines.starts[:, None] + np.arange(16), len(text) - 1)
    imeis: U8 = text[gather]
    inside = np.arange(16) < lines.width[:, None]
    if np.any(((imeis - np.uint8(48)) > 9) & inside):
        return None
    return imeis


def _text_lengths(lines: _Lines) -> list[U8] | None:
    """The octet length of each row's reason (and reference); None when one is too long or
    has a space or non-ASCII at its edge (the row path strips those)."""
    cuts, ends, text = lines.cuts, lines.ends, lines.text
    separators = cuts.shape[1]
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
    return lengths


def text_block(
    shape: FileShape, columns: list[str], file: int, pool: Executor | None
) -> TextBlock | None:
    """Rows of ``imei,reason[,reference]`` validated in bulk; None sends the file row by row.

    In ``IMEI,reason,reference\\n`` the bytes from the first comma to the line end are exactly
    as long as a packed tail ``len reason len reference``: writing the two lengths over the two
    commas packs every row in place. Taken only when nothing needs the row path's care:
    no quotes, control characters, blank or comment lines, spaces or non-ASCII at a field's
    edge (the row path strips those), or fields longer than 255 octets.
    """
    body = _plain_text(shape.body)
    lines = None if body is None else _lines(body, len(columns) - 1)
    imeis = None if lines is None else _imei_digits(lines)
    lengths = None if lines is None or imeis is None else _text_lengths(lines)
    if body is None or lines is None or imeis is None or lengths is None:
        return None
    cuts = lines.cuts
    packed = bytearray(body)
    view = np.frombuffer(packed, dtype=np.uint8)
    view[cuts[:, 0]] = lengths[0]
    if len(lengths) == 2:
        view[cuts[:, 1]] = lengths[1]
        tail_ends = lines.ends
    else:
        view[lines.ends] = 0  # no reference: its length, where the line end was
        tail_ends = lines.ends + 1
    block = TextBlock(
        as_int(imeis[:, :14]),
        bytes(packed),
        cuts[:, 0].copy(),
        tail_ends,
        file,
        shape.first_row,
        shape,
    )
    check = imeis[lines.width == 15]
    if len(check) and not _check_luhn(block, check, pool):
        return None
    return block


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
    blocks: Sequence[Block], values: I64, names: list[str], report: Report
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


def _is_sorted(values: I64) -> bool:
    return len(values) < 2 or bool(np.all(values[1:] > values[:-1]))


def group_text_block(
    block: TextBlock, names: list[str], report: Report, options: LoadOptions
) -> tuple[Group, int] | Faulty:
    """The group of a text block, keys sorted and unique, tails in the same order, and its
    count of duplicates (reported, the first row is kept); Faulty when its Luhn check failed."""
    values = block.values
    order = None if _is_sorted(values) else np.argsort(values, kind="stable")  # first stays first
    faulty = _faulty([block])  # after the sort: the check ran on the other core meanwhile
    if faulty is not None:
        return faulty
    duplicates = 0
    if order is None:
        order = np.arange(len(values))
    else:
        ordered = values[order]
        fresh = np.r_[True, ordered[1:] != ordered[:-1]]
        duplicates = len(order) - int(np.count_nonzero(fresh))
        if duplicates:
            report_duplicates([block], values, names, report)
            order = order[fresh]
    keys: list[bytes] = ascii_keys(values[order]).view("S14").ravel().tolist()
    tails = (block.buffer, block.tail_starts[order].tolist(), block.tail_ends[order].tolist())
    return Group(Table.IMEI, options.list, options.source, keys, tails=tails), duplicates


def group_imei_blocks(
    blocks: list[ImeiBlock], names: list[str], report: Report, options: LoadOptions
) -> tuple[Group, int] | Faulty:
    """The group of IMEI blocks (one list and source): sorted unique keys, with the keys as
    integers in ``numbers`` (a replace matches them against the store's), and its count of
    duplicates (reported, the first row is kept); Faulty, before anything is reported, when a
    block's background Luhn check failed.

    The keys are sorted as integers and written back as ASCII: cheaper than sorting rows.
    """
    digits = blocks[0].digits if len(blocks) == 1 else np.concatenate([b.digits for b in blocks])
    values = as_int(digits)
    if _is_sorted(values):
        faulty = _faulty(blocks)
        if faulty is not None:
            return faulty
        keys: list[bytes] = np.ascontiguousarray(digits).view("S14").ravel().tolist()
        return _imei_group(keys, values, options), 0
    ordered = np.sort(values)  # while the Luhn check may still run on the other core
    faulty = _faulty(blocks)
    if faulty is not None:
        return faulty
    fresh = np.r_[True, ordered[1:] != ordered[:-1]]
    duplicates = len(ordered) - int(np.count_nonzero(fresh))
    if duplicates:
        report_duplicates(blocks, values, names, report)
        ordered = ordered[fresh]
    keys = ascii_keys(ordered).view("S14").ravel().tolist()
    return _imei_group(keys, ordered, options), duplicates


def _imei_group(keys: list[bytes], numbers: I64, options: LoadOptions) -> Group:
    return Group(Table.IMEI, options.list, options.source, keys, numbers=numbers)
