"""The list-file loader: formats, every kind of bad row, duplicates, both parsing paths."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from eir.errors import LoadError
from eir.model import ListName
from eir.store.batch import Batch
from eir.store.dialect import NOT_UTF8
from eir.store.loader import LoadOptions, parse_files
from eir.store.records import Table, unpack_record

A1, A2, A3 = "490154203237518", "356938035643809", "353456789012348"


def load(
    tmp_path: Path, content: str | bytes, name: str = "list.csv", **options: object
) -> tuple[Batch, list[str]]:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    problems: list[str] = []
    batch = parse_files([str(path)], LoadOptions(**options), problems.append)  # type: ignore[arg-type]
    return batch, problems


def keys(batch: Batch) -> list[str]:
    return [k.decode() for g in batch.groups for k in g.keys]


@pytest.mark.parametrize(
    "content",
    [
        f"{A1}\n{A2}\n",  # plain, fast path
        f"{A1}\n{A2}",  # no final newline
        f"{A1}\r\n{A2}\r\n",  # CRLF
        f"# police list\n\n {A1} \n{A2}\n",  # comments, blanks, spaces: row path
        f"imei\n{A1}\n{A2}\n",  # CSV with one column, fast path
        f"\ufeffIMEI\n{A1[:14]}\n{A2}\n",  # BOM, upper-case header, 14 and 15 digits
        f"imei,reason\n{A1},\n{A2},\n",  # CSV, row path
    ],
)
def test_formats_give_the_same_keys(tmp_path: Path, content: str) -> None:
    batch, problems = load(tmp_path, content)
    assert problems == []
    assert keys(batch) == sorted([A1[:14], A2[:14]])
    assert batch.rows == 2


def test_gzip_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batch, _ = load(tmp_path, gzip.compress(f"{A1}\n".encode()), name="x.txt.gz")
    assert keys(batch) == [A1[:14]]
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f"imei\n{A2}\n".encode())))
    problems: list[str] = []
    batch = parse_files(["-"], LoadOptions(), problems.append)
    assert keys(batch) == [A2[:14]] and batch.files == ["<stdin>"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("4901542032375", "13 digits, expected 14, 15 or 16"),
        ("49015420323751x", "non-digit 'x'"),
        ("490154203237519", "has check digit 9, expected 8"),
    ],
)
def test_bad_plain_rows_are_reported_with_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    with pytest.raises(LoadError, match=r"^eir: 1 invalid rows: nothing was changed"):
        load(tmp_path, f"{A1}\n{line}\n{A2}\n", name="p.txt")
    batch, problems = load(tmp_path, f"{A1}\n{line}\n{A2}\n", name="p.txt", skip_invalid=True)
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'p.txt'}:2: ")
    assert message in problems[0]
    assert keys(batch) == sorted([A1[:14], A2[:14]])
    assert (batch.rows, batch.invalid) == (3, 1)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"{A1},,,purple,,,", "list 'purple' is not white, grey or black"),
        (f"{A1},{A2},,black,,,", "range ends"),
        (f"{A1},{A1},0010100000,black,,,", "a range (imei_last) or a pair (imsi), not both"),
        (f"{A1},,12345,black,,,", "IMSI '12345' has 5 digits"),
        (f"{A1},,,black,bad source!,,", "source 'bad source!'"),
        (f"{A1},,,black,,\x01,", "reason has a control character"),
        (f"{A1},,,black,,,{'r' * 256}", "reference is longer than 255 octets"),
        (f"{A1},,,black,,", "6 fields, the header has 7"),
        (f'{A1},,,black,,"open,', "bad CSV"),
    ],
)
def test_bad_csv_rows(tmp_path: Path, row: str, message: str) -> None:
    header = "imei,imei_last,imsi,list,source,reason,reference\n"
    batch, problems = load(tmp_path, header + f"{A2},,,,,,\n" + row + "\n", skip_invalid=True)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_path / 'list.csv'}:3: ")
    assert message in problems[0]
    assert keys(batch) == [A2[:14]]


def test_not_utf8(tmp_path: Path) -> None:
    _, problems = load(tmp_path, f"{A1}\n\xff\xfe\n".encode("latin-1"), skip_invalid=True)
    assert problems == [f"{tmp_path / 'list.csv'}:2: {NOT_UTF8}"]
    assert "--encoding cp1252" in NOT_UTF8


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("imei,colour", "list.csv:1: unknown column 'colour'"),  # with --strict-columns
        ("imsi,list", "list.csv:1: the header has no 'imei' column"),
        ("imei,imei", "list.csv:1: column 'imei' appears twice"),
    ],
)
def test_bad_headers(tmp_path: Path, header: str, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        load(tmp_path, f"{header}\n{A1}\n", strict_columns=True)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no such file"):
        parse_files([str(tmp_path / "nope")], LoadOptions(), print)
    with pytest.raises(LoadError, match="is a directory"):
        parse_files([str(tmp_path)], LoadOptions(), print)
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    with pytest.raises(LoadError, match="damaged gzip"):
        parse_files([str(tmp_path / "bad.gz")], LoadOptions(), print)


@pytest.mark.parametrize("content", [f"{A1}\n{A2}\n{A1}\n", f"# x\n{A1}\n{A2}\n {A1}\n"])
def test_duplicates_are_reported_once_and_not_counted_twice(tmp_path: Path, content: str) -> None:
    batch, problems = load(tmp_path, content, name="d.txt")
    assert keys(batch) == sorted([A1[:14], A2[:14]])
    assert batch.duplicates == 1
    first = content.splitlines().index(A1) + 1
    last = len(content.splitlines())
    assert problems == [
        f"{tmp_path / 'd.txt'}:{last}: duplicate of IMEI {A1[:14]} on "
        f"{tmp_path / 'd.txt'}:{first} (first kept)"
    ]


def test_duplicates_across_files_and_paths(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(f"{A1}\n{A2}\n")
    (tmp_path / "b.csv").write_text(f"imei,reason\n{A2},again\n{A3},\n")
    problems: list[str] = []
    batch = parse_files(
        [str(tmp_path / "a.txt"), str(tmp_path / "b.csv")], LoadOptions(), problems.append
    )
    assert keys(batch) == sorted(k[:14] for k in (A1, A2, A3))
    assert problems == [
        f"{tmp_path / 'b.csv'}:2: duplicate of IMEI {A2[:14]} on "
        f"{tmp_path / 'a.txt'}:2 (first kept)"
    ]


def test_list_and_source_columns_make_groups(tmp_path: Path) -> None:
    batch, _ = load(
        tmp_path,
        "imei,imei_last,imsi,list,source\n"
        f"{A1},,,white,crm\n{A2},,,,\n"
        f"{A3},,001010000000001,grey,\n35000000000000,35000099999999,,,\n",
        list=ListName.GREY,
        source="police",
    )
    summary = [(g.table, g.list, g.source, len(g.keys)) for g in batch.groups]
    assert summary == [
        (Table.IMEI, ListName.GREY, "police", 1),
        (Table.IMEI, ListName.WHITE, "crm", 1),
        (Table.RANGE, ListName.GREY, "police", 1),
        (Table.PAIR, ListName.GREY, "police", 1),
    ]


def test_added_column(tmp_path: Path) -> None:
    batch, _ = load(tmp_path, f"imei,added\n{A1},2026-01-02T03:04:05Z\n{A2},1700000000\n")
    entries = [unpack_record(value)[0] for value in batch.groups[0].values(1)]
    assert [(e.reason, e.reference, e.added) for e in entries] == [
        ("", "", 1700000000),
        ("", "", 1767323045),
    ]
    _, problems = load(
        tmp_path, f"imei,added\n{A1},yesterday\n{A2},2026-01-02T03:04:05\n", skip_invalid=True
    )
    assert len(problems) == 1 and "is not ISO 8601" in problems[0]  # no zone: --timezone's


def test_empty_files(tmp_path: Path) -> None:
    for content in ("", "# only a comment\n\n", "imei\n"):
        batch, problems = load(tmp_path, content)
        assert (batch.groups, problems, batch.rows) == ([], [], 0)
