"""The device database through the list distribution, with a real mosquitto and two real
`eir serve` nodes: ``eir publish --devices FILE`` and ``--approved FILE`` reach both, each
applies the table in one transaction, and ``eir devices stats`` shows the same digest on both
as on a store that loaded the files locally."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.integration.test_devices_cli import APPROVED, GSMA20, LAB
from tests.integration.test_mqtt import node, wait_version
from tests.support.cli import EIR, eir, env
from tests.support.diameter import Served
from tests.support.mqtt import broker, credentials


def _publish(url: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EIR, "publish", *map(str, args), "--broker", url, "--wait", "2", "--timeout", "60"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env() | credentials("eir-publisher"),
        check=False,
    )


def _devices(db: Path) -> dict[str, object]:
    result = eir("devices", "stats", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _applied(served: Served, count: int, timeout: float = 30) -> list[str]:
    """The node's ``lists: applied update`` lines, once it logged ``count`` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [
            line.rsplit(" in ", 1)[0]  # without the time it took
            for line in served.lines
            if line.startswith("eir.mqtt: lists: applied update #")
        ]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not {count} applied updates in {served.lines}")


def test_two_nodes_get_the_device_database(tmp_path: Path) -> None:
    local = tmp_path / "local"
    for args in ((GSMA20,), ("--approved", APPROVED)):
        assert eir("devices", "load", *args, "--db", local).returncode == 0
    one, two = tmp_path / "n1", tmp_path / "n2"
    with broker(tmp_path / "broker") as b, node(b, one, "n1") as n1, node(b, two, "n2"):
        first = _publish(b.url, "--devices", LAB)
        assert first.returncode == 0, first.stderr
        lines = first.stdout.splitlines()
        assert lines[0].startswith("published update #1 (devices lab, 40 entries, ")
        assert lines[1] == "applied on 2 nodes: n1, n2"
        second = _publish(b.url, "--devices", GSMA20)  # replaces the whole table
        assert second.returncode == 0, second.stderr
        third = _publish(b.url, "--approved", APPROVED)
        assert third.returncode == 0, third.stderr
        assert third.stdout.startswith("published update #3 (approved, 19 entries, ")
        wait_version([one, two], 3)
        # each node's log says what an update replaced: the device database, the approved list
        applied = _applied(n1, 3)
        counts = "invalid 0, duplicates 0"
        assert applied == [
            "eir.mqtt: lists: applied update #1 (devices lab): added 40, updated 0, removed 0, "
            f"unchanged 0, {counts}",
            "eir.mqtt: lists: applied update #2 (devices gsma20): added 0, updated 40, "
            f"removed 0, unchanged 0, {counts}",
            "eir.mqtt: lists: applied update #3 (approved): added 19, updated 0, removed 0, "
            f"unchanged 0, {counts}",
        ]
    seen = [_devices(db) for db in (one, two, local)]
    assert seen[0]["digest"] == seen[1]["digest"] == seen[2]["digest"] != ""
    assert seen[0]["devices"] == 40 and seen[0]["approved"] == 19
    assert seen[0]["device_source"] == "gsma20 sample-gsma20.txt"
    assert seen[0]["device_types"] == seen[2]["device_types"]


def test_a_bad_device_file_publishes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("tac,brand\n1234,Acme\n")
    result = _publish("mqtt://127.0.0.1:1", "--devices", bad)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{bad}:2: TAC '1234' is not 8 digits (a leading 0 lost by a spreadsheet?)",
        f"eir: 1 bad row in {bad}: nothing was published",
    ]
    both = _publish("mqtt://127.0.0.1:1", "--devices", bad, "--approved", bad)
    assert both.returncode == 2
    assert both.stderr == "eir: publish one thing at a time: list files, --devices or --approved\n"
