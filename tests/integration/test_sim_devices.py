"""The device kinds of the simulator through the real executables: ``eir-sim generate
--device-db`` writes a device database, ``eir devices load`` loads it (and an approved-models
list), ``eir serve`` answers with a 2G-only device rule, and ``eir-sim run --devices
--approved --mix unallocated:..,unapproved:..,rule:2g-only:..`` over S13 and MAP v2 gets not
one answer other than the policy's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sim.device_db import read_tacs
from tests.support.cli import EIR_SIM, eir, env
from tests.support.diameter import serve

ROOT = Path(__file__).resolve().parents[2]
POLICY = """\
[policy.anomalies]
tac-unallocated = "black"
not-approved = "grey"

[[policy.device_rules]]
name = "2g-only"
action = "black"
radio_lacks = ["LTE", "NR", "UMTS"]
"""
MIX = "unallocated=0.3,unapproved=0.3,rule:2g-only=0.3"


def sim(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EIR_SIM, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env(),
        check=False,
        cwd=ROOT,
    )


@pytest.fixture
def lab(tmp_path: Path) -> dict[str, Path]:
    """A generated device database (lab CSV), an approved list of half its TACs, the policy."""
    devices = tmp_path / "devices.csv"
    made = sim("generate", devices, "--device-db", "400", "--layout", "lab", "--seed", "3")
    assert made.returncode == 0, made.stderr
    assert made.stderr == f"eir-sim: wrote 400 TACs (lab) to {devices}\n"
    tacs = read_tacs(str(devices))
    assert len(tacs) == 400
    approved = tmp_path / "approved.csv"
    approved.write_text("tac\n" + "".join(f"{t}\n" for t in tacs[::2]))
    config = tmp_path / "eir.toml"
    config.write_text(POLICY)
    return {"devices": devices, "approved": approved, "config": config, "db": tmp_path / "db"}


def _loaded(lab: dict[str, Path]) -> None:
    loaded = eir("devices", "load", lab["devices"], "--db", lab["db"])
    assert loaded.returncode == 0, loaded.stderr
    approved = eir("devices", "load", lab["approved"], "--approved", "--db", lab["db"])
    assert approved.returncode == 0, approved.stderr


def _run(lab: dict[str, Path], target: str, protocol: str, report: Path) -> dict[str, Any]:
    result = sim(
        "run",
        "--target",
        target,
        "--protocol",
        protocol,
        "--map-version",
        "2",
        "--devices",
        lab["devices"],
        "--approved",
        lab["approved"],
        "--policy-config",
        lab["config"],
        "--mix",
        MIX,
        "--requests",
        "600",
        "--json",
        report,
        "--live",
        "never",
    )
    doc: dict[str, Any] = json.loads(report.read_text())
    assert result.returncode == 0, result.stderr + json.dumps(doc.get("examples"))
    return doc


def test_device_kinds_answer_as_the_policy_says_over_s13_and_map(
    lab: dict[str, Path], tmp_path: Path
) -> None:
    _loaded(lab)
    with serve(lab["db"], "--config", str(lab["config"])) as served:
        for protocol, port in (("s13", served.port()), ("map", served.port("m3ua"))):
            doc = _run(lab, f"tcp://127.0.0.1:{port}", protocol, tmp_path / f"{protocol}.json")
            assert doc["sent"] == doc["answered"] == 600, protocol
            assert doc["mismatches"] == doc["errors"] == doc["timeouts"] == 0, protocol
            # unallocated black, unapproved grey, 2G-only black, the rest (unknown) white
            assert set(doc["equipment_status"]) == {"white", "grey", "black"}, protocol


def test_generate_draws_the_tacs_of_a_device_database(lab: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "black.csv"
    made = sim("generate", out, "--count", "2000", "--devices", lab["devices"])
    assert made.returncode == 0, made.stderr
    tacs = set(read_tacs(str(lab["devices"])))
    imeis = out.read_text().splitlines()[1:]
    assert len(imeis) == 2000 and {i[:8] for i in imeis} <= tacs


@pytest.mark.parametrize("layout", ["gsma17", "gsma20", "approved"])
def test_generated_layouts_load(layout: str, tmp_path: Path) -> None:
    path = tmp_path / f"{layout}.txt"
    made = sim("generate", path, "--device-db", "300", "--layout", layout)
    assert made.returncode == 0, made.stderr
    approved = ("--approved",) if layout == "approved" else ()
    loaded = eir("devices", "load", path, *approved, "--db", tmp_path / "db")
    assert loaded.returncode == 0, loaded.stderr


def test_a_kind_without_its_database_is_refused() -> None:
    result = sim("run", "--target", "tcp://127.0.0.1:9", "--mix", "unallocated=0.5")
    assert result.returncode == 1
    assert result.stderr == (
        "eir-sim: the mix asks for unallocated but no device database is given "
        "(give it with --devices)\n"
    )


def test_a_bad_device_file_is_told_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "devices.csv"
    bad.write_text("tac,brand,model\n3500000,Acme,Brick\n")
    told = f"eir-sim: {bad}:2: TAC '3500000' is not 8 digits (a leading 0 lost by a spreadsheet?)\n"
    # bad data, exit 1, whether generate or run reads it
    result = sim("generate", tmp_path / "x.csv", "--count", "10", "--devices", bad)
    assert (result.returncode, result.stderr) == (1, told)
    result = sim("run", "--target", "tcp://127.0.0.1:9", "--devices", bad, "--mix", "unknown=1")
    assert (result.returncode, result.stderr) == (1, told)
    missing = tmp_path / "none.csv"
    result = sim("generate", tmp_path / "x.csv", "--count", "10", "--devices", missing)
    assert result.returncode == 1
    assert result.stderr == f"eir-sim: {missing}: no such file\n"


def test_a_store_directory_is_not_a_device_database(lab: dict[str, Path], tmp_path: Path) -> None:
    _loaded(lab)
    db = lab["db"]
    result = sim("generate", tmp_path / "x.csv", "--count", "10", "--devices", db)
    assert result.returncode == 1
    assert result.stderr == (
        f"eir-sim: {db}: is a directory, not a file (eir devices export FILE writes one from "
        "a store)\n"
    )
    result = sim(
        "run", "--target", "tcp://127.0.0.1:9", "--devices", lab["devices"], "--approved", db
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"eir-sim: {db}: is a directory, not a file (eir devices export --approved FILE writes "
        "one from a store)\n"
    )


def test_a_compressed_device_database_is_read_as_eir_reads_it(tmp_path: Path) -> None:
    packed = tmp_path / "devices.csv.gz"
    made = sim("generate", packed, "--device-db", "20", "--layout", "lab")
    assert made.returncode == 0, made.stderr
    out = tmp_path / "black.txt"
    made = sim("generate", out, "--count", "50", "--format", "txt", "--devices", packed)
    assert made.returncode == 0, made.stderr
    assert {line[:8] for line in out.read_text().split()} <= set(read_tacs(str(packed)))


def test_a_rule_the_policy_does_not_have_is_refused(lab: dict[str, Path]) -> None:
    result = sim(
        "run",
        "--target",
        "tcp://127.0.0.1:9",
        "--devices",
        lab["devices"],
        "--policy-config",
        lab["config"],
        "--mix",
        "rule:5g=0.5",
    )
    assert result.returncode == 1
    assert result.stderr == (
        "eir-sim: the mix asks for rule:5g but --policy-config has no [[policy.device_rules]] "
        "named '5g'\n"
    )


def test_a_scenario_names_the_device_files(lab: dict[str, Path], tmp_path: Path) -> None:
    """``devices`` and ``approved`` in a scenario; the kind unapproved without the approved
    list is refused with its reason."""
    scenario = tmp_path / "devices.toml"
    scenario.write_text(f'devices = "{lab["devices"]}"\n[[flow]]\nmix = "unapproved=0.5"\n')
    result = sim("run", "--scenario", scenario, "--target", "tcp://127.0.0.1:9")
    assert result.returncode == 1
    assert result.stderr == (
        "eir-sim: the mix asks for unapproved but no approved-models list is given "
        "(give it with --approved)\n"
    )
