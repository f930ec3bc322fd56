"""``eir versions``, ``eir diff`` and ``eir rollback`` through the real executable."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.support.cli import digest, eir

A1, A2, A3 = "490154203237518", "356938035643809", "353456789012348"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "db"


def load(db: Path, path: Path, text: str, *extra: str) -> None:
    path.write_text(text)
    result = eir(
        "load", path, "--list", "black", "--source", "police", "--mode", "replace",
        "--force", "--db", db, *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_rollback_of_a_replace_restores_the_earlier_digest(tmp_path: Path, db: Path) -> None:
    load(db, tmp_path / "a.csv", f"imei,reason\n{A1},stolen\n{A2},stolen\n")
    after_a = digest(db)
    load(db, tmp_path / "b.csv", f"imei,reason\n{A2},lost\n{A3},stolen\n")
    assert digest(db) != after_a

    result = eir("diff", "1", "2", "--db", db)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "from version 1 to version 2:\n"
        f"added    {A3:<34} black police           stolen\n"
        f"updated  {A2:<34} black police           lost\n"
        f"removed  {A1:<34} black police           stolen\n"
        "added 1, removed 1, updated 1 entries\n"
    )
    result = eir("diff", "1", "2", "--csv", "--db", db)
    assert result.stdout == (
        "change,imei,imei_last,imsi,list,source,reason,reference,effective,expires\n"
        f"added,{A3},,,black,police,stolen,,,\n"
        f"updated,{A2},,,black,police,lost,,,\n"
        f"removed,{A1},,,black,police,stolen,,,\n"
    )

    result = eir("rollback", "1", "--db", db, stdin=b"")  # not on a terminal: --yes needed
    assert (result.returncode, result.stderr) == (
        2,
        "eir: rolling back to version 1 changes the lists: add --yes "
        "(or see the changes first with --dry-run)\n",
    )
    result = eir("rollback", "1", "--dry-run", "--db", db)
    assert result.stdout == (
        "dry run, nothing changed: rolling back to version 1: "
        "added 1, updated 1, removed 1, unchanged 0 keys\n"
    )
    result = eir("rollback", "1", "--yes", "--by", "ana", "--reason", "wrong file", "--db", db)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "version 3: the content of version 1 (added 1, updated 1, removed 1, unchanged 0 keys)\n"
        f"digest: {after_a}\n"
    )
    assert digest(db) == after_a

    data = json.loads(eir("versions", "--json", "--db", db).stdout)
    assert data["head"] == 3
    newest = data["versions"][0]
    assert (newest["version"], newest["action"], newest["by"], newest["reason"]) == (
        3,
        "rollback",
        "ana",
        "wrong file",
    )
    assert (newest["restores"], newest["changes_kept"], newest["origin"]) == (1, True, "cli")
    assert newest["node"] == socket.gethostname().split(".")[0]  # mqtt.node unset: the host
    lines = eir("versions", "--db", db).stdout.splitlines()
    assert lines[1].split() == ["3", newest["utc"], "rollback", "ana", "cli", "+1", "~1", "-1",
                                "kept", "restores", "v1"]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == ["3", "2", "1"]
    # back to the content after version 2 (a rollback is a version like any other)
    result = eir("diff", "2", "3", "--csv", "--db", db)
    assert result.stdout.splitlines()[1:] == [
        f"removed,{A3},,,black,police,stolen,,,",
        f"updated,{A2},,,black,police,stolen,,,",
        f"added,{A1},,,black,police,stolen,,,",
    ]


def test_dropped_versions_are_refused(tmp_path: Path, db: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text("[versions]\nkeep = 2\n")
    for n, imei in enumerate((A1, A2, A3, A1)):
        load(db, tmp_path / f"{n}.csv", f"{imei}\n", "--config", str(config))
    for args in (["diff", "1", "3"], ["rollback", "1", "--yes"]):
        result = eir(*args, "--config", config, "--db", db)
        assert (result.returncode, result.stdout, result.stderr) == (
            1,
            "",
            "eir: version 2's changes were dropped (the oldest kept is 3; versions.keep = 2 now)\n",
        )
    assert eir("diff", "2", "4", "--config", config, "--db", db).returncode == 0
    result = eir("diff", "4", "5", "--config", config, "--db", db)
    assert (result.returncode, result.stderr) == (1, "eir: no version 5 (the newest is 4)\n")
    result = eir("rollback", "4", "--yes", "--config", config, "--db", db)
    assert result.stderr == "eir: version 4 is the newest: nothing to roll back\n"
    # refused before asking for a confirmation (no --yes, no terminal)
    for wanted, said in (
        ("99", "no version 99 (the newest is 4)"),
        ("1", "version 2's changes were dropped (the oldest kept is 3; versions.keep = 2 now)"),
        ("4", "version 4 is the newest: nothing to roll back"),
    ):
        result = eir("rollback", wanted, "--config", config, "--db", db, stdin=b"")
        assert (result.returncode, result.stdout, result.stderr) == (1, "", f"eir: {said}\n")
    lines = eir("versions", "--config", config, "--db", db).stdout.splitlines()
    assert [line.split()[-1] for line in lines[1:]] == ["kept", "kept", "dropped", "dropped"]


def test_rollback_across_a_purge_brings_the_entries_back(tmp_path: Path, db: Path) -> None:
    """A purge is a version with its change set like any other: rolling back to the version
    before it puts the purged entries back (the digest of that version)."""
    load(
        db, tmp_path / "a.csv",
        f"imei,reason,expires\n{A1},visitor,2027-01-01\n{A2},visitor,2027-01-01\n{A3},stolen,\n",
    )  # fmt: skip
    loaded = digest(db)
    later = tmp_path / "later.toml"
    later.write_text(f"[lifecycle]\nclock_offset_s = {60 * 86400}\n")
    purged = eir("purge", "--db", db, "--config", later)
    assert purged.returncode == 0, purged.stderr
    assert purged.stdout.startswith("purged 2 expired entries by ")
    assert digest(db) != loaded
    result = eir("rollback", "1", "--yes", "--db", db)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "version 3: the content of version 1 (added 2, updated 0, removed 0, unchanged 0 keys)\n"
    )
    assert digest(db) == loaded


def test_a_rollback_keeps_the_cases_entries(tmp_path: Path, db: Path) -> None:
    """A case's entries are the case's: a rollback to before the case leaves them, so the
    case still answers black and its record and entries agree."""
    load(db, tmp_path / "a.csv", f"imei,reason\n{A1},stolen\n")
    after_a = digest(db)
    for action in (["open", "C-1", "--imei", A2, "--reason", "stolen"], ["block", "C-1"]):
        done = eir("case", *action, "--db", db)
        assert done.returncode == 0, done.stderr
    load(db, tmp_path / "b.csv", f"imei,reason\n{A3},stolen\n")
    result = eir("rollback", "1", "--yes", "--db", db)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "version 5: the content of version 1 (added 1, updated 0, removed 1, unchanged 1 keys)\n"
    )
    shown = eir("case", "show", "C-1", "--json", "--db", db)
    assert shown.returncode == 0, shown.stderr
    case = json.loads(shown.stdout)
    assert (case["state"], case["answers"][A2]["answer"]) == ("blocked", "blacklisted")
    assert digest(db) != after_a
