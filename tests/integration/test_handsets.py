"""Single handsets through the real ``eir``: block and unblock (one transaction each, in the load
history with the IMEIs, the operator, the reason and the reference), lookup of several IMEIs,
``eir load --json`` (issue 15, items 5)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import EIR, digest, eir, env

#: on the demo lists: black from "demo"; its written forms as on a police form and a phone box
LISTED = "490154203237518"
#: on no list of the demo
FREE, FREE_DASHED, FREE_SPACED = "352099001761481", "35-209900-176148-1", "35 209900 176148 1"
#: FREE with a wrong check digit (the Luhn digit is 1)
FREE_BAD_DIGIT = "352099001761487"
#: the node a change made here is recorded from (no mqtt.node: the host name's first label)
THIS_NODE = socket.gethostname().split(".")[0]
BLOCK = ("--list", "black", "--reason", "stolen", "--reference", "HCM-2026-1187")
UNBLOCK = ("--reason", "found by its owner", "--reference", "HCM-2026-1190")


def stats(db: Path) -> dict[str, Any]:
    result = eir("stats", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def last_record(db: Path) -> dict[str, Any]:
    record: dict[str, Any] = stats(db)["history"][-1]
    del record["time"], record["seq"]
    return record


def answer(db: Path, imei: str) -> dict[str, Any]:
    result = eir("lookup", imei, "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_block_written_forms_in_one_recorded_transaction(demo_db: Path) -> None:
    result = eir("block", FREE_DASHED, "'356938035643809", *BLOCK, "--by", "an", "--db", demo_db)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # 356938035643809 is listed by "demo": blocked by hand it gets its own entry, from manual
    assert result.stdout.startswith(
        "added 2, updated 0, removed 0, unchanged 0, invalid 0, duplicates 0; 2 rows in "
    )
    assert last_record(demo_db) == {
        "action": "block",
        "mode": "add",
        "list": "black",
        "source": "manual",
        "files": [],
        "imeis": [FREE, "356938035643809"],
        "by": "an",
        "reason": "stolen",
        "reference": "HCM-2026-1187",
        "added": 2,
        "updated": 0,
        "removed": 0,
        "unchanged": 0,
        "invalid": 0,
        "duplicates": 0,
        "missing": 0,
        "origin": "cli",
        "node": THIS_NODE,
        "case": "",
        "update": 0,
        "restores": 0,
    }
    data = answer(demo_db, FREE_SPACED)
    assert data["answer"] == "blacklisted"
    assert (data["entry"]["source"], data["entry"]["reason"], data["entry"]["reference"]) == (
        "manual",
        "stolen",
        "HCM-2026-1187",
    )
    lines = eir("stats", "--db", demo_db).stdout.splitlines()
    assert re.fullmatch(
        r"  #2 \S+Z block black/manual 352099001761481 356938035643809: \+2 ~0 -0 =0; "
        r"by an, reason 'stolen', reference 'HCM-2026-1187'",
        lines[-1],
    ), lines[-1]


def test_block_names_the_login_without_by(demo_db: Path) -> None:
    result = subprocess.run(
        [EIR, "block", FREE, *BLOCK, "--source", "police-hcm", "--db", str(demo_db)],
        capture_output=True,
        text=True,
        env=env() | {"LOGNAME": "duty-officer"},
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    record = last_record(demo_db)
    assert (record["by"], record["source"]) == ("duty-officer", "police-hcm")


def test_block_refuses_a_wrong_check_digit_unless_told(demo_db: Path) -> None:
    before = digest(demo_db)
    result = eir("block", FREE_BAD_DIGIT, *BLOCK, "--db", demo_db)
    assert result.returncode == 1
    assert result.stderr == (
        f"eir: IMEI {FREE_BAD_DIGIT} has check digit 7, expected 1 (a typo would list another "
        "handset; --check-digit list lists it by its 14 digits)\n"
    )
    assert digest(demo_db) == before
    result = eir("block", FREE_BAD_DIGIT, *BLOCK, "--check-digit", "list", "--db", demo_db)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"eir: warning: IMEI {FREE_BAD_DIGIT} has check digit 7, expected 1: listed by its "
        "14 digits (--check-digit list)\n"
    )
    assert last_record(demo_db)["imeis"] == [FREE_BAD_DIGIT]
    assert answer(demo_db, FREE)["answer"] == "blacklisted"


def test_block_takes_the_configured_check_digit_policy(demo_db: Path, tmp_path: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text('[lists]\ncheck_digit = "list"\n')
    before = digest(demo_db)
    told = ("block", FREE_BAD_DIGIT, *BLOCK, "--db", demo_db, "--config", config)
    result = eir(*told, "--check-digit", "refuse")  # the option over the configuration
    assert result.returncode == 1
    assert result.stderr.startswith(f"eir: IMEI {FREE_BAD_DIGIT} has check digit 7, expected 1 (")
    assert digest(demo_db) == before
    result = eir(*told)
    assert (result.returncode, result.stderr) == (
        0,
        f"eir: warning: IMEI {FREE_BAD_DIGIT} has check digit 7, expected 1: listed by its "
        "14 digits (--check-digit list)\n",
    )
    assert answer(demo_db, FREE)["answer"] == "blacklisted"


@pytest.mark.parametrize("command", ["block", "unblock"])
def test_an_empty_reason_or_reference_is_refused(demo_db: Path, command: str) -> None:
    before = digest(demo_db)
    told = (command, FREE, "--list", "black", "--db", demo_db)
    result = eir(*told, "--reason", "", "--reference", "HCM-1")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "eir: --reason is empty: say why (e.g. stolen)\n"
    result = eir(*told, "--reason", "stolen", "--reference", "  ")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "eir: --reference is empty: name the case or ticket (e.g. HCM-2026-1187)\n"
    )
    assert digest(demo_db) == before


def test_block_with_a_bad_imei_changes_nothing(demo_db: Path) -> None:
    before = digest(demo_db)
    result = eir("block", FREE, "12345", "35x", *BLOCK, "--db", demo_db)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "eir: IMEI '12345' has 5 digits, expected 14, 15 or 16",
        "eir: IMEI '35x' has a non-digit 'x'",
        "eir: 2 of 3 IMEIs are not valid; nothing was changed",
    ]
    assert digest(demo_db) == before


def test_block_needs_a_reason_a_reference_and_a_store(tmp_path: Path) -> None:
    result = eir("block", FREE, "--list", "black", "--reason", "stolen", "--db", tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "eir block: the following arguments are required: --reference"
    )
    result = eir("block", FREE, *BLOCK, "--db", tmp_path / "none")
    assert result.returncode == 1
    assert result.stderr == (
        f"eir: {tmp_path / 'none'}: no list store here (create one with `eir load`)\n"
    )
    assert not (tmp_path / "none").exists()


def test_unblock_is_recorded_and_refuses_what_is_not_listed(demo_db: Path) -> None:
    before = digest(demo_db)
    result = eir("unblock", LISTED, FREE_DASHED, *UNBLOCK, "--by", "an", "--db", demo_db)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"eir: {FREE} is not listed (black)",
        "eir: nothing was changed (--missing-ok removes the others)",
    ]
    assert result.stdout == ""
    assert digest(demo_db) == before
    assert answer(demo_db, LISTED)["answer"] == "blacklisted"

    result = eir(
        "unblock", LISTED, FREE_DASHED, *UNBLOCK, "--by", "an", "--missing-ok", "--db", demo_db
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"eir: {FREE} is not listed (black)\n"
    assert result.stdout.startswith("added 0, updated 0, removed 1, ")
    assert answer(demo_db, LISTED)["answer"] == "whitelisted"
    record = last_record(demo_db)
    assert {k: record[k] for k in ("action", "mode", "list", "source", "imeis", "removed")} == {
        "action": "unblock",
        "mode": "remove",
        "list": "black",
        "source": "*",
        "imeis": [LISTED, FREE],
        "removed": 1,
    }
    assert (record["by"], record["reason"], record["reference"]) == (
        "an",
        "found by its owner",
        "HCM-2026-1190",
    )


def test_unblock_from_one_source(demo_db: Path) -> None:
    result = eir("unblock", LISTED, *UNBLOCK, "--source", "police-hcm", "--db", demo_db)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"eir: {LISTED} is not listed (black/police-hcm)"
    result = eir("unblock", LISTED, *UNBLOCK, "--source", "demo", "--db", demo_db)
    assert result.returncode == 0, result.stderr
    assert answer(demo_db, LISTED)["answer"] == "whitelisted"
    assert last_record(demo_db)["source"] == "demo"


def test_lookup_of_several_imeis_and_a_file(tmp_path: Path, demo_db: Path) -> None:
    result = eir("lookup", LISTED, "12", FREE_DASHED, "--json", "--db", demo_db)
    assert result.returncode == 1
    assert result.stderr == ""
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(d["imei"], d.get("answer"), d.get("error")) for d in lines] == [
        (LISTED, "blacklisted", None),
        ("12", None, "IMEI '12' has 2 digits, expected 14, 15 or 16"),
        (FREE, "whitelisted", None),
    ]
    # the same object as one IMEI's, on one line (each judged at its own now)
    assert lines[0] | {"at": None} == answer(demo_db, LISTED) | {"at": None}

    listing = tmp_path / "check.txt"
    listing.write_text(f"# from the police\n{LISTED}\n\n35x\n{FREE_SPACED}\n")
    result = eir("lookup", "--file", listing, "--db", demo_db)
    assert result.returncode == 1
    assert result.stderr == f"{listing}:4: IMEI '35x' has a non-digit 'x'\n"
    assert [line for line in result.stdout.splitlines() if not line.startswith("  ")] == [
        f"{LISTED}: blacklisted",
        f"{FREE}: whitelisted",
    ]
    result = eir("lookup", "--file", "-", "--json", "--db", demo_db, stdin=f"{FREE}\n".encode())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answer"] == "whitelisted"


def test_lookup_of_one_imei_is_unchanged(demo_db: Path) -> None:
    result = eir("lookup", LISTED, "--db", demo_db)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{LISTED}: blacklisted",
        "  why: imei: imei 49015420323751 on black from demo",
        "  reason: stolen",
        "  reference: HCM-2026-00017",
        result.stdout.splitlines()[4],
        result.stdout.splitlines()[5],
        "  anomalies: none",
    ]
    assert result.stdout.splitlines()[4].startswith("  added: ")
    # the audit record that made the entry (issue 18): the demo's load, by its operator
    assert re.fullmatch(
        r"  made: v1 load [0-9-]+T[0-9:]+Z by .+ \(cli@.+\)", result.stdout.splitlines()[5]
    )
    result = eir("lookup", LISTED, "--json", "--db", demo_db)
    assert result.stdout.startswith('{\n  "imei": "490154203237518",\n')
    result = eir("lookup", "--db", demo_db)
    assert result.returncode == 2
    assert result.stderr == "eir: lookup: give one or more IMEIs, or --file\n"


def test_load_json_summary(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"{LISTED}\n{FREE}\n{FREE}\n")
    result = eir("load", listing, "--list", "black", "--json", "--db", tmp_path / "db")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert result.stdout.count("\n") == 1
    assert data["seconds"] > 0 and data["rate"] > 0
    assert {k: v for k, v in data.items() if k not in ("seconds", "rate")} == {
        "added": 2,
        "updated": 0,
        "removed": 0,
        "unchanged": 0,
        "invalid": 0,
        "duplicates": 1,
        "missing": 0,
        "rows": 3,
        "dry_run": False,
        "warnings": 0,
    }


def test_block_warns_of_an_imei_that_lost_its_leading_zero(demo_db: Path) -> None:
    # 013006001234568 as Excel shows it: 14 digits whose "13" is no reporting body
    result = eir("block", "13006001234568", *BLOCK, "--db", demo_db)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "eir: warning: IMEI 13006001234568 looks like a 15-digit IMEI that lost its leading 0 "
        "(no reporting body 13)\n"
    )
    assert last_record(demo_db)["imeis"] == ["13006001234568"]
