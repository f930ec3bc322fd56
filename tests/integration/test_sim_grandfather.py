"""A device rule's exemption (``exempt_seen_before``) through the real executables: the
identities scenario's IMEIs are all of a 2G-only device, the rule blacks them, and those first
seen before its cut-off in the observations keep their other answer. ``eir-sim run
--identities --observations --devices`` expects what ``eir serve`` answers with the same
observations imported: not one mismatch, and both answers."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sim.expect import first_seen_in
from sim.identity_files import IDENTITIES, OBSERVATIONS, read_members, read_observations
from tests.support.cli import EIR_SIM, eir, env
from tests.support.diameter import serve

ROOT = Path(__file__).resolve().parents[2]
MIX = "near=0.25,paired=0.25,swap=0.25,ordinary=0.25"


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


def _cutoff(observations: Path) -> str:
    """The day after the first sighting: the IMEIs seen on the scenario's first day before it,
    the others not."""
    first = min(first_seen_in(read_observations([str(observations)])).values())
    return datetime.fromtimestamp(first + 86_400, UTC).date().isoformat()


def test_imeis_seen_before_the_cutoff_are_expected_exempt(tmp_path: Path) -> None:
    scenario = tmp_path / "ident"
    made = sim("generate", "--scenario", "identities", scenario, "--count", "8", "--days", "45")
    assert made.returncode == 0, made.stderr
    members = read_members(str(scenario / IDENTITIES))
    tacs = sorted({m.imei[:8] for group in members.values() for m in group})
    devices = tmp_path / "devices.csv"
    devices.write_text(
        "tac,brand,model,radio_interface\n" + "".join(f"{t},Acme,Brick,GSM\n" for t in tacs)
    )
    obs = tmp_path / "observations"
    config = tmp_path / "eir.toml"
    config.write_text(
        f'[observations]\npath = "{obs}"\n\n'
        "[[policy.device_rules]]\n"
        'name = "2g-only"\naction = "black"\nradio_lacks = ["LTE", "NR", "UMTS"]\n'
        f'exempt_seen_before = "{_cutoff(scenario / OBSERVATIONS)}"\n'
    )
    db = tmp_path / "db"
    loaded = eir("devices", "load", devices, "--db", db)
    assert loaded.returncode == 0, loaded.stderr
    imported = eir("observations", "import", scenario / OBSERVATIONS, "--config", config)
    assert imported.returncode == 0, imported.stderr
    report = tmp_path / "run.json"
    with serve(db, "--config", str(config)) as served:
        for protocol, port in (("s13", served.port()), ("map", served.port("m3ua"))):
            result = sim(
                "run",
                "--target",
                f"tcp://127.0.0.1:{port}",
                "--protocol",
                protocol,
                "--map-version",
                "2",
                "--identities",
                scenario / IDENTITIES,
                "--observations",
                scenario / OBSERVATIONS,
                "--devices",
                devices,
                "--policy-config",
                config,
                "--mix",
                MIX,
                "--requests",
                "400",
                "--json",
                report,
                "--live",
                "never",
            )
            doc: dict[str, Any] = json.loads(report.read_text())
            assert result.returncode == 0, result.stderr + json.dumps(doc.get("examples"))
            assert doc["answered"] == 400, protocol
            assert doc["mismatches"] == doc["errors"] == doc["timeouts"] == 0, protocol
            # grandfathered white, the others blacked by the rule
            assert set(doc["equipment_status"]) == {"white", "black"}, protocol
