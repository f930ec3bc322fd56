"""`eir case` through the real executable: the pending answer per ``cases.pending_answer``,
a withdrawn (pending -> recovered) case, the listing, and every refusal (a clear ``eir:``
line, exit 1 or 2, the store's digest unchanged)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import digest, eir

FIRST = "352099001761481"
SECOND = "356938035643809"


def run(db: Path, *args: str) -> str:
    result = eir("case", *args, "--db", str(db))
    assert result.returncode == 0, result.stderr
    return result.stdout


def answer(db: Path, imei: str, config: Path | None = None) -> str:
    extra = [] if config is None else ["--config", str(config)]
    result = eir("lookup", imei, "--json", "--db", str(db), *extra)
    assert result.returncode == 0, result.stderr
    value: str = json.loads(result.stdout)["answer"]
    return value


@pytest.mark.parametrize(
    ("pending", "said", "listed"),
    [
        ("white", "2 IMEIs on white", "whitelisted"),
        ("unchanged", "2 IMEIs answering as before", "whitelisted"),
    ],
)
def test_the_pending_answer_is_configured(
    tmp_path: Path, demo_db: Path, pending: str, said: str, listed: str
) -> None:
    config = tmp_path / "eir.toml"
    config.write_text(f'[cases]\npending_answer = "{pending}"\n[policy]\nunknown = "grey"\n')
    out = eir(
        "case", "open", "C-1", "--imei", FIRST, "--imei", SECOND, "--reason", "lost",
        "--db", str(demo_db), "--config", str(config), "--by", "desk",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"case C-1: pending, {said} (version 2)\n"
    expected = listed if pending == "white" else "greylisted"  # unchanged: the unknown answer
    assert answer(demo_db, FIRST, config) == expected
    out = eir(
        "case", "recover", "C-1", "--db", str(demo_db), "--config", str(config), "--by", "desk"
    )
    assert out.returncode == 0, out.stderr
    done = (
        "its entries removed from 2 IMEIs"
        if pending == "white"
        else "2 IMEIs answering as before (the case had no entries to remove)"
    )
    assert out.stdout == f"case C-1: recovered, {done} (version 3)\n"


def test_a_pending_case_withdrawn_and_the_listing(demo_db: Path) -> None:
    before = digest(demo_db)
    run(demo_db, "open", "C-1", "--imei", FIRST, "--reason", "lost", "--by", "desk")
    run(demo_db, "open", "C/2", "--imei", SECOND, "--reason", "stolen", "--by", "desk")
    assert answer(demo_db, FIRST) == "greylisted"
    assert run(demo_db, "recover", "C-1", "--note", "found at home") == (
        "case C-1: recovered, its entries removed from 1 IMEI (version 4)\n"
    )
    assert answer(demo_db, FIRST) == "whitelisted"
    run(demo_db, "recover", "C/2")
    assert digest(demo_db) == before  # the lists as they were before the cases
    listed = run(demo_db, "list", "--state", "recovered", "--json").splitlines()
    assert [json.loads(line)["reference"] for line in listed] == ["C-1", "C/2"]
    assert run(demo_db, "list", "--state", "blocked") == ""
    text = run(demo_db, "list").splitlines()
    assert [line.split("\t")[:2] for line in text] == [["C-1", "recovered"], ["C/2", "recovered"]]
    shown = run(demo_db, "show", "C-1").splitlines()
    assert shown[0] == "case C-1: recovered"
    assert shown[2] == f"  IMEI {FIRST}: whitelisted (unknown: on no list)"
    assert shown[-1].endswith("recovered by " + shown[-1].split(" by ")[1])
    assert shown[-1].endswith("(version 4): found at home")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["open", "C-1", "--imei", SECOND, "--reason", "x"],
            1,
            "eir: case C-1 exists: pending since {since}; nothing was changed",
        ),
        (
            ["open", "C-9", "--imei", FIRST, "--reason", "x"],
            1,
            f"eir: IMEI {FIRST} is in case C-1 (pending); nothing was changed",
        ),
        (["block", "C-404"], 1, "eir: case C-404: no such case; nothing was changed"),
        (
            ["open", "bad ref", "--imei", SECOND, "--reason", "x"],
            2,
            "eir: case reference 'bad ref' is not valid: 1 to 64 of letters, digits and ._-/",
        ),
        (
            ["open", "C-2", "--imei", "12345", "--reason", "x"],
            1,
            "eir: IMEI '12345' has 5 digits, expected 14, 15 or 16",
        ),
        (
            ["open", "C-2", "--imei", SECOND, "--reason", " "],
            2,
            "eir: --reason is empty: say why (e.g. stolen)",
        ),
    ],
)
def test_refusals_change_nothing(demo_db: Path, args: list[str], code: int, message: str) -> None:
    run(demo_db, "open", "C-1", "--imei", FIRST, "--reason", "stolen", "--by", "desk")
    shown = json.loads(run(demo_db, "show", "C-1", "--json"))
    before = digest(demo_db)
    result = eir("case", *args, "--db", str(demo_db))
    from eir.model import utc_text

    assert result.returncode == code
    assert result.stderr.splitlines()[-1] == message.format(since=utc_text(shown["opened"]))
    assert digest(demo_db) == before
    assert json.loads(run(demo_db, "show", "C-1", "--json")) == shown
