"""List files as police and regulators send them, loaded by the real ``eir`` executable: each
sample of tests/data (see its README.md) with the exact messages a user reads."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from eir.model import ListName
from tests.support.cli import eir

DATA = Path(__file__).resolve().parents[1] / "data"
KNOWN = "imei, imei_last, imsi, list, reason, source, reference, added, effective, expires"
NOT_UTF8 = (
    "not UTF-8 text (a file saved on Windows is most often cp1252: load it with "
    "--encoding cp1252, or name its encoding with --encoding NAME)"
)
NOTHING = "nothing was changed (fix them, or take the others with --skip-invalid)"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "db"


def load(db: Path, name: str | Path, *options: str) -> tuple[int, list[str], str]:
    """``eir load FILE --list black`` (rc, stderr lines, stdout)."""
    path = name if isinstance(name, Path) else DATA / name
    result = eir("load", path, "--list", "black", "--db", db, *options)
    return result.returncode, result.stderr.splitlines(), result.stdout


def entries(db: Path) -> dict[str, tuple[str, str, str]]:
    """The store's entries by 14-digit key: (reason, reference, added)."""
    result = eir("export", "--db", db)
    assert result.returncode == 0, result.stderr
    rows = csv.DictReader(io.StringIO(result.stdout))
    return {r["imei"][:14]: (r["reason"], r["reference"], r["added"]) for r in rows}


def summary(added: int, rows: int, duplicates: int = 0, invalid: int = 0) -> str:
    return (
        f"added {added}, updated 0, removed 0, unchanged 0, invalid {invalid}, "
        f"duplicates {duplicates}; {rows} rows in "
    )


def ignoring(where: str, columns: str, advice: str = 'map one with --column "NAME=COLUMN"') -> str:
    return f"{where}: ignoring columns {columns} (known: {KNOWN}; {advice})"


def test_excel_export_loads_with_one_warning(db: Path) -> None:
    name = DATA / "excel-semicolon.csv"
    rc, stderr, stdout = load(db, name)
    assert rc == 0
    assert stderr == [
        f"{name}: fields separated by ';'",
        ignoring(
            f"{name}:1",
            "'case number', 'date'",
            'map with --column "Case number=reference" --column "Date=added"',
        ),
    ]
    assert stdout.startswith(summary(3, 3))
    assert {k: v[0] for k, v in entries(db).items()} == {
        "49015420323751": "stolen",
        "35209900176148": "robbery; phone and bag",
        "35693803564380": "lost",
    }


def test_excel_export_with_mapped_columns(db: Path) -> None:
    name = DATA / "excel-semicolon.csv"
    rc, stderr, stdout = load(
        db,
        name,
        "--column",
        "Case number=reference",
        "--column",
        "DATE=added",
        "--timezone",
        "Asia/Ho_Chi_Minh",
    )
    assert (rc, stderr) == (0, [f"{name}: fields separated by ';'"])
    assert stdout.startswith(summary(3, 3))
    assert entries(db) == {
        "49015420323751": ("stolen", "HCM-2026-00017", "2026-11-28T17:00:00Z"),
        "35209900176148": ("robbery; phone and bag", "HCM-2026-00018", "2026-11-29T17:00:00Z"),
        "35693803564380": ("lost", "HCM-2026-00019", "2026-11-30T17:00:00Z"),
    }


@pytest.mark.parametrize(
    ("name", "said", "expected"),
    [
        ("tab.txt", "tabs", {"49015420323751": "stolen", "35345678901234": "cloned"}),
        ("pipe.csv", "'|'", {"49015420323751": "stolen", "86123456000001": "lost"}),
        ("unicode-text.txt", "tabs", {"49015420323751": "Mất cắp", "35209900176148": "Bị cướp"}),
    ],
)
def test_delimiters_and_utf16(db: Path, name: str, said: str, expected: dict[str, str]) -> None:
    rc, stderr, stdout = load(db, name)
    assert (rc, stderr) == (0, [f"{DATA / name}: fields separated by {said}"])
    assert stdout.startswith(summary(2, 2))
    assert {k: v[0] for k, v in entries(db).items()} == expected


def test_a_named_delimiter_is_not_told(db: Path) -> None:
    rc, stderr, _ = load(db, "pipe.csv", "--delimiter", "|")
    assert (rc, stderr) == (0, [])
    rc, stderr, _ = load(db, "tab.txt", "--delimiter", "tab")
    assert (rc, stderr) == (0, [])


def test_cp1252_needs_its_encoding_named(db: Path) -> None:
    name = DATA / "cp1252.csv"
    rc, stderr, _ = load(db, name)
    assert rc == 1
    assert stderr == [
        f"{name}: fields separated by ';'",
        f"{name}:2: {NOT_UTF8}",
        f"{name}:3: {NOT_UTF8}",
        f"eir: 2 invalid rows: {NOTHING}",
    ]
    rc, _, stdout = load(db, name, "--encoding", "cp1252")
    assert rc == 0 and stdout.startswith(summary(2, 2))
    assert {k: v[0] for k, v in entries(db).items()} == {
        "49015420323751": "Volé à l'arraché",
        "35693803564380": "Perdu \u2013 métro",
    }


def test_text_not_in_the_named_encoding(db: Path) -> None:
    name = DATA / "cp1252.csv"
    rc, stderr, _ = load(db, name, "--encoding", "ascii")
    assert (rc, stderr) == (
        1,
        [f"{name}:2: not ascii text (octet 0xe9): name the file's encoding with --encoding NAME"],
    )


def test_utf16_without_byte_order_mark(db: Path, tmp_path: Path) -> None:
    name = tmp_path / "no-bom.txt"
    name.write_bytes("imei\n490154203237518\n".encode("utf-16-le"))
    rc, stderr, _ = load(db, name)
    assert (rc, stderr) == (
        1,
        [
            f"{name}:1: looks like UTF-16 text without a byte order mark "
            "(load it with --encoding utf-16-le or --encoding utf-16-be)"
        ],
    )
    rc, stderr, _ = load(db, name, "--encoding", "utf-16-le")
    assert (rc, stderr) == (0, [])


def test_classic_mac_line_ends(db: Path, tmp_path: Path) -> None:
    """Excel's "CSV (Macintosh)" ends lines with a carriage return alone."""
    name = tmp_path / "mac.csv"
    name.write_bytes(b"imei,reason\r490154203237518,stolen\r353456789012348,lost\r")
    rc, stderr, out = load(db, name)
    assert (rc, stderr) == (0, []) and out.startswith(summary(2, 2))
    loaded = {key: reason for key, (reason, _ref, _added) in entries(db).items()}
    assert loaded == {"49015420323751": "stolen", "35345678901234": "lost"}
    odd = tmp_path / "odd.csv"  # a carriage return alone inside a header ended by a line feed
    odd.write_bytes(b"imei,re\rason\n490154203237518,stolen\n")
    why = "a carriage return (\\r) alone inside the line"
    rc, stderr, _ = load(db, odd)
    assert (rc, stderr) == (1, [f"{odd}:1: the header cannot be read as CSV: {why}"])
    cut = tmp_path / "cut.csv"  # and inside a row: told, never read as two rows
    cut.write_bytes(b"imei,reason\n352099001761481,sto\rlen\n356938035643809,lost\n")
    rc, stderr, _ = load(db, cut, "--skip-invalid")
    assert (rc, stderr) == (1, [f"{cut}:2: {why}"])  # loaded without it, and said so
    loaded = {key: reason for key, (reason, _ref, _added) in entries(db).items()}
    assert "35209900176148" not in loaded and loaded["35693803564380"] == "lost"


def test_zip_of_one_list_file(db: Path) -> None:
    rc, stderr, stdout = load(db, "one-list.zip")
    assert (rc, stderr) == (0, [f"{DATA / 'one-list.zip'}!police.csv: fields separated by '|'"])
    assert stdout.startswith(summary(2, 2))
    assert sorted(entries(db)) == ["49015420323751", "86123456000001"]


def test_zip_of_two_files_is_refused(db: Path) -> None:
    rc, stderr, _ = load(db, "two-lists.zip")
    assert (rc, stderr) == (
        1,
        [
            f"{DATA / 'two-lists.zip'}: the zip archive holds 2 files (police.csv, "
            "regulator.csv): unzip it and name the list files to load"
        ],
    )


def test_bad_rows_in_a_zip_are_named_by_member(db: Path, tmp_path: Path) -> None:
    import zipfile

    name = tmp_path / "bad.zip"
    with zipfile.ZipFile(name, "w") as archive:
        archive.writestr("list.txt", "490154203237518\n12345\n")
    rc, stderr, _ = load(db, name)
    assert (rc, stderr) == (
        1,
        [
            f"{name}!list.txt:2: IMEI '12345' has 5 digits, expected 14, 15 or 16",
            f"eir: 1 invalid rows: {NOTHING}",
        ],
    )


def test_imeis_as_people_write_them(db: Path) -> None:
    rc, stderr, stdout = load(db, "written-imeis.txt")
    assert (rc, stderr) == (0, [])
    assert stdout.startswith(summary(4, 4))
    assert sorted(entries(db)) == [
        "35209900176148",
        "35345678901234",
        "35693803564380",
        "49015420323751",
    ]
    for written in (
        "35-209900-176148-1",
        "35 209900 176148 1",
        "35.209900.176148.1",
        "'352099001761481",
    ):
        result = eir("lookup", written, "--db", db)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("352099001761481: blacklisted\n")


def test_dates(db: Path) -> None:
    rc, stderr, _ = load(db, "dates.csv")
    assert (rc, stderr) == (0, [])
    assert {k: v[2] for k, v in entries(db).items()} == {
        "49015420323751": "2026-11-29T03:00:00Z",  # ISO 8601 with its zone
        "35209900176148": "2026-11-29T10:00:00Z",  # ISO 8601 without: --timezone, UTC
        "35693803564380": "2026-11-29T00:00:00Z",  # a date alone
        "35345678901234": "2026-11-29T00:00:00Z",  # epoch seconds
        "86123456000001": "2026-11-29T00:00:00Z",  # day-first
        "35000000000017": "2026-11-29T08:15:00Z",
        "44556677889900": "2026-11-29T08:15:30Z",
    }


def test_dates_in_a_time_zone(db: Path, tmp_path: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text('[lists]\ntimezone = "Asia/Ho_Chi_Minh"\n')
    rc, _, _ = load(db, "dates.csv", "--config", str(config))
    assert rc == 0
    added = {k: v[2] for k, v in entries(db).items()}
    assert added["49015420323751"] == "2026-11-29T03:00:00Z"  # its own zone
    assert added["35209900176148"] == "2026-11-29T03:00:00Z"
    assert added["86123456000001"] == "2026-11-28T17:00:00Z"
    assert added["35345678901234"] == "2026-11-29T00:00:00Z"  # epoch seconds have no zone


def test_bad_dates_and_date_format(db: Path, tmp_path: Path) -> None:
    name = tmp_path / "us.csv"
    name.write_text("imei,added\n490154203237518,11/29/2026\n352099001761481,yesterday\n")
    rc, stderr, _ = load(db, name)
    assert rc == 1
    assert stderr == [
        f"{name}:2: added '11/29/2026' is not ISO 8601, epoch seconds or DD/MM/YYYY "
        "[HH:MM[:SS]] (name another format with --date-format, e.g. --date-format '%m/%d/%Y')",
        f"{name}:3: added 'yesterday' is not ISO 8601, epoch seconds or DD/MM/YYYY "
        "[HH:MM[:SS]] (name another format with --date-format, e.g. --date-format '%m/%d/%Y')",
        f"eir: 2 invalid rows: {NOTHING}",
    ]
    rc, stderr, _ = load(db, name, "--date-format", "%m/%d/%Y", "--skip-invalid")
    assert (rc, stderr[:1]) == (
        1,
        [f"{name}:3: added 'yesterday' is not ISO 8601, epoch seconds or --date-format '%m/%d/%Y'"],
    )
    assert entries(db)["49015420323751"][2] == "2026-11-29T00:00:00Z"


def test_no_such_day_and_a_bad_date_format(db: Path, tmp_path: Path) -> None:
    name = tmp_path / "feb.csv"
    name.write_text("imei,added\n490154203237518,30/02/2026\n352099001761481,29/11/2026 25:00\n")
    rc, stderr, _ = load(db, name)
    assert rc == 1
    assert stderr == [
        f"{name}:2: added '30/02/2026' is not a date (day 30 of month 2)",
        f"{name}:3: added '29/11/2026 25:00' is not a time of day",
        f"eir: 2 invalid rows: {NOTHING}",
    ]
    rc, stderr, stdout = load(db, name, "--date-format", "%Q")
    assert (rc, stdout) == (2, "")
    assert stderr[-1] == (
        "eir load: argument --date-format: '%Q' is not a strptime format: 'Q' is a bad "
        "directive in format '%Q'"
    )
    assert not db.exists()
    config = tmp_path / "eir.toml"
    config.write_text('[lists]\ndate_format = "%Q"\n')
    result = eir("check-config", config)
    assert (result.returncode, result.stderr) == (
        1,
        f"{config}: lists.date_format: '%Q' is not a strptime format: 'Q' is a bad directive "
        "in format '%Q'\n",
    )


def test_extra_columns(db: Path) -> None:
    name = DATA / "extra-columns.csv"
    rc, stderr, stdout = load(db, name)
    advice = 'map with --column "Case number=reference"'
    assert (rc, stderr) == (0, [ignoring(f"{name}:1", "'case number', 'x_model'", advice)])
    assert stdout.startswith(summary(2, 2))
    assert {k: v[0] for k, v in entries(db).items()} == {
        "49015420323751": "stolen",
        "35209900176148": "lost",
    }


def test_strict_columns_refuse_them(db: Path) -> None:
    name = DATA / "extra-columns.csv"
    rc, stderr, _ = load(db, name, "--strict-columns")
    assert (rc, stderr) == (
        1,
        [
            f"{name}:1: unknown columns 'case number', 'x_model' (known: {KNOWN}; map with "
            '--column "Case number=reference", or load without --strict-columns to ignore them)'
        ],
    )
    rc, stderr, _ = load(
        db, name, "--strict-columns", "--column", "case_number=reference", "--column",
        "X Model=reason",
    )  # fmt: skip
    assert (rc, stderr) == (1, [f"{name}:1: column 'reason' appears twice"])
    rc, stderr, _ = load(
        db, name, "--strict-columns", "--column", "case_number=reference", "--column",
        "X Model=source",
    )  # fmt: skip
    assert rc == 1 and "source 'Galaxy A05' is not 1 to 64" in stderr[0]


def test_wrong_check_digits_refused_or_listed(db: Path) -> None:
    name = DATA / "bad-check-digits.txt"
    rc, stderr, _ = load(db, name)
    assert (rc, stderr) == (
        1,
        [
            f"{name}:2: IMEI 490154203237519 has check digit 9, expected 8 (a typo would list "
            "another handset; --check-digit list lists it by its 14 digits)",
            f"{name}:3: IMEI 352099001761482 has check digit 2, expected 1 (a typo would list "
            "another handset; --check-digit list lists it by its 14 digits)",
            f"eir: 2 invalid rows: {NOTHING}",
        ],
    )
    rc, stderr, stdout = load(db, name, "--check-digit", "list")
    assert rc == 0
    assert stderr == [
        f"{name}:2: IMEI 490154203237519 has check digit 9, expected 8: listed by its 14 "
        "digits (--check-digit list)",
        f"{name}:3: IMEI 352099001761482 has check digit 2, expected 1: listed by its 14 "
        "digits (--check-digit list)",
        f"{name}:2: duplicate of IMEI 49015420323751 on {name}:1 (first kept)",
    ]
    assert stdout.startswith(summary(2, 3, duplicates=1))
    assert sorted(entries(db)) == ["35209900176148", "49015420323751"]


def test_check_digit_policy_from_the_config(db: Path, tmp_path: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text('[lists]\ncheck_digit = "list"\n')
    rc, stderr, _ = load(db, "bad-check-digits.txt", "--config", str(config))
    assert rc == 0 and len(stderr) == 3
    rc, stderr, _ = load(
        db, "bad-check-digits.txt", "--config", str(config), "--check-digit", "refuse"
    )
    assert rc == 1 and stderr[-1] == f"eir: 2 invalid rows: {NOTHING}"


def test_lost_leading_zero(db: Path) -> None:
    name = DATA / "lost-leading-zero.csv"
    told = (
        f"{name}:2: IMEI 13006001234568 looks like a 15-digit IMEI that lost its leading 0 "
        "(no reporting body 13)"
    )
    rc, stderr, stdout = load(db, name)
    assert (rc, stderr) == (0, [f"{name}: fields separated by ';'", told])
    assert stdout.startswith(summary(2, 2))
    rc, stderr, _ = load(db, name, "--strict", "--dry-run")
    assert rc == 1
    assert stderr[1:] == [told + " (refused: --strict)", f"eir: 1 invalid rows: {NOTHING}"]


def test_first_line_that_is_no_header(db: Path, tmp_path: Path) -> None:
    name = tmp_path / "rows.csv"
    name.write_text("490154203237518;stolen\n")
    rc, stderr, _ = load(db, name)
    assert (rc, stderr) == (
        1,
        [
            f"{name}:1: the first line is not a header: a CSV starts with the names of its "
            "columns (imei, and any of reason, reference, list, source, added, ...)"
        ],
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--column", "Case number=colour", f"'colour' is not a known column (known: {KNOWN})"),
        (
            "--column",
            "reference",
            "'reference' is not NAME=COLUMN (e.g. \"Case number=reference\")",
        ),
        ("--delimiter", "x", "'x' is not one of , ; | tab"),
        ("--encoding", "klingon", "'klingon' is no text encoding Python knows (e.g. cp1252)"),
        (
            "--timezone",
            "Mars/Olympus",
            "'Mars/Olympus' is no IANA time zone (e.g. UTC, Europe/Paris, Asia/Ho_Chi_Minh)",
        ),
        (
            "--date-format",
            "dd/mm/yyyy",
            "'dd/mm/yyyy' is not a strptime format (e.g. %d/%m/%Y %H:%M)",
        ),
    ],
)
def test_bad_options_are_usage_errors(db: Path, option: str, value: str, message: str) -> None:
    rc, stderr, _ = load(db, "pipe.csv", option, value)
    assert (rc, stderr[-1]) == (2, f"eir load: argument {option}: {message}")


def test_publish_reads_files_with_the_same_options(tmp_path: Path) -> None:
    """`eir publish` takes the options `eir load` takes, mapped by the same function."""
    from eir.cli.list_options import load_options
    from eir.cli.parser import build_parser
    from eir.config import CHECK_DIGIT_POLICIES, parse_config
    from eir.store.formats import CheckDigit, LoadOptions

    assert tuple(CheckDigit) == CHECK_DIGIT_POLICIES
    config = parse_config({"lists": {"timezone": "Asia/Ho_Chi_Minh", "check_digit": "list"}})
    for command in ("load", "publish"):
        args = build_parser().parse_args(
            [
                *(command, "f.csv", "--list", "grey", "--delimiter", "tab"),
                *("--encoding", "cp1252", "--column", "Case number=reference"),
                *("--strict-columns", "--strict", "--date-format", "%m/%d/%Y"),
            ]
        )
        options = load_options(args, config)
        assert options.now > 0  # the load's time: what a past `expires` is judged against
        assert options == LoadOptions(
            now=options.now,
            list=ListName.GREY,
            delimiter=b"\t",
            encoding="cp1252",
            column_map=(("case_number", "reference"),),
            strict_columns=True,
            date_format="%m/%d/%Y",
            timezone="Asia/Ho_Chi_Minh",
            check_digit=CheckDigit.LIST,
            strict=True,
        )


def test_publish_reads_files_as_load_does() -> None:
    """`eir publish` refuses what `eir load` refuses, before it reaches for the broker."""
    result = eir(
        "publish", DATA / "excel-semicolon.csv", DATA / "bad-check-digits.txt", "--list", "black",
        "--column", "Case number=reference", "--column", "Date=added",
        "--broker", "mqtt://127.0.0.1:1", "--timeout", "1",
    )  # fmt: skip
    bad = DATA / "bad-check-digits.txt"
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{DATA / 'excel-semicolon.csv'}: fields separated by ';'",
        f"{bad}:2: IMEI 490154203237519 has check digit 9, expected 8 (a typo would list "
        "another handset; --check-digit list lists it by its 14 digits)",
        f"{bad}:3: IMEI 352099001761482 has check digit 2, expected 1 (a typo would list "
        "another handset; --check-digit list lists it by its 14 digits)",
        f"eir: 2 invalid rows: {NOTHING}",
    ]


def test_a_mapped_column_must_be_in_the_header(db: Path) -> None:
    name = DATA / "excel-semicolon.csv"
    rc, stderr, stdout = load(db, name, "--column", "nothere=reference")
    assert (rc, stdout) == (1, "")
    assert stderr == [
        f"{name}:1: --column 'nothere': no such column in the header "
        "(columns: IMEI, Reason, Case number, Date)",
    ]
    assert not db.exists()


def test_numbers_a_spreadsheet_wrote_are_refused(db: Path) -> None:
    name = DATA / "spreadsheet-numbers.csv"
    rc, stderr, stdout = load(db, name)
    assert (rc, stdout) == (1, "")
    assert stderr == [
        f"{name}: fields separated by ';'",
        f"{name}:2: IMEI '352099001761481.0' was written as a number by a spreadsheet: "
        "format the column as text",
        f"{name}:3: IMEI '35209900176148.0' was written as a number by a spreadsheet: "
        "format the column as text",
        f"{name}:4: IMEI '3.52099E+14' was written as a number by a spreadsheet (digits lost): "
        "format the column as text",
        f"{name}:6: IMEI '35-209900-176148-X' has a non-digit 'X'",
        f"eir: 4 invalid rows: {NOTHING}",
    ]
    assert not db.exists()
    rc, stderr, stdout = load(db, name, "--skip-invalid")
    assert rc == 1
    assert stdout.startswith(summary(1, 5, invalid=4))
    assert sorted(entries(db)) == ["35209900176148"]  # 35.209900.176148.1: dots between groups
    result = eir("lookup", "3.52099E+14", "--db", db)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "eir: IMEI '3.52099E+14' was written as a number by a spreadsheet (digits lost): "
        "format the column as text\n"
    )


def test_invalid_rows_change_nothing_in_load_and_publish(tmp_path: Path, db: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("imei,reason\n490154203237518,ok\n12345,short\n")
    told = [
        f"{bad}:3: IMEI '12345' has 5 digits, expected 14, 15 or 16",
        f"eir: 1 invalid rows: {NOTHING}",
    ]
    rc, stderr, stdout = load(db, bad)
    assert (rc, stderr, stdout) == (1, told, "")
    # validated before the broker is even reached (port 9: nothing listens)
    result = eir("publish", bad, "--list", "black", "--broker", "mqtt://127.0.0.1:9")
    assert (result.returncode, result.stderr.splitlines(), result.stdout) == (1, told, "")


def test_an_empty_zip(db: Path) -> None:
    rc, stderr, stdout = load(db, "empty.zip")
    assert (rc, stderr, stdout) == (1, [f"{DATA / 'empty.zip'}: the zip archive holds no file"], "")


def test_unnamed_columns(db: Path) -> None:
    name = DATA / "trailing-semicolon.csv"
    rc, stderr, stdout = load(db, name)  # its cells all empty: ignored silently
    assert (rc, stderr) == (0, [f"{name}: fields separated by ';'"])
    assert stdout.startswith(summary(2, 2))
    name = DATA / "unnamed-column.csv"
    rc, stderr, stdout = load(db, name, "--dry-run")
    assert (rc, stderr) == (
        0,
        [
            f"{name}: fields separated by ';'",
            f"{name}:1: ignoring column 3 (no name) (known: {KNOWN}; "
            'map one with --column "NAME=COLUMN")',
        ],
    )
