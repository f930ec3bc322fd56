"""Every ``eir`` command through the real executable, with its bad-input paths."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import EIR, digest, eir, env
from tests.support.logs import said

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "conf" / "lists" / "demo.csv"
A1, A2, A3 = "490154203237518", "356938035643809", "353456789012348"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "db"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_load_summary_and_modes(tmp_path: Path, db: Path) -> None:
    first = write(tmp_path / "a.txt", f"{A1}\n{A2}\n")
    result = eir("load", first, "--list", "black", "--source", "police-hcm", "--db", db)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "added 2, updated 0, removed 0, unchanged 0, invalid 0, duplicates 0; 2 rows in "
    )
    assert result.stderr == ""  # quiet when not on a terminal
    second = write(tmp_path / "b.txt", f"{A2}\n{A3}\n")
    result = eir(
        "load", second, "--list", "black", "--source", "police-hcm", "--mode", "replace", "--db", db
    )  # removes 1 of 2 entries: over the replace guard's default 10%
    assert result.returncode == 1
    result = eir(
        "load",
        second,
        "--list",
        "black",
        "--source",
        "police-hcm",
        "--mode",
        "replace",
        "--force",
        "--db",
        db,
    )
    assert "added 1, updated 0, removed 1, unchanged 1" in result.stdout
    result = eir("load", second, "--list", "black", "--mode", "remove", "--db", db)
    assert "removed 2" in result.stdout
    assert eir("lookup", A2, "--db", db).stdout.startswith(f"{A2}: whitelisted")


def test_load_is_all_or_nothing(tmp_path: Path, db: Path) -> None:
    eir("load", write(tmp_path / "ok.txt", f"{A1}\n"), "--list", "black", "--db", db)
    before = digest(db)
    bad = write(tmp_path / "bad.csv", f"imei,list\n{A2},black\n12345,black\n{A3},pink\n")
    result = eir("load", bad, "--list", "black", "--db", db)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{bad}:3: IMEI '12345' has 5 digits, expected 14, 15 or 16",
        f"{bad}:4: list 'pink' is not white, grey or black",
        "eir: 2 invalid rows: nothing was changed (fix them, or take the others with "
        "--skip-invalid)",
    ]
    assert digest(db) == before
    result = eir("load", bad, "--list", "black", "--skip-invalid", "--db", db)
    assert result.returncode == 1
    assert "added 1," in result.stdout and "invalid 2" in result.stdout
    assert eir("lookup", A2, "--db", db).stdout.startswith(f"{A2}: blacklisted")


def test_dry_run(tmp_path: Path, db: Path) -> None:
    eir("load", write(tmp_path / "ok.txt", f"{A1}\n"), "--list", "black", "--db", db)
    before = digest(db)
    result = eir(
        "load", write(tmp_path / "n.txt", f"{A2}\n"), "--list", "grey", "--dry-run", "--db", db
    )
    assert result.stdout.startswith("dry run, nothing changed: added 1,")
    assert digest(db) == before


def test_stdin_and_gzip(tmp_path: Path, db: Path) -> None:
    result = eir("load", "-", "--list", "grey", "--db", db, stdin=f"{A1}\n".encode())
    assert "added 1," in result.stdout
    packed = tmp_path / "l.csv.gz"
    packed.write_bytes(gzip.compress(f"imei\n{A2}\n".encode()))
    assert "added 1," in eir("load", packed, "--list", "grey", "--db", db).stdout


@pytest.mark.parametrize(
    "args",
    [
        ["load", "x.txt"],  # --list missing
        ["load", "x.txt", "--list", "purple"],
        ["load", "x.txt", "--list", "black", "--mode", "merge"],
        ["load", "x.txt", "--list", "black", "--source", "no spaces"],
        ["frobnicate"],
        [],
    ],
)
def test_bad_usage_exits_2(args: list[str], tmp_path: Path) -> None:
    result = eir(*args, "--db", tmp_path / "db") if args else eir()
    assert result.returncode == 2
    assert result.stderr.strip()


def test_lookup_text_and_json(db: Path) -> None:
    eir("load", DEMO, "--list", "black", "--source", "demo", "--db", db)
    text = eir("lookup", A3, "--db", db).stdout
    assert text.splitlines()[:3] == [
        f"{A3}: blacklisted",
        f"  why: imei: imei {A3[:14]} on black from demo",
        "  reason: cloned",
    ]
    owner = json.loads(eir("lookup", A3, "--imsi", "001010123456789", "--json", "--db", db).stdout)
    assert (owner["answer"], owner["rule"], owner["entry"]["level"]) == (
        "whitelisted",
        "pair",
        "pair",
    )
    ranged = json.loads(eir("lookup", "86123456000123", "--json", "--db", db).stdout)
    assert (ranged["answer"], ranged["rule"]) == ("greylisted", "range")
    assert ranged["entry"]["imei_last"] == "86123456999999"
    odd = json.loads(eir("lookup", "490154203237519", "--json", "--db", db).stdout)
    assert (odd["rule"], odd["anomalies"]) == ("imei", ["check-digit"])  # listed beats anomaly


def test_lookup_errors(tmp_path: Path, db: Path) -> None:
    result = eir("lookup", A1, "--db", db)
    assert (result.returncode, result.stderr.strip()) == (
        1,
        f"eir: {db}: no list store here (create one with `eir load`)",
    )
    eir("load", DEMO, "--list", "black", "--db", db)
    result = eir("lookup", "12AB", "--db", db)
    assert (result.returncode, result.stderr.strip()) == (1, "eir: IMEI '12AB' has a non-digit 'A'")
    result = eir("lookup", A1, "--imsi", "1", "--db", db)
    assert result.returncode == 1 and "IMSI '1'" in result.stderr


def test_unknown_answer_from_config(tmp_path: Path, db: Path) -> None:
    config = write(tmp_path / "c.toml", '[policy]\nunknown = "unknown"\n')
    eir("load", DEMO, "--list", "black", "--db", db)
    out = json.loads(
        eir("lookup", "35000000000001", "--json", "--config", config, "--db", db).stdout
    )
    assert (out["answer"], out["equipment_status"]) == ("unknown", None)


def test_export_round_trip(tmp_path: Path, db: Path) -> None:
    eir("load", DEMO, "--list", "black", "--source", "demo", "--db", db)
    eir(
        "load",
        write(tmp_path / "p.txt", f"{A2}\n"),
        "--list",
        "grey",
        "--source",
        "police",
        "--db",
        db,
    )
    for name in ("all.csv", "all.csv.gz"):
        out = tmp_path / name
        assert eir("export", out, "--db", db).returncode == 0
        copy = tmp_path / f"copy-{name}"
        result = eir("load", out, "--list", "black", "--db", copy)
        assert result.returncode == 0, result.stderr
        assert digest(copy) == digest(db)
        again = eir("export", "--db", copy).stdout
        assert again == eir("export", "--db", db).stdout  # added times kept too
    only = eir("export", "--list", "grey", "--source", "police", "--db", db).stdout
    assert only.splitlines()[1:] == [
        f"{A2},,,grey,police,,," + only.splitlines()[1].rsplit(",", 1)[1]  # as it was loaded
    ]


def test_stats(tmp_path: Path, db: Path) -> None:
    eir("load", DEMO, "--list", "black", "--source", "demo", "--db", db)
    data = json.loads(eir("stats", "--json", "--db", db).stdout)
    assert data["lists"] == {"black": 3, "grey": 1, "white": 2}
    assert data["tables"] == {"imei": 3, "pair": 1, "range": 2}
    assert data["entries"]["imei/black/demo"] == 3
    assert data["size_bytes"] > 0 and len(data["digest"]) == 64
    (load,) = data["history"]
    assert (load["mode"], load["source"], load["files"], load["added"]) == (
        "add",
        "demo",
        [str(DEMO)],
        6,
    )
    text = eir("stats", "--db", db).stdout
    assert "imei/black/demo" in text and "recent loads:" in text


def test_check_config(tmp_path: Path) -> None:
    good = eir("check-config", ROOT / "conf" / "eir.toml")
    assert good.returncode == 0 and "[policy.anomalies]" in good.stdout
    bad = write(tmp_path / "bad.toml", "[store]\nmap_size = 5\n")
    result = eir("check-config", bad)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"{bad}: store.map_size: unknown key")
    result = eir("stats", "--config", bad, "--db", tmp_path / "db")
    assert result.returncode == 1 and "store.map_size" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_until_signalled(db: Path, signum: signal.Signals) -> None:
    eir("load", DEMO, "--list", "black", "--db", db)
    proc = subprocess.Popen(
        [
            EIR,
            "serve",
            "--db",
            str(db),
            "--diameter-listen",
            "127.0.0.1:0",
            "--m3ua-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    assert proc.stderr is not None
    try:
        lines = [said(proc.stderr.readline().rstrip("\n")) for _ in range(4)]
        assert lines[0].startswith(f"eir: serving lists from {db} (black 3, grey 1, white 2)")
        assert lines[1].startswith("eir: listening diameter tcp 127.0.0.1:")
        assert lines[2].startswith("eir: listening m3ua tcp 127.0.0.1:")
        assert lines[3] == "eir: ready"
        proc.send_signal(signum)
        assert proc.wait(timeout=20) == 0
        assert "eir: stopping" in [said(line) for line in proc.stderr.read().splitlines()]
    finally:
        if proc.poll() is None:  # a failed assertion must not leave a daemon behind
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_history_names_the_command_lines_list_and_source(tmp_path: Path, db: Path) -> None:
    mixed = write(tmp_path / "m.csv", f"imei,list,source\n{A1},white,crm\n{A2},,\n")
    assert eir("load", mixed, "--list", "grey", "--source", "police", "--db", db).returncode == 0
    (load,) = json.loads(eir("stats", "--json", "--db", db).stdout)["history"]
    assert (load["list"], load["source"], load["added"]) == ("grey", "police", 2)


def test_file_errors_are_one_clear_line(tmp_path: Path, db: Path) -> None:
    result = eir("load", tmp_path / "missing.csv", "--list", "black", "--db", db)
    assert (result.returncode, result.stderr) == (1, f"{tmp_path / 'missing.csv'}: no such file\n")
    header = write(tmp_path / "h.csv", f"imei,colour\n{A1},red\n")
    result = eir("load", header, "--list", "black", "--strict-columns", "--db", db)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{header}:1: unknown column 'colour'")
    eir("load", DEMO, "--list", "black", "--db", db)
    result = eir("export", tmp_path / "no" / "such" / "dir.csv", "--db", db)
    assert result.returncode == 1
    assert result.stderr.startswith("eir: ") and "No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr
    (tmp_path / "plain-file").write_text("x")
    result = eir("load", DEMO, "--list", "black", "--db", tmp_path / "plain-file")
    assert result.returncode == 1 and "cannot open the list store" in result.stderr
    result = eir("stats", "--db", tmp_path / "nowhere")
    assert (result.returncode, result.stderr.strip()) == (
        1,
        f"eir: {tmp_path / 'nowhere'}: no list store here (create one with `eir load`)",
    )
