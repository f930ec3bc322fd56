"""The loader on any input: its fast path agrees with the row path; bytes never crash it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from eir.errors import LoadError
from eir.identity import luhn_digit, luhn_ok15
from eir.store.assemble import Parsed
from eir.store.bulk import as_int, ascii_keys, luhn_ok
from eir.store.loader import LoadOptions, parse_data, parse_files

bodies = st.text(alphabet="0123456789", min_size=14, max_size=14)
valid = st.one_of(bodies, bodies.map(lambda b: b + luhn_digit(b)))
lines = st.one_of(
    valid,
    valid.map(lambda v: v[:-1] + "x"),
    st.text("0123456789", max_size=17),
    valid.map(lambda v: v + "1"),
)


def parse(data: bytes) -> tuple[Parsed, list[str]]:
    problems: list[str] = []
    return parse_data(data, 0, "f", LoadOptions(), problems.append), problems


def row_path(data: bytes) -> tuple[Parsed, list[str]]:
    # A comment line first keeps the fast path away and leaves line numbers +1.
    return parse(b"# forced\n" + data)


def keys_of(parsed: Parsed) -> list[bytes]:
    out = [k for b in parsed.blocks for k in b.digits.view("S14").ravel().tolist()]
    return sorted(out + [r.key for r in parsed.rows])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(lines, min_size=1, max_size=30),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.booleans(),
)
def test_fast_path_agrees_with_row_path(
    rows: list[str], newline: str, final: bool, header: bool
) -> None:
    text = newline.join(rows) + (newline if final else "")
    data = (("imei" + newline) if header else "").encode() + text.encode()
    fast, fast_problems = parse(data)
    slow, slow_problems = row_path(data)
    assert keys_of(fast) == keys_of(slow)
    assert (fast.read, fast.invalid) == (slow.read, slow.invalid)
    assert len(fast_problems) == len(slow_problems)
    if fast.blocks:
        assert fast_problems == []


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes_give_rows_problems_or_a_load_error(data: bytes) -> None:
    try:
        parsed, problems = parse(data)
    except LoadError as exc:
        assert str(exc).startswith("f:")
        return
    assert parsed.invalid == len(problems)
    assert all(p.startswith("f:") for p in problems)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.lists(lines, min_size=1, max_size=8), min_size=1, max_size=3))
# Found by hypothesis: re-parsing a block whose Luhn check failed compared numpy arrays.
@example(files=[["00000000000000"], ["000000000000001"]])
@example(files=[["00000000000000"], ["000000000000001"], ["00000000000000", "000000000000000"]])
def test_parse_files_with_background_luhn_agrees_with_row_path(files: list[list[str]]) -> None:
    """The whole loader (background Luhn check, retries row by row) against rows only."""
    with tempfile.TemporaryDirectory() as folder:
        paths, forced = [], []
        for number, rows in enumerate(files):
            path = os.path.join(folder, f"{number}.txt")
            Path(path).write_text("\n".join(rows) + "\n")
            paths.append(path)
            slow_path = os.path.join(folder, f"{number}.slow.txt")
            Path(slow_path).write_text("# forced\n" + "\n".join(rows) + "\n")
            forced.append(slow_path)
        options = LoadOptions(skip_invalid=True)
        fast_problems: list[str] = []
        slow_problems: list[str] = []
        fast = parse_files(paths, options, fast_problems.append)
        slow = parse_files(forced, options, slow_problems.append)
    assert [g.keys for g in fast.groups] == [g.keys for g in slow.groups]
    assert (fast.rows, fast.invalid, fast.duplicates) == (slow.rows, slow.invalid, slow.duplicates)
    assert len(fast_problems) == len(slow_problems)


@given(st.lists(st.integers(0, 10**14 - 1), max_size=50))
def test_ascii_keys_are_the_zero_padded_digits(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    assert [row.tobytes().decode() for row in ascii_keys(array)] == [f"{v:014d}" for v in values]
    assert as_int(ascii_keys(array)).tolist() == values


cell_text = st.text(alphabet=st.sampled_from(list('ab ,"#é\t-9')), max_size=6)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.sampled_from([["imei", "reason", "reference"], ["imei", "reason"]]),
    st.lists(st.tuples(lines, cell_text, cell_text), min_size=1, max_size=10),
    st.booleans(),
)
@example(
    columns=["imei", "reason", "reference"],
    rows=[("490154203237518", "stolen", "R1"), ("356938035643809", "", "")],
    crlf=False,
)
@example(
    columns=["imei", "reason", "reference"],  # unsorted, a duplicate: the first is kept
    rows=[("356938035643809", "x", "y"), ("49015420323751", "s", ""), ("35693803564380", "z", "w")],
    crlf=True,
)
@example(
    columns=["imei", "reason"],  # a wrong check digit: the file goes row by row
    rows=[("490154203237519", "a", ""), ("35693803564380", "b", "")],
    crlf=False,
)
def test_text_fast_path_agrees_with_row_path(
    columns: list[str], rows: list[tuple[str, str, str]], crlf: bool
) -> None:
    """imei,reason[,reference] files: the bulk path packs the same values as the row path."""
    newline = "\r\n" if crlf else "\n"
    body = newline.join(",".join(row[: len(columns)]) for row in rows) + newline
    with tempfile.TemporaryDirectory() as folder:
        fast_path = Path(folder, "fast.csv")
        fast_path.write_text(",".join(columns) + newline + body)
        slow_path = Path(folder, "slow.csv")
        slow_path.write_text("# forced\n" + ",".join(columns) + newline + body)
        options = LoadOptions(skip_invalid=True)
        fast_problems: list[str] = []
        slow_problems: list[str] = []
        fast = parse_files([str(fast_path)], options, fast_problems.append)
        slow = parse_files([str(slow_path)], options, slow_problems.append)
    assert [g.keys for g in fast.groups] == [g.keys for g in slow.groups]
    assert [list(g.values(7)) for g in fast.groups] == [list(g.values(7)) for g in slow.groups]
    assert (fast.rows, fast.invalid, fast.duplicates) == (slow.rows, slow.invalid, slow.duplicates)
    assert len(fast_problems) == len(slow_problems)


def test_text_fast_path_is_taken() -> None:
    data = b"imei,reason,reference\n490154203237518,stolen,R1\n35693803564380,,\n"
    parsed = parse_data(data, 0, "f", LoadOptions(), print)
    assert len(parsed.csv_blocks) == 1 and parsed.rows == []


@given(st.lists(st.text("0123456789", min_size=15, max_size=15), min_size=1, max_size=20))
def test_bulk_luhn_check_is_the_identity_check(imeis: list[str]) -> None:
    """The bulk path's column-wise check digit test is the one of eir.identity."""
    table = np.frombuffer("".join(imeis).encode(), dtype=np.uint8).reshape(len(imeis), 15)
    assert luhn_ok(table) == all(luhn_ok15(imei) for imei in imeis)
