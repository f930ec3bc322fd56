"""Through the real ``eir``: the replace guard (``--max-remove``, ``--force``), the diff of a
load (``--diff``), a remove's IMEIs that are not listed, and ``eir export --digits``."""

from __future__ import annotations

from pathlib import Path

import pytest

from eir.model import ListName
from eir.store.api import Mode
from eir.store.batch import Batch, Group
from eir.store.lmdb_store import LmdbStore
from eir.store.records import NO_DIGIT, Table
from tests.support.cli import digest, eir

A1, A2, A3 = "490154203237518", "356938035643809", "353456789012348"


def imeis(first: int, count: int) -> str:
    return "".join(f"{35000000000000 + n}\n" for n in range(first, first + count))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "db"


def load(path: Path, db: Path, *options: str) -> tuple[int, str, str]:
    result = eir("load", path, "--list", "black", "--source", "police-hcm", "--db", db, *options)
    return result.returncode, result.stdout, result.stderr


def test_a_truncated_file_cannot_wipe_a_list(tmp_path: Path, db: Path) -> None:
    full, short = tmp_path / "full.txt", tmp_path / "short.txt"
    full.write_text(imeis(0, 20))
    short.write_text(imeis(0, 2))
    code, out, err = load(full, db, "--mode", "replace")  # a first load is never refused
    assert (code, err) == (0, "")
    assert out.startswith("added 20, updated 0, removed 0, unchanged 0,")
    before = digest(db)
    code, out, err = load(short, db, "--mode", "replace")
    assert (code, out) == (1, "")
    assert err == (
        "eir: replace would remove 18 of 20 black/police-hcm entries (90.0 %), over "
        "--max-remove 10% (2): nothing changed (check the file, or use --force)\n"
    )
    assert digest(db) == before
    code, out, err = load(short, db, "--mode", "replace", "--max-remove", "17")
    assert err == (
        "eir: replace would remove 18 of 20 black/police-hcm entries (90.0 %), over "
        "--max-remove 17: nothing changed (check the file, or use --force)\n"
    )
    assert code == 1 and digest(db) == before
    code, out, err = load(short, db, "--mode", "replace", "--dry-run")  # a dry run tells too
    assert code == 1 and "replace would remove 18 of 20" in err
    code, out, err = load(short, db, "--mode", "replace", "--max-remove", "90%")
    assert code == 0, err
    assert out.startswith("added 0, updated 0, removed 18, unchanged 2,")


def test_force_and_the_configured_limit(tmp_path: Path, db: Path) -> None:
    full, short = tmp_path / "full.txt", tmp_path / "short.txt"
    full.write_text(imeis(0, 20))
    short.write_text(imeis(0, 19))
    assert load(full, db)[0] == 0
    config = tmp_path / "eir.toml"
    config.write_text('[store]\nmax_remove = "0"\n')
    code, _, err = load(short, db, "--mode", "replace", "--config", str(config))
    assert code == 1
    assert "remove 1 of 20 black/police-hcm entries (5.0 %), over --max-remove 0:" in err
    code, out, err = load(short, db, "--mode", "replace", "--config", str(config), "--force")
    assert code == 0, err
    assert out.startswith("added 0, updated 0, removed 1, unchanged 19,")
    code, _, err = load(short, db, "--mode", "replace", "--max-remove", "lots")
    assert code != 0
    assert err == "eir: --max-remove: 'lots' is not a count (5000) or a percentage (10%)\n"


def test_one_check_of_max_remove(tmp_path: Path, db: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text('[store]\nmax_remove = "150%"\n')
    result = eir("check-config", config)
    assert (result.returncode, result.stderr) == (
        1,
        f"{config}: store.max_remove: '150%' is over 100%\n",
    )
    listing = tmp_path / "one.txt"
    listing.write_text(imeis(0, 1))
    code, out, err = load(listing, db, "--mode", "replace", "--config", str(config))
    assert (code, out) == (1, "")  # a bad config: 1, as check-config
    assert err == f"eir: {config}: store.max_remove: '150%' is over 100%\n"
    code, out, err = load(listing, db, "--mode", "replace", "--max-remove", "150%")
    assert (code, out, err) == (2, "", "eir: --max-remove: '150%' is over 100%\n")
    assert not db.exists()


def test_dry_run_diff(tmp_path: Path, db: Path) -> None:
    first = tmp_path / "first.csv"
    first.write_text(f"imei,reason\n{A1},stolen\n{A2},lost\n")
    assert load(first, db)[0] == 0
    before = digest(db)
    second = tmp_path / "second.csv"
    second.write_text(f"imei,reason,reference\n{A1},stolen,PR-7\n{A3},robbed,\n")
    diff = tmp_path / "diff.csv"
    code, out, err = load(
        second, db, "--mode", "replace", "--force", "--dry-run", "--diff", str(diff)
    )
    assert code == 0, err
    assert out.startswith("dry run, nothing changed: added 1, updated 1, removed 1, unchanged 0,")
    assert diff.read_text() == (
        "change,imei,imei_last,imsi,list,source,reason,reference,effective,expires\n"
        f"added,{A3},,,black,police-hcm,robbed,,,\n"  # each IMEI as it was loaded: 15 digits
        f"removed,{A2},,,black,police-hcm,lost,,,\n"
        f"updated,{A1},,,black,police-hcm,stolen,PR-7,,\n"
    )
    assert digest(db) == before
    code, out, err = load(second, db, "--mode", "remove", "--dry-run", "--diff", str(diff))
    assert out.startswith("dry run, nothing changed: added 0, updated 0, removed 1, not listed 1,")
    assert diff.read_text().splitlines()[1:] == [f"removed,{A1},,,black,police-hcm,stolen,,,"]


def test_an_unwritable_diff_refuses_the_load_first(tmp_path: Path, db: Path) -> None:
    first = tmp_path / "first.csv"
    first.write_text(f"imei,reason\n{A1},stolen\n")
    assert load(first, db)[0] == 0
    before = digest(db)
    second = tmp_path / "second.csv"
    second.write_text(f"imei,reason\n{A2},lost\n")
    code, out, err = load(second, db, "--diff", "/nonexistent/d.csv")
    assert (code, out) == (1, "")
    assert err == "eir: --diff /nonexistent/d.csv: No such file or directory\n"
    assert digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "first.csv", "second.csv"]
    code, out, err = load(second, db, "--diff", str(tmp_path))
    assert (code, out, err) == (1, "", f"eir: --diff {tmp_path}: Is a directory\n")
    assert digest(db) == before


def test_diff_to_standard_output(tmp_path: Path, db: Path) -> None:
    first = tmp_path / "first.csv"
    first.write_text(f"imei,reason\n{A1},stolen\n")
    code, out, err = load(first, db, "--dry-run", "--diff", "-")
    assert code == 0, err
    header, row = out.splitlines()
    assert header == "change,imei,imei_last,imsi,list,source,reason,reference,effective,expires"
    assert row.startswith(f"added,{A1[:14]}") and row.endswith(",,,black,police-hcm,stolen,,,")
    assert err.startswith("dry run, nothing changed: added 1, updated 0, removed 0,")


def test_remove_says_not_listed(tmp_path: Path, db: Path) -> None:
    listed = tmp_path / "listed.txt"
    listed.write_text(f"{A1}\n")
    assert load(listed, db)[0] == 0
    both = tmp_path / "both.txt"
    both.write_text(f"{A1}\n{A2}\n")
    code, out, err = load(both, db, "--mode", "remove")
    assert (code, err) == (0, "")
    assert out.startswith(
        "added 0, updated 0, removed 1, not listed 1, unchanged 0, invalid 0, duplicates 0; "
    )


def stored_with_digits(db: Path) -> None:
    """A store whose entries were loaded as 15 digits (one with a wrong check digit), 14
    digits, and a range, as the loader records them (``Group.digits``): made with the store's
    API, as the loader of this version writes no check digits yet."""
    keys = [A3[:14].encode(), A2[:14].encode(), A1[:14].encode()]
    store = LmdbStore(db)
    try:
        batch = Batch(
            groups=[
                Group(Table.IMEI, ListName.BLACK, "police", keys, digits=bytes([8, NO_DIGIT, 3])),
                Group(Table.RANGE, ListName.GREY, "lab", [(A2[:14] + A1[:14]).encode()]),
            ]
        )
        store.apply(batch, Mode.ADD, [(ListName.BLACK, "police")], now=1_700_000_000)
    finally:
        store.close()


def test_export_digits(tmp_path: Path, db: Path) -> None:
    stored_with_digits(db)
    stamp = "2023-11-14T22:13:20Z"
    lines = {
        None: [f"{A3},,,black,police", f"{A2[:14]},,,black,police", f"{A1[:14]}3,,,black,police"],
        "14": [
            f"{A3[:14]},,,black,police",
            f"{A2[:14]},,,black,police",
            f"{A1[:14]},,,black,police",
        ],
        "15": [f"{A3},,,black,police", f"{A2},,,black,police", f"{A1[:14]}3,,,black,police"],
    }
    ranges = {
        None: f"{A2[:14]},{A1[:14]},,grey,lab",
        "14": f"{A2[:14]},{A1[:14]},,grey,lab",
        "15": f"{A2},{A1},,grey,lab",
    }
    for digits, imei_rows in lines.items():
        options = () if digits is None else ("--digits", digits)
        result = eir("export", "--db", db, *options)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            "imei,imei_last,imsi,list,source,reason,reference,added",
            *(f"{row},,,{stamp}" for row in imei_rows),
            f"{ranges[digits]},,,{stamp}",
        ]
    assert A3[14] == "8" and A1[14] == "8"  # their Luhn digits: A1 was loaded with a wrong 3


def test_loaded_as_15_digits_exported_and_reloaded_as_such(tmp_path: Path, db: Path) -> None:
    both = tmp_path / "both.txt"
    both.write_text(f"{A3}\n{A2[:14]}\n")
    assert load(both, db)[0] == 0
    out = tmp_path / "export.csv"
    assert eir("export", out, "--db", db).returncode == 0
    rows = [line.split(",")[0] for line in out.read_text().splitlines()[1:]]
    copy = tmp_path / "copy"
    result = eir("load", out, "--list", "black", "--db", copy)
    assert result.returncode == 0, result.stderr
    assert digest(copy) == digest(db)
    code, again, _ = load(both, db, "--mode", "replace")
    assert code == 0 and again.startswith("added 0, updated 0, removed 0, unchanged 2,")
    fourteen = tmp_path / "fourteen.txt"
    fourteen.write_text(f"{A3[:14]}\n{A2[:14]}\n")
    code, again, _ = load(fourteen, db, "--mode", "replace")
    assert code == 0 and again.startswith("added 0, updated 1, removed 0, unchanged 1,")
    assert rows == [A3, A2[:14]]  # as loaded: 15 digits for A3, 14 for A2
