"""``eir load`` of CSVs the bulk path takes, through the real executable: per-row list, source
and added, repeated rows, and the progress line of reading, checking and writing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.cli import EIR, eir, env

DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_csv_with_list_source_and_added_columns(tmp_path: Path) -> None:
    db = tmp_path / "db"
    path = DATA / "sources.csv"
    result = eir("load", path, "--list", "black", "--db", db)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "added 5, updated 0, removed 0, unchanged 0, invalid 0, duplicates 2; 7 rows in "
    )
    assert result.stderr.splitlines() == [
        f"{path}:7: duplicate of IMEI 49015420323751 on {path}:2 (first kept)",
        f"{path}:8: duplicate of IMEI 35693803564380 on {path}:3 (first kept)",
    ]
    stats = json.loads(eir("stats", "--json", "--db", db).stdout)
    assert stats["entries"] == {
        "imei/black/police-hanoi": 2,
        "imei/black/police-hcmc": 1,
        "imei/grey/mic": 1,
        "imei/white/operator": 1,
    }
    exported = eir("export", "--db", db).stdout.splitlines()
    assert "35345678901234,,,grey,mic,fraud,MIC-5,2026-11-18T11:06:40Z" in exported
    # each IMEI as it was loaded: these two with their check digit
    assert "356938035643809,,,black,police-hcmc,lost,HCM-17,2026-11-03T09:30:00Z" in exported
    assert "490154203237518,,,black,police-hanoi,stolen,HN-2026-0001,2026-11-02T08:00:00Z" in (
        exported
    )


def test_several_sources_load_as_one_sorted_append(tmp_path: Path) -> None:
    """Distinct IMEIs of three sources, in random order: the same store as three loads."""
    db, apart = tmp_path / "db", tmp_path / "apart"
    rows = [line for line in (DATA / "three-sources.csv").read_text().splitlines()[1:] if line]
    result = eir("load", DATA / "three-sources.csv", "--list", "black", "--db", db)
    assert result.stdout.startswith(f"added {len(rows)}, updated 0, removed 0, unchanged 0,")
    for source in ("police-hanoi", "police-hcmc", "mic"):
        part = tmp_path / f"{source}.csv"
        mine = [
            f"{imei},{reason}"
            for imei, name, reason in (r.split(",") for r in rows)
            if name == source
        ]
        part.write_text("imei,reason\n" + "\n".join(mine) + "\n")
        assert (
            eir("load", part, "--list", "black", "--source", source, "--db", apart).returncode == 0
        )
    one = json.loads(eir("stats", "--json", "--db", db).stdout)
    three = json.loads(eir("stats", "--json", "--db", apart).stdout)
    assert one["digest"] == three["digest"] and one["entries"] == three["entries"]


def test_the_progress_line_covers_reading_checking_and_writing(tmp_path: Path) -> None:
    result = subprocess.run(
        [EIR, "load", str(DATA / "three-sources.csv"), "--list", "black", "--db", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env() | {"EIR_PROGRESS": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [
        line.strip("\r\x1b[K") for line in result.stderr.splitlines() if line.strip("\r\x1b[K")
    ]
    phases = [line.split(" ", 1)[0] for line in lines]
    assert phases[0] == "reading" and "checking" in phases and phases[-1] == "writing"
    assert lines[-1].startswith("writing [##############################] 300/300 rows, 100% done")
    assert all(" done, ETA " in line for line in lines)


def test_replace_and_remove_with_a_bulk_csv(tmp_path: Path) -> None:
    """The bulk path's groups (packed values) go through --mode replace, a dry run and
    --mode remove like any other."""
    db = tmp_path / "db"
    path = DATA / "three-sources.csv"
    assert eir("load", path, "--list", "black", "--db", db).returncode == 0
    again = eir("load", path, "--list", "black", "--mode", "replace", "--db", db)
    assert again.stdout.startswith("added 0, updated 0, removed 0, unchanged 300, invalid 0,")
    dry = eir("load", path, "--list", "black", "--mode", "remove", "--dry-run", "--db", db)
    assert dry.stdout.startswith("dry run, nothing changed: added 0, updated 0, removed 300,")
    gone = eir("load", path, "--list", "black", "--mode", "remove", "--db", db)
    assert gone.stdout.startswith("added 0, updated 0, removed 300, unchanged 0,")
    assert json.loads(eir("stats", "--json", "--db", db).stdout)["entries"] == {}
