"""Entries with times through the real ``eir`` (issue 18): list file columns ``effective`` and
``expires``, ``eir load --grace/--expires-in``, ``eir block --effective/--expires/--grace``,
``eir export`` (byte-identical without times; with them, reloaded to the same digest), the
dry run's diff and ``eir purge`` at the lifecycle's clock."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.support.cli import digest, eir

A1, A2, A3 = "490154203237518", "356938035643809", "353456789012348"
DEC15 = "2026-12-15T00:00:00Z"
DAY = 86400
TIMED = (
    "imei,reason,effective,expires\n"
    f"{A1},stolen,2026-12-15,\n"
    f"{A2},visitor,,2027-01-01T07:00:00+07:00\n"
    f"{A3},lost,,\n"
)


def _stats(db: Path) -> dict[str, Any]:
    result = eir("stats", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _export(db: Path) -> list[str]:
    result = eir("export", "--db", db)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _config(tmp_path: Path, offset: float) -> Path:
    path = tmp_path / f"eir-{offset:.0f}.toml"
    path.write_text(f"[lifecycle]\nclock_offset_s = {offset}\npurge_batch = 100\n")
    return path


def test_load_export_reload(tmp_path: Path) -> None:
    db, again = tmp_path / "db", tmp_path / "again"
    (tmp_path / "plain.csv").write_text(f"imei,reason\n{A1},stolen\n")
    assert eir("load", "--db", db, "--list", "black", tmp_path / "plain.csv").returncode == 0
    assert _export(db)[0] == "imei,imei_last,imsi,list,source,reason,reference,added"
    (tmp_path / "timed.csv").write_text(TIMED)
    result = eir("load", "--db", db, "--list", "black", "--source", "p", tmp_path / "timed.csv")
    assert result.returncode == 0, result.stderr
    lines = _export(db)
    assert lines[0] == ("imei,imei_last,imsi,list,source,reason,reference,added,effective,expires")
    body = sorted(line.split(",") for line in lines[1:])
    assert [(r[0], r[4], r[8], r[9]) for r in body] == [
        (A3, "p", "", ""),
        (A2, "p", "", "2027-01-01T00:00:00Z"),
        (A1, "manual", "", ""),
        (A1, "p", DEC15, ""),
    ]
    (tmp_path / "export.csv").write_text("\n".join(lines) + "\n")
    result = eir("load", "--db", again, "--list", "black", tmp_path / "export.csv")
    assert result.returncode == 0, result.stderr
    assert digest(again) == digest(db)


def test_bad_times_refused(tmp_path: Path) -> None:
    db = tmp_path / "db"
    bad = tmp_path / "bad.csv"
    bad.write_text(f"imei,effective,expires\n{A1},2027-01-01,2026-12-15\n{A2},15/12/2026,\n")
    result = eir("load", "--db", db, "--list", "black", bad)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{bad}:2: expires: 2026-12-15T00:00:00Z is not after effective 2027-01-01T00:00:00Z",
        f"{bad}:3: effective: '15/12/2026' is not an ISO date (2026-12-15) or date-time with Z "
        "or an offset (2026-12-15T08:00:00Z)",
        "eir: 2 invalid rows: nothing was changed (fix them, or take the others with "
        "--skip-invalid)",
    ]
    result = eir("load", "--db", db, "--list", "black", "--grace", "-3", bad)
    assert result.returncode == 2
    assert "argument --grace: '-3': a number of days above 0, at most 36500" in result.stderr
    result = eir("load", "--db", db, "--list", "black", "--grace", "10", "--expires-in", "5", bad)
    assert result.returncode == 2
    assert result.stderr == "eir: --expires-in 5 ends before --grace 10 does\n"


def test_grace_and_expires_in(tmp_path: Path) -> None:
    db = tmp_path / "db"
    offset = 30 * DAY  # the lab's clock: a month ahead
    plain = tmp_path / "plain.txt"
    plain.write_text(f"{A1}\n{A2}\n")
    (tmp_path / "own.csv").write_text(f"imei,effective\n{A3},2026-12-15\n")
    config = _config(tmp_path, offset)
    before = int(time.time() + offset)
    result = eir(
        "load", "--config", config, "--db", db, "--list", "black", "--grace", "20",
        "--expires-in", "60", plain, tmp_path / "own.csv",
    )  # fmt: skip
    after = int(time.time() + offset) + 1
    assert result.returncode == 0, result.stderr
    rows = {line.split(",")[0]: line.split(",") for line in _export(db)[1:]}
    for imei in (A1, A2):
        effective = _seconds(rows[imei][8])
        expires = _seconds(rows[imei][9])
        assert before + 20 * DAY <= effective <= after + 20 * DAY
        assert before + 60 * DAY <= expires <= after + 60 * DAY
    assert rows[A3][8] == DEC15 and _seconds(rows[A3][9]) >= before + 60 * DAY


def _seconds(text: str) -> int:
    return int(time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone)


def test_block_with_times(tmp_path: Path) -> None:
    db = tmp_path / "db"
    (tmp_path / "empty.txt").write_text("")
    assert eir("load", "--db", db, "--list", "black", tmp_path / "empty.txt").returncode == 0
    said = ("--reason", "stolen", "--reference", "HCM-1", "--by", "ops")
    result = eir(
        "block", "--db", db, "--list", "black", *said, "--effective", "2026-12-15",
        "--expires", "2027-06-01T00:00:00Z", A1,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    before = int(time.time())
    result = eir("block", "--db", db, "--list", "black", *said, "--grace", "15", A2)
    assert result.returncode == 0, result.stderr
    rows = {line.split(",")[0]: line.split(",") for line in _export(db)[1:]}
    assert rows[A1][8:] == [DEC15, "2027-06-01T00:00:00Z"]
    assert before + 15 * DAY <= _seconds(rows[A2][8]) <= before + 15 * DAY + 5
    result = eir(
        "block", "--db", db, "--list", "black", *said, "--effective", "2027-01-01",
        "--expires", "2026-12-15", A3,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (
        2,
        "eir: --expires: 2026-12-15T00:00:00Z is not after effective 2027-01-01T00:00:00Z\n",
    )
    result = eir(
        "block", "--db", db, "--list", "black", *said, "--effective", "2027-01-01",
        "--grace", "3", A3,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == "eir: --effective and --grace both name the due date: give one\n"
    result = eir("block", "--db", db, "--list", "black", *said, "--effective", "soon", A3)
    assert result.returncode == 2
    assert (
        "argument --effective: 'soon' is not an ISO date (2026-12-15) or date-time with Z or "
        "an offset (2026-12-15T08:00:00Z)" in result.stderr
    )


def test_dry_run_diff_shows_times(tmp_path: Path) -> None:
    db = tmp_path / "db"
    (tmp_path / "timed.csv").write_text(TIMED)
    result = eir(
        "load", "--db", db, "--list", "black", "--dry-run", "--diff", "-", tmp_path / "timed.csv"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "change,imei,imei_last,imsi,list,source,reason,reference,effective,expires",
        f"added,{A3},,,black,manual,lost,,,",
        f"added,{A2},,,black,manual,visitor,,,2027-01-01T00:00:00Z",
        f"added,{A1},,,black,manual,stolen,,{DEC15},",
    ]


def test_purge_at_the_lifecycle_clock(tmp_path: Path) -> None:
    db = tmp_path / "db"
    rows = "".join(f"35693803{n:06d},visitor,,2026-12-15\n" for n in range(150))
    (tmp_path / "timed.csv").write_text(f"imei,reason,effective,expires\n{rows}{A1},kept,,\n")
    assert eir("load", "--db", db, "--list", "grey", tmp_path / "timed.csv").returncode == 0
    now = time.time()
    early = _config(tmp_path, 1_797_292_800 - 10 - now)  # ten seconds before they expire
    result = eir("purge", "--config", early, "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["removed"] == 0
    late = _config(tmp_path, 1_797_292_800 + 10 - now)
    result = eir("purge", "--config", late, "--db", db, "--dry-run")
    assert result.stdout.startswith("dry run, nothing changed: 150 entries expired by 2026-12-15")
    assert _stats(db)["entries"] == {"imei/grey/manual": 151}
    result = eir("purge", "--config", late, "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["removed"], data["versions"], data["dry_run"]) == (150, [2, 3], False)
    stats = _stats(db)
    assert stats["entries"] == {"imei/grey/manual": 1}
    steps = stats["history"][-2:]
    assert [(h["action"], h["origin"], h["removed"]) for h in steps] == [
        ("purge", "cli", 100),
        ("purge", "cli", 50),
    ]
    result = eir("purge", "--config", late, "--db", db)
    assert result.stdout.startswith("purged 0 expired entries by 2026-12-15T00:00:1")
