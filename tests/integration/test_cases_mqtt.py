"""Theft cases distributed: `eir case open|block|recover --publish` checked against node1's
store, published as list updates and applied by two real `eir serve` nodes following a real
mosquitto: both answer alike over S13 at each step, show the same case, and the publishing
command sends one ``events/case`` message per step (the nodes applying it send none)."""

from __future__ import annotations

import json
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from eir.model import EquipmentStatus as S
from tests.integration.test_cases import FREE, IMSI, LISTED, answers
from tests.integration.test_mqtt import node, publish, version, wait_version
from tests.support.cli import EIR, eir, env
from tests.support.diameter import BlockingClient
from tests.support.mqtt import Broker, Watcher, broker, credentials


def _case(b: Broker, db: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EIR, "case", *args, "--publish", "--db", str(db), "--broker", b.url, "--wait", "2",
         "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
        env=env() | credentials("eir-publisher"),
    )  # fmt: skip


def _shown(db: Path) -> dict[str, Any]:
    result = eir("case", "show", "C-1", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


def test_a_published_case_is_made_on_every_node(tmp_path: Path) -> None:
    police = tmp_path / "police.csv"
    police.write_text(f"imei\n{LISTED}\n")
    config = tmp_path / "node1.toml"
    config.write_text('[mqtt]\nnode = "node1"\n[events]\nmask_imsi = true\n')
    dbs = [tmp_path / "node1", tmp_path / "node2"]
    with broker(tmp_path / "broker") as b, ExitStack() as stack:
        watcher = Watcher(b, topics=("eir/events/case",))
        stack.callback(watcher.close)
        watcher.wait_subscribed()
        clients = []
        for i, db in enumerate(dbs, 1):
            served = stack.enter_context(node(b, db, f"node{i}"))
            clients.append(BlockingClient(served.port()))
            stack.callback(clients[-1].close)
        loaded = publish(b, police, "--list", "black", "--source", "police", "--wait", "2")
        assert loaded.returncode == 0, loaded.stderr
        for client in clients:
            answers(client, FREE, S.WHITELISTED)
            answers(client, LISTED, S.BLACKLISTED)

        opened = _case(
            b, dbs[0], config, "open", "C-1", "--imei", FREE, "--imei", LISTED,
            "--imsi", IMSI, "--reason", "stolen", "--by", "officer-7",
        )  # fmt: skip
        assert opened.returncode == 0, opened.stderr
        assert opened.stdout.startswith("published update #2 (case C-1: pending, 2 IMEIs, ")
        assert "applied on 2 nodes: node1, node2" in opened.stdout
        for client in clients:
            answers(client, FREE, S.GREYLISTED)  # cases.pending_answer: grey
            answers(client, LISTED, S.BLACKLISTED)  # the police entry still decides
        event = watcher.wait_for("eir/events/case", lambda m: m["state"] == "pending")
        assert event.pop("time").endswith("Z")
        assert event == {
            "type": "case",
            "node": "node1",
            "case": "C-1",
            "state": "pending",
            "previous": None,
            "imeis": [FREE, LISTED],
            "imsis": ["45204**********"],
            "reason": "stolen",
            "by": "officer-7",
            "version": 2,
        }

        blocked = _case(b, dbs[0], config, "block", "C-1", "--by", "sgt-2")
        assert blocked.returncode == 0, blocked.stderr
        assert blocked.stdout.startswith("published update #3 (case C-1: blocked, 2 IMEIs, ")
        for client in clients:
            answers(client, FREE, S.BLACKLISTED)
        event = watcher.wait_for("eir/events/case", lambda m: m["state"] == "blocked")
        assert (event["previous"], event["by"], event["version"]) == ("pending", "sgt-2", 3)

        again = _case(b, dbs[0], config, "open", "C-1", "--imei", FREE, "--reason", "lost")
        assert again.returncode == 1
        assert again.stderr.startswith("eir: case C-1 exists: blocked since ")
        assert again.stderr.endswith("; nothing was changed\n")
        assert [version(db) for db in dbs] == [3, 3]  # nothing published

        recovered = _case(b, dbs[0], config, "recover", "C-1", "--by", "sgt-2")
        assert recovered.returncode == 0, recovered.stderr
        assert recovered.stdout.startswith("published update #4 (case C-1: recovered, 2 IMEIs, ")
        wait_version(dbs, 4)
        for client in clients:
            answers(client, FREE, S.WHITELISTED)  # as before the case
            answers(client, LISTED, S.BLACKLISTED)  # the police entry untouched
        watcher.wait_for("eir/events/case", lambda m: m["state"] == "recovered")

        _same_case_on(dbs)
        _no_events_from_the_nodes(watcher, dbs)


def _same_case_on(dbs: list[Path]) -> None:
    """`eir case show` equal on the nodes, each history step a version of the node's own, the
    history record of the last update the publisher's case action."""
    shown = [_shown(db) for db in dbs]
    assert shown[0] == shown[1]
    assert [s["state"] for s in shown[0]["history"]] == ["pending", "blocked", "recovered"]
    assert [s["version"] for s in shown[0]["history"]] == [2, 3, 4]
    assert shown[0]["answers"][LISTED]["why"] == "imei: imei 49015420323751 on black from police"
    for db in dbs:
        steps = json.loads(eir("versions", "--json", "--db", db).stdout)["versions"][:3]
        last = steps[0]
        assert (last["action"], last["case"], last["origin"], last["update"]) == (
            "case-recover", "C-1", "update", 4,
        )  # fmt: skip
        assert (last["by"], last["node"], last["imeis"]) == ("sgt-2", "node1", [FREE, LISTED])
        # each names the list and source it wrote, as a local case action's record does (a
        # recover: the list it removed from)
        assert [(s["action"], s["list"], s["source"]) for s in steps] == [
            ("case-recover", "black", "case"),
            ("case-block", "black", "case"),
            ("case-open", "grey", "case"),
        ]


def _no_events_from_the_nodes(watcher: Watcher, dbs: list[Path]) -> None:
    """A local case on each node: its event comes after any the node would have sent for the
    updates it applied (one watch, in version order): one event per published step only."""
    for i, db in enumerate(dbs, 1):
        local = eir("case", "open", f"L-{i}", "--imei", FREE, "--reason", "lost", "--db", db)
        assert local.returncode == 0, local.stderr
        watcher.wait_for("eir/events/case", lambda m, i=i: m["case"] == f"L-{i}")
    events = [(m["case"], m["state"], m["node"]) for m in watcher.json_on("eir/events/case")]
    assert sorted(events) == [
        ("C-1", "blocked", "node1"),
        ("C-1", "pending", "node1"),
        ("C-1", "recovered", "node1"),
        ("L-1", "pending", "node1"),
        ("L-2", "pending", "node2"),
    ]
