"""The audit after the issue 18 review, through the real ``eir``: the record that made an entry
is the one that wrote it (not the newest of its second), ``eir audit --imei`` lists the changes
that removed or restored an IMEI's entries, the records' times are the wall clock, the case
records say what they wrote and from where, and usage errors exit 2."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from tests.support.cli import eir

NODE = socket.gethostname().split(".")[0]
A, B = "490154203237518", "353456789012348"
DAY = 86400


def ok(*args: str | Path) -> str:
    result = eir(*args)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return result.stdout


def new_store(path: Path) -> Path:
    """A store whose v1 is an empty load (eir block needs a store)."""
    empty = path.with_suffix(".txt")
    empty.write_text("")
    ok("load", empty, "--list", "black", "--db", path)
    return path


def block(db: Path, imei: str, *args: str | Path) -> None:
    ok("block", imei, "--list", "black", "--reason", "stolen", "--reference", "R-1", "--db", db,
       *args)  # fmt: skip


def audit(db: Path, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ok("audit", "--json", "--db", db, *args).splitlines()]


def made(db: Path, imei: str, *args: str | Path) -> dict[str, Any]:
    data = json.loads(ok("lookup", imei, "--json", "--db", db, *args))
    value: dict[str, Any] = data["entry"]["made_by"]
    return value


def test_two_blocks_in_one_second_each_name_their_operator(tmp_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:  # until the two blocks share a second (the case the review found)
        db = new_store(tmp_path / f"db{int(time.monotonic() * 1000)}")
        block(db, A, "--by", "alice")
        block(db, B, "--by", "bob")
        _, first, second = audit(db)
        if first["time"] == second["time"] or time.monotonic() > deadline:
            break
    assert first["time"] == second["time"], "never two blocks in one second"
    assert (made(db, A)["version"], made(db, A)["by"]) == (2, "alice")
    assert (made(db, B)["version"], made(db, B)["by"]) == (3, "bob")
    assert [r["by"] for r in audit(db, "--imei", A)] == ["alice"]
    lines = ok("lookup", A, "--db", db).splitlines()
    assert any(line.startswith("  made: v2 block ") and "by alice" in line for line in lines)


def test_a_row_with_an_added_cell_is_made_by_the_load_that_wrote_it(tmp_path: Path) -> None:
    db = tmp_path / "db"
    (tmp_path / "first.txt").write_text(f"{A}\n")
    ok("load", tmp_path / "first.txt", "--list", "black", "--source", "police", "--by", "ana",
       "--db", db)  # fmt: skip
    (first,) = audit(db)
    # bob's row says it was added when ana's load ran: the old rule named ana
    (tmp_path / "second.csv").write_text(f"imei,added\n{B},{first['time']}\n")
    ok("load", tmp_path / "second.csv", "--list", "black", "--source", "police", "--by", "bob",
       "--db", db)  # fmt: skip
    assert (made(db, B)["version"], made(db, B)["by"]) == (2, "bob")
    assert [r["version"] for r in audit(db, "--imei", B)] == [2]


def test_audit_imei_lists_the_removal_and_the_restore(tmp_path: Path) -> None:
    db = tmp_path / "db"
    (tmp_path / "both.txt").write_text(f"{A}\n{B}\n")
    (tmp_path / "one.txt").write_text(f"{B}\n")
    for name, mode in (("both.txt", "add"), ("one.txt", "replace")):
        ok("load", tmp_path / name, "--list", "black", "--source", "police", "--mode", mode,
           "--force", "--by", "ana", "--db", db)  # fmt: skip
    ok("rollback", "1", "--yes", "--by", "cy", "--db", db)
    said = [(r["version"], r["action"]) for r in audit(db, "--imei", A)]
    assert said == [(1, "load"), (2, "load"), (3, "rollback")]
    assert (made(db, A)["version"], made(db, A)["action"]) == (3, "rollback")


def test_lookup_and_purge_use_the_lifecycle_clock_and_record_the_wall_clock(
    tmp_path: Path,
) -> None:
    db, config = new_store(tmp_path / "db"), tmp_path / "eir.toml"
    config.write_text(f"[lifecycle]\nclock_offset_s = {30 * DAY}\n")
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 10 * DAY))
    block(db, A, "--expires", expires)
    data = json.loads(ok("lookup", A, "--json", "--db", db, "--config", config))
    assert [e["state"] for e in data["entries"]] == ["expired"]  # by the lifecycle's clock
    assert data["at"] > expires
    ok("purge", "--db", db, "--config", config)
    (record,) = audit(db, "--action", "purge")
    assert abs(record["time"] - time.time()) < 600  # the wall clock, not a month ahead
    assert (record["origin"], record["node"], record["reason"]) == ("cli", NODE, "expired")
    # the operator and why, as for any other change from the command line
    block(db, B, "--expires", expires)
    ok("purge", "--db", db, "--config", config, "--by", "ops-ana", "--reason", "monthly",
       "--reference", "T-9")  # fmt: skip
    (_, named) = audit(db, "--action", "purge")
    assert (named["by"], named["reason"], named["reference"], named["removed"]) == (
        "ops-ana", "monthly", "T-9", 1,
    )  # fmt: skip


def test_already_expired_entries_are_refused(tmp_path: Path) -> None:
    db = new_store(tmp_path / "db")
    result = eir("block", A, "--list", "black", "--reason", "stolen", "--reference", "R-1",
                 "--expires", "2020-01-01", "--db", db)  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        "eir: --expires 2020-01-01T00:00:00Z is past: the entry would never match; "
        "nothing was changed\n",
    )
    listing = tmp_path / "timed.csv"
    listing.write_text(f"imei,expires\n{A},2020-01-01\n{B},2099-01-01\n")
    result = eir("load", listing, "--list", "black", "--db", db)
    assert result.returncode == 1
    assert f"{listing}:2: expires: 2020-01-01T00:00:00Z is past" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(audit(db)) == 1


def test_case_records_say_what_they_wrote_and_where(tmp_path: Path) -> None:
    db, config = new_store(tmp_path / "db"), tmp_path / "eir.toml"
    config.write_text('[cases]\npending_answer = "unchanged"\n')
    ok("case", "open", "C-1", "--imei", A, "--reason", "lost", "--db", db, "--config", config)
    ok("case", "open", "C-2", "--imei", B, "--reason", "lost", "--db", db)  # grey
    ok("case", "recover", "C-2", "--db", db)
    said = [(r["action"], r["list"], r["source"], r["node"]) for r in audit(db)[1:]]
    assert said == [
        ("case-open", "", "", NODE),
        ("case-open", "grey", "case", NODE),
        ("case-recover", "grey", "case", NODE),
    ]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    db = new_store(tmp_path / "db")
    block(db, A)
    for args, message in [
        (("audit", "--action", "bogus"), "eir: --action: 'bogus' is none of load, block, "),
        (
            ("audit", "--since", "2026-12-01", "--until", "2026-11-01"),
            "eir: --since 2026-12-01 is after --until 2026-11-01: nothing between\n",
        ),
        (("rollback", "-1", "--yes"), "eir: V (-1): give a version, 0 or more\n"),
        (
            ("case", "open", "bad ref", "--imei", A, "--reason", "lost"),
            "eir: case reference 'bad ref' is not valid",
        ),
        (("case", "open", "C-1", "--imei", A, "--imsi", "12", "--reason", "lost"), "eir: --imsi: "),
        (("lookup", A, "--at", "2027-03-21T08:00"), "eir: --at: '2027-03-21T08:00' names no time"),
    ]:
        result = eir(*args, "--db", db)
        assert (result.returncode, result.stdout) == (2, ""), (args, result.stderr)
        assert result.stderr.startswith(message), result.stderr


def test_a_diff_past_the_kept_change_sets_does_not_blame_the_current_keep(
    tmp_path: Path,
) -> None:
    db, small = new_store(tmp_path / "db"), tmp_path / "small.toml"
    small.write_text("[versions]\nkeep = 2\n")
    for imei in (A, B, "352099001761481", "356938035643809"):
        block(db, imei, "--config", small)
    result = eir("diff", "1", "5", "--db", db)
    assert (result.returncode, result.stderr) == (
        1,
        "eir: version 2's changes were dropped (the oldest kept is 4; versions.keep = 50 now)\n",
    )


def test_the_readable_diff_shows_the_changed_times(tmp_path: Path) -> None:
    db = new_store(tmp_path / "db")
    block(db, A)
    block(db, A, "--effective", "2099-01-01", "--expires", "2099-06-01T08:00:00Z")
    assert ok("diff", "2", "3", "--db", db) == (
        "from version 2 to version 3:\n"
        f"updated  {A:<34} black manual           stolen | R-1"
        " (due none -> 2099-01-01T00:00:00Z, expires none -> 2099-06-01T08:00:00Z)\n"
        "added 0, removed 0, updated 1 entries\n"
    )
