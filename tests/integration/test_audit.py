"""The audit trail through the real ``eir`` (issue 18, items 3 and 5): every action (load, block,
unblock, devices load, pairs grandfather) leaves one history record saying who, why and from
where; ``eir audit`` filters them; ``eir lookup`` explains an entry's state, due date, expiry,
case and the record that made it."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import lmdb

from eir.observations.record import Sighting
from eir.observations.store import ObservationStore
from tests.support.cli import eir

ROOT = Path(__file__).resolve().parents[2]
NODE = socket.gethostname().split(".")[0]
A, B, C = "490154203237518", "356938035643809", "352099001761481"
IMSI = "001010000000001"
TIME = r"[0-9-]+T[0-9:]+Z"
#: 2026-01-10T12:00:00Z, before the grandfathering cut-off
SEEN = 1_768_046_400


def audit(db: Path, *args: str) -> list[dict[str, Any]]:
    result = eir("audit", "--json", "--db", db, *args)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def the_actions(tmp_path: Path) -> Path:
    """A store that had each action once: v1 load, v2 block, v3 unblock, v4 devices load,
    v5 grandfather."""
    db = tmp_path / "db"
    listing = tmp_path / "police.txt"
    listing.write_text(f"{A}\n{C}\n")
    steps = [
        ("load", listing, "--list", "black", "--source", "police", "--by", "ana"),
        ("--reason", "monthly police list", "--reference", "PN-2026-11"),
        ("block", B, "--list", "black", "--reason", "stolen", "--reference", "HCM-1"),
        ("--by", "bo"),
        ("unblock", C, "--list", "black", "--reason", "found", "--reference", "HCM-2"),
        ("--by", "ana"),
        ("devices", "load", ROOT / "conf/devices/sample-gsma17.txt", "--by", "cy"),
        ("--reason", "GSMA monthly", "--reference", "TAC-2026-11"),
    ]
    for first, rest in zip(steps[::2], steps[1::2], strict=True):
        result = eir(*first, *rest, "--db", db)
        assert result.returncode == 0, result.stderr
    observations = ObservationStore(tmp_path / "obs", map_size_mb=16)
    try:
        observations.observe("n1", [Sighting(B[:14], IMSI, SEEN)])
    finally:
        observations.close()
    result = eir(
        "pairs", "grandfather", "--seen-before", "2026-01-31", "--observations",
        tmp_path / "obs", "--by", "di", "--reference", "CR-7", "--db", db,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return db


def test_every_action_leaves_one_audit_record(tmp_path: Path) -> None:
    db = the_actions(tmp_path)
    records = audit(db)
    assert [r["version"] for r in records] == [1, 2, 3, 4, 5]
    said = [
        {k: r[k] for k in ("action", "by", "reason", "reference", "origin", "node", "imeis")}
        for r in records
    ]
    assert said == [
        {
            "action": "load", "by": "ana", "reason": "monthly police list",
            "reference": "PN-2026-11", "origin": "cli", "node": NODE, "imeis": [],
        },
        {
            "action": "block", "by": "bo", "reason": "stolen", "reference": "HCM-1",
            "origin": "cli", "node": NODE, "imeis": [B],
        },
        {
            "action": "unblock", "by": "ana", "reason": "found", "reference": "HCM-2",
            "origin": "cli", "node": NODE, "imeis": [C],
        },
        {
            "action": "devices", "by": "cy", "reason": "GSMA monthly",
            "reference": "TAC-2026-11", "origin": "cli", "node": NODE, "imeis": [],
        },
        {
            "action": "grandfather", "by": "di", "reason": "seen before 2026-01-31",
            "reference": "CR-7", "origin": "cli", "node": NODE, "imeis": [],
        },
    ]  # fmt: skip
    assert (records[0]["list"], records[0]["source"], records[0]["added"]) == ("black", "police", 2)
    assert (records[2]["removed"], records[4]["added"]) == (1, 1)
    assert all(re.fullmatch(TIME, r["at"]) for r in records)

    result = eir("audit", "--db", db)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert re.fullmatch(
        rf"v1  {TIME}  load  by ana  from cli@{re.escape(NODE)}  add black/police "
        rf"{re.escape(str(tmp_path / 'police.txt'))} \+2 ~0 -0 =0  "
        r"why: reason monthly police list, reference PN-2026-11",
        lines[0],
    ), lines[0]
    assert re.fullmatch(
        rf"v2  {TIME}  block  by bo  from cli@{re.escape(NODE)}  {B} black/manual "
        r"\+1 ~0 -0 =0  why: reason stolen, reference HCM-1",
        lines[1],
    ), lines[1]


def test_a_load_without_by_is_recorded_by_the_login_name(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"{A}\n")
    db = tmp_path / "db"
    assert eir("load", listing, "--list", "grey", "--db", db).returncode == 0
    (record,) = audit(db)
    assert record["by"] and (record["reason"], record["reference"]) == ("", "")
    bad = eir("load", listing, "--list", "grey", "--reason", "a\x07b", "--db", db)
    assert bad.returncode != 0 and bad.stderr.startswith("eir: --reason")
    assert "Traceback" not in bad.stderr
    assert len(audit(db)) == 1  # nothing recorded, nothing changed


def test_audit_filters(tmp_path: Path) -> None:
    db = the_actions(tmp_path)

    def versions(*args: str) -> list[int]:
        return [r["version"] for r in audit(db, *args)]

    # A was listed by the load (v1): "why is this handset black" is answered for loads too
    assert versions("--imei", A) == [1]
    # B was named by the block (v2) and the grandfathered pair (v5) is its entry too
    assert versions("--imei", B) == [2, 5]
    # C: its entry is gone, but v1's kept change set added it and v3's removed it
    assert versions("--imei", C) == [1, 3]
    assert versions("--by", "ana") == [1, 3]
    assert versions("--action", "devices") == [4]
    assert versions("--since", "v2", "--until", "v4") == [2, 3, 4]
    assert versions("--since", "2000-01-01") == [1, 2, 3, 4, 5]
    assert versions("--until", "2000-01-01T00:00:00Z") == []
    assert versions("--limit", "2") == [4, 5]
    assert versions("--case", "none") == []
    for args, message in [
        (("--since", "yesterday"), "eir: --since: 'yesterday' is not an ISO date (2026-12-15) "),
        (("--until", "v"), "eir: --until: 'v' is not an ISO date"),
        (("--imei", "12"), "eir: --imei: IMEI '12' has 2 digits, expected 14, 15 or 16"),
        (("--limit", "0"), "eir: --limit: give a positive number"),
    ]:
        result = eir("audit", "--db", db, *args)
        assert result.returncode != 0 and result.stderr.startswith(message), result.stderr
        assert "Traceback" not in result.stderr


def lookup(db: Path, imei: str, *args: str) -> dict[str, Any]:
    result = eir("lookup", imei, "--json", "--db", db, *args)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_lookup_explains_a_grace_entry_across_its_due_date(demo_db: Path) -> None:
    db = demo_db  # v1: the demo lists (C is on none of them)
    result = eir(
        "block", C, "--list", "black", "--reason", "unregistered", "--reference", "REG-9",
        "--effective", "2030-01-15", "--expires", "2031-01-15", "--by", "ana", "--db", db,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    before = lookup(db, C, "--at", "2030-01-14T12:00:00Z")
    assert (before["answer"], before["notice"], before["at"]) == (
        "greylisted",
        True,
        "2030-01-14T12:00:00Z",
    )
    entry = before["entry"]
    assert (entry["state"], entry["effective"], entry["expires"]) == (
        "notice",
        "2030-01-15T00:00:00Z",
        "2031-01-15T00:00:00Z",
    )
    assert {k: v for k, v in entry["made_by"].items() if k != "time"} == {
        "version": 2,
        "action": "block",
        "by": "ana",
        "origin": "cli",
        "node": NODE,
        "reason": "unregistered",
        "reference": "REG-9",
        "case": "",
    }
    after = lookup(db, C, "--at", "2030-01-15")
    assert (after["answer"], after["notice"], after["entry"]["state"]) == (
        "blacklisted",
        False,
        "in-force",
    )
    text = eir("lookup", C, "--at", "2030-01-14T12:00:00Z", "--db", db).stdout.splitlines()
    assert text[:2] == [
        f"{C}: greylisted",
        "  why: imei: imei 35209900176148 on black from manual, notice: black from "
        "2030-01-15T00:00:00Z",
    ]
    assert "  state: notice, due 2030-01-15T00:00:00Z, expires 2031-01-15T00:00:00Z" in text
    made = [line for line in text if line.startswith("  made: ")]
    assert len(made) == 1
    assert re.fullmatch(
        rf"  made: v2 block {TIME} by ana \(cli@{re.escape(NODE)}\): reason unregistered, "
        "reference REG-9",
        made[0],
    )


def test_lookup_explains_an_expired_entry_beside_the_one_that_decides(tmp_path: Path) -> None:
    db = tmp_path / "db"
    visitors = tmp_path / "visitors.csv"
    visitors.write_text(f"imei,expires\n{A},2030-02-01\n")
    assert (
        eir("load", visitors, "--list", "white", "--source", "visitors", "--db", db).returncode == 0
    )
    black = tmp_path / "black.txt"
    black.write_text(f"{A}\n")
    loaded = eir("load", black, "--list", "black", "--source", "police", "--by", "ed", "--db", db)
    assert loaded.returncode == 0, loaded.stderr
    data = lookup(db, A, "--at", "2030-03-01")
    states = {(e["list"], e["source"]): (e["state"], e["decided"]) for e in data["entries"]}
    assert states == {
        ("white", "visitors"): ("expired", False),
        ("black", "police"): ("in-force", True),
    }
    expired = next(e for e in data["entries"] if e["source"] == "visitors")
    assert (expired["expires"], expired["made_by"]["version"]) == ("2030-02-01T00:00:00Z", 1)
    text = eir("lookup", A, "--at", "2030-03-01", "--db", db).stdout.splitlines()
    also = [line for line in text if line.startswith("  also: ")]
    assert len(also) == 1
    assert re.fullmatch(
        r"  also: imei 49015420323751 on white from visitors, expired, expires "
        rf"2030-02-01T00:00:00Z, made v1 load {TIME} by .+ \(cli@{re.escape(NODE)}\)",
        also[0],
    ), also[0]
    bad = eir("lookup", A, "--at", "soon", "--db", db)
    assert (bad.returncode, bad.stderr) == (
        2,
        "eir: --at: 'soon' is not an ISO date (2026-12-15) or date-time with Z or an offset "
        "(2026-12-15T08:00:00Z)\n",
    )


def test_lookup_names_the_case_of_a_case_entry(tmp_path: Path) -> None:
    db = tmp_path / "db"
    cases = tmp_path / "case.csv"
    cases.write_text(f"imei,reason,reference\n{A},stolen,CASE-2026-77\n")
    loaded = eir(
        "load", cases, "--list", "black", "--source", "case", "--by", "officer", "--db", db
    )
    assert loaded.returncode == 0, loaded.stderr
    data = lookup(db, A)
    assert data["entry"]["case"]["reference"] == "CASE-2026-77"
    text = eir("lookup", A, "--db", db).stdout.splitlines()
    assert any(re.fullmatch(r"  case: CASE-2026-77( \(.+\))?", line) for line in text), text
    assert [r["version"] for r in audit(db, "--imei", A, "--by", "officer")] == [1]
    assert data["entry"]["case"]["state"] is None  # no case record: its state is not known
    # the case table's record of it (as `eir case` keeps one): its state is told
    env = lmdb.open(str(db), max_dbs=32, subdir=True)
    try:
        with env.begin(write=True, db=env.open_db(b"case")) as txn:
            txn.put(
                b"CASE-2026-77",
                json.dumps({"reference": "CASE-2026-77", "state": "blocked"}).encode(),
            )
    finally:
        env.close()
    assert lookup(db, A)["entry"]["case"] == {"reference": "CASE-2026-77", "state": "blocked"}
    text = eir("lookup", A, "--db", db).stdout.splitlines()
    assert "  case: CASE-2026-77 (blocked)" in text
