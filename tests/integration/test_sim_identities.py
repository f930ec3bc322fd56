"""The identities scenario through the real executables: ``eir-sim generate --scenario
identities``, ``eir load``, ``eir observations import``, ``eir duplicates detect``, ``eir serve``
and ``eir-sim run --scenario`` over S13 and MAP v2 (with the IMSI) on loopback: shared IMEIs
grey (class duplicate), IMEIs near the rule white, paired users white, their thieves black,
handset swaps per their lists, and not one answer other than the simulator expected."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.groups import GROUPS
from sim.identity_files import IDENTITIES, LISTS, OBSERVATIONS, SCENARIO, read_members
from tests.support.cli import EIR_SIM, eir, env
from tests.support.diameter import serve

ROOT = Path(__file__).resolve().parents[2]
COUNT = 6
#: what each group's flow answers with the default policy (MAP and S13 alike)
ANSWERS = {
    "shared": {"grey"},
    "near": {"white"},
    "paired": {"white"},
    "stolen": {"black"},
    "swap": {"white", "black"},
    "ordinary": {"white"},
}


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


def _missing_commands() -> list[str]:
    """The commands of the chain this build of eir does not have."""
    missing = []
    for command in (("observations", "import"), ("duplicates", "detect")):
        if eir(*command, "--help").returncode != 0:
            missing.append(f"eir {' '.join(command)}")
    return missing


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Path]:
    out = tmp_path / "ident"
    made = sim("generate", "--scenario", "identities", out, "--count", str(COUNT), "--days", "45")
    assert made.returncode == 0, made.stderr
    yield out


def _run(scenario: Path, served: Any, report: Path, *extra: str) -> dict[str, Any]:
    result = sim(
        "run",
        "--scenario",
        scenario / SCENARIO,
        "--target",
        f"s13=tcp://127.0.0.1:{served.port()}",
        "--target",
        f"map=tcp://127.0.0.1:{served.port('m3ua')}",
        "--requests",
        "1200",
        "--json",
        report,
        "--live",
        "never",
        *extra,
    )
    doc: dict[str, Any] = json.loads(report.read_text())
    assert result.returncode == 0, (
        result.stderr + result.stdout + json.dumps(doc.get("examples", doc.get("error")))
    )
    return doc


def test_the_whole_chain_detects_duplicates_and_keeps_paired_users_white(
    scenario: Path, tmp_path: Path
) -> None:
    missing = _missing_commands()
    if missing:
        pytest.skip(f"this eir has no {' nor '.join(missing)} (issue 17's other parts)")
    db, obs = tmp_path / "db", tmp_path / "observations"
    loaded = eir("load", scenario / LISTS, "--list", "black", "--db", db)
    assert loaded.returncode == 0, loaded.stderr
    imported = eir("observations", "import", scenario / OBSERVATIONS, "--observations", obs)
    assert imported.returncode == 0, imported.stderr
    detected = eir("duplicates", "detect", "--db", db, "--observations", obs)
    assert detected.returncode == 0, detected.stderr
    assert detected.stdout.startswith(f"duplicates: {COUNT} IMEIs ({COUNT} found, 0 cleared) at ")
    listed = eir("duplicates", "--json", "--db", db)
    shared = {m.imei for m in read_members(str(scenario / IDENTITIES))["shared"]}
    assert {json.loads(line)["imei"] for line in listed.stdout.splitlines()} == shared
    with serve(db) as served:
        doc = _run(scenario, served, tmp_path / "run.json")
    assert doc["sent"] == doc["answered"] == 1200
    assert doc["mismatches"] == doc["errors"] == doc["timeouts"] == 0
    flows = {f["name"]: f for f in doc["flows"]}
    assert set(flows) == {f"{p}-{g}" for p in ("s13", "map") for g in GROUPS}
    for name, flow in flows.items():
        group = name.split("-", 1)[1]
        assert flow["answered"] == 100 and flow["mismatches"] == 0, name
        assert set(flow["equipment_status"]) == ANSWERS[group], name


def test_paired_users_and_swaps_from_the_lists_alone(scenario: Path, tmp_path: Path) -> None:
    """Without observations the groups of the lists answer as they say, over both protocols;
    the shared IMEIs answer white (no class)."""
    db = tmp_path / "db"
    assert eir("load", scenario / LISTS, "--list", "black", "--db", db).returncode == 0
    report = tmp_path / "lists.json"
    with serve(db) as served:
        for protocol, target in (("s13", served.port()), ("map", served.port("m3ua"))):
            result = sim(
                "run",
                "--target",
                f"tcp://127.0.0.1:{target}",
                "--protocol",
                protocol,
                "--map-version",
                "2",
                "--lists",
                scenario / LISTS,
                "--identities",
                scenario / IDENTITIES,
                "--mix",
                "shared=0.2,paired=0.2,stolen=0.2,swap=0.2,ordinary=0.2",
                "--requests",
                "500",
                "--json",
                report,
                "--live",
                "never",
            )
            assert result.returncode == 0, result.stderr + result.stdout
            doc = json.loads(report.read_text())
            assert doc["answered"] == 500 and doc["mismatches"] == 0, protocol
            assert set(doc["equipment_status"]) == {"white", "black"}, protocol


def test_a_mix_of_groups_needs_the_identities(tmp_path: Path) -> None:
    result = sim("run", "--target", "tcp://127.0.0.1:9", "--mix", "shared=0.5", "--requests", "10")
    assert result.returncode == 1
    assert result.stderr == (
        "eir-sim: the mix asks for shared but no identities hold such pairs "
        "(give identities.csv with --identities)\n"
    )


def test_a_bad_identities_file_is_told_with_its_line(scenario: Path, tmp_path: Path) -> None:
    bad = tmp_path / "identities.csv"
    bad.write_text("group,imei,imsi,note\nshared,0123456789012,001010000000001,\n")
    result = sim("run", "--target", "tcp://127.0.0.1:9", "--identities", bad, "--mix", "shared=1")
    assert result.returncode == 1
    assert result.stderr == f"eir-sim: {bad}:2: IMEI '0123456789012' is not 14 digits\n"
    broken = tmp_path / "observations.jsonl"
    broken.write_text('{"v":1}\n')
    result = sim(
        "run",
        "--scenario",
        scenario / SCENARIO,
        "--target",
        "tcp://127.0.0.1:9",
        "--observations",
        broken,
    )
    assert result.returncode == 1
    assert result.stderr == f'eir-sim: {broken}:1: a delta is not {{"v", "node", "pairs"}}\n'
