"""Issue 18's list distribution through a real mosquitto (the shipped configuration): the
publisher's audit recorded by the nodes, a rollback published to every node, and a snapshot that
bounds the log and from which a new node starts."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.integration.test_devices_cli import LAB
from tests.integration.test_mqtt import node, publish, stats, wait_version
from tests.support.cli import EIR, eir, env
from tests.support.mqtt import Watcher, broker, credentials

FIRST = "imei,reason,reference\n490154203237518,stolen,PR-1\n356938035643809,stolen,PR-2\n"
SECOND = "imei,reason,reference\n490154203237518,stolen,PR-1\n861234561234561,lost,PR-9\n"
THIRD = "imei\n353918051234561\n"


def _history(db: Path) -> list[dict[str, Any]]:
    result = eir("versions", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    records: list[dict[str, Any]] = json.loads(result.stdout)["versions"]
    return records


def _digest_of(tmp_path: Path, name: str, *loads: tuple[Path, str]) -> str:
    """The digest `eir load` gives for these files (each a replace of black/police)."""
    db = tmp_path / name
    for file, mode in loads:
        loaded = eir(
            "load", file, "--list", "black", "--source", "police", "--mode", mode, "--force",
            "--db", db,
        )  # fmt: skip
        assert loaded.returncode == 0, loaded.stderr
    digest: str = stats(db)["digest"]
    return digest


def _publish_file(b: Any, file: Path, mode: str, *extra: str) -> str:
    result = publish(
        b, file, "--list", "black", "--source", "police", "--mode", mode, "--timeout", "60",
        *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_rollback_published_restores_the_digest_on_two_nodes(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(FIRST)
    second.write_text(SECOND)
    after_a = _digest_of(tmp_path, "reference", (first, "replace"))
    dbs = [tmp_path / "node1", tmp_path / "node2"]
    with broker(tmp_path / "broker") as b, ExitStack() as nodes:
        for i, db in enumerate(dbs, 1):
            nodes.enter_context(node(b, db, f"node{i}"))
        _publish_file(b, first, "replace", "--wait", "2")
        _publish_file(b, second, "replace", "--wait", "2")
        assert {stats(db)["digest"] for db in dbs} != {after_a}
        dry = eir("rollback", "1", "--publish", "--dry-run", "--db", dbs[0], "--broker", b.url)
        assert (dry.returncode, dry.stderr) == (
            2,
            "eir: --publish and --dry-run: see the changes with --dry-run alone first\n",
        )
        result = subprocess.run(
            [EIR, "rollback", "1", "--publish", "--db", str(dbs[0]), "--broker", b.url,
             "--wait", "2", "--by", "alice", "--reason", "wrong file"],
            capture_output=True, text=True, timeout=120, check=False,
            env=env() | credentials("eir-publisher"),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "published update #3 (rollback to version 1, 2 records" in result.stdout
        assert "applied on 2 nodes: node1, node2" in result.stdout
        wait_version(dbs, 3)
        assert {stats(db)["digest"] for db in dbs} == {after_a}
        for db in dbs:
            last = _history(db)[0]
            assert (last["action"], last["restores"], last["update"]) == ("rollback", 1, 3)
            assert (last["by"], last["reason"], last["origin"]) == ("alice", "wrong file", "update")


def _answer(db: Path, imei: str) -> str:
    result = eir("lookup", imei, "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    value: str = json.loads(result.stdout)["answer"]
    return value


def test_a_published_rollback_keeps_the_cases_of_each_node(tmp_path: Path) -> None:
    """A case blocked on node1 on an IMEI the police list added in #2; node2 publishes a
    rollback to #1: node1 still answers black (its case's entry kept), node2 has #1's
    digest, the case record and its entries agree on node1."""
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(FIRST)
    second.write_text(SECOND)
    after_a = _digest_of(tmp_path, "reference", (first, "replace"))
    dbs = [tmp_path / "node1", tmp_path / "node2"]
    imei = "861234561234561"
    config = tmp_path / "node2.toml"
    config.write_text('[mqtt]\nnode = "node2"\n')
    with broker(tmp_path / "broker") as b, ExitStack() as nodes:
        for i, db in enumerate(dbs, 1):
            nodes.enter_context(node(b, db, f"node{i}"))
        _publish_file(b, first, "replace", "--wait", "2")
        _publish_file(b, second, "replace", "--wait", "2")
        for action in (["open", "C-1", "--imei", imei, "--reason", "stolen"], ["block", "C-1"]):
            done = eir("case", *action, "--db", dbs[0])
            assert done.returncode == 0, done.stderr
        assert _answer(dbs[0], imei) == "blacklisted"
        result = subprocess.run(
            [EIR, "rollback", "1", "--publish", "--db", str(dbs[1]), "--broker", b.url,
             "--wait", "2", "--by", "alice", "--config", str(config)],
            capture_output=True, text=True, timeout=120, check=False,
            env=env() | credentials("eir-publisher"),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        wait_version(dbs, 3)
        assert (_answer(dbs[0], imei), _answer(dbs[1], imei)) == ("blacklisted", "whitelisted")
        assert stats(dbs[1])["digest"] == after_a
        shown = eir("case", "show", "C-1", "--json", "--db", dbs[0])
        assert shown.returncode == 0, shown.stderr
        case = json.loads(shown.stdout)
        assert (case["state"], case["answers"][imei]["answer"]) == ("blocked", "blacklisted")
        listed = eir("versions", "--db", dbs[0])
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[1].endswith("update 3, restores node2's v1")


def test_audit_of_an_applied_update(tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text(FIRST)
    db = tmp_path / "node1"
    config = tmp_path / "hq.toml"
    config.write_text('[mqtt]\nnode = "hq"\n')
    with broker(tmp_path / "broker") as b, node(b, db, "node1"):
        _publish_file(
            b, first, "add", "--wait", "1", "--by", "bob", "--reason", "police batch",
            "--reference", "TICKET-7", "--config", str(config),
        )  # fmt: skip
        wait_version([db], 1)
        devices = publish(b, "--devices", LAB, "--by", "dana", "--reference", "GSMA-2026-11")
        assert devices.returncode == 0, devices.stderr
        wait_version([db], 2)
    device_record = _history(db)[0]
    assert (device_record["action"], device_record["by"], device_record["origin"]) == (
        "devices",
        "dana",
        "update",
    )
    assert (device_record["reference"], device_record["update"]) == ("GSMA-2026-11", 2)
    # published without mqtt.node: the publisher's node is its host name (node_name)
    assert device_record["node"] == socket.gethostname().split(".")[0]
    record = _history(db)[1]
    assert {k: record[k] for k in ("action", "by", "reason", "reference", "origin")} == {
        "action": "load",
        "by": "bob",
        "reason": "police batch",
        "reference": "TICKET-7",
        "origin": "update",
    }
    assert (record["node"], record["update"]) == ("hq", 1)
    audit = eir("audit", "--db", db, "--json")
    assert audit.returncode == 0, audit.stderr
    loads = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(r["reference"], r["by"]) for r in loads if r["action"] == "load"] == [
        ("TICKET-7", "bob")
    ]


def _retained(b: Any, upto: int) -> list[str]:
    """The log topics of updates <= ``upto`` the broker still keeps (a snapshot part arrives
    after them: its subscription is made after the log's)."""
    watcher = Watcher(b, topics=("eir/lists/log/#", "eir/lists/snapshot/#"))
    try:
        watcher.wait_subscribed()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(t.startswith("eir/lists/snapshot/") for t, _, _ in list(watcher.messages)):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no retained snapshot")
        return [
            t
            for t, payload, retained in list(watcher.messages)
            if t.startswith("eir/lists/log/") and payload and retained
            and int(t.split("/")[3]) <= upto
        ]  # fmt: skip
    finally:
        watcher.close()


def test_snapshot_bounds_the_log_and_starts_a_new_node(tmp_path: Path) -> None:
    files = []
    for i, text in enumerate((FIRST, SECOND, THIRD)):
        files.append(tmp_path / f"{i}.csv")
        files[-1].write_text(text)
    dbs = [tmp_path / "node1", tmp_path / "node2"]
    with broker(tmp_path / "broker") as b, ExitStack() as nodes:
        for i, db in enumerate(dbs, 1):
            nodes.enter_context(node(b, db, f"node{i}"))
        for file, mode in zip(files, ("add", "replace", "add"), strict=True):
            _publish_file(b, file, mode, "--wait", "2")
        wait_version(dbs, 3)
        local = tmp_path / "local"
        assert eir("load", files[0], "--list", "black", "--db", local).returncode == 0
        stray = publish(b, files[0], "--list", "black", "--db", local)
        assert (
            stray.stderr == "eir: --db goes with --snapshot: a list update is read from its files\n"
        )
        refused = publish(b, "--snapshot", "--db", local)
        assert refused.returncode != 0
        assert refused.stderr.endswith(
            "eir: the store is at #0, the broker's head at #3: "
            "use a store that has applied the head\n"
        )
        waited = publish(b, "--snapshot", "--db", dbs[0], "--wait", "2")
        assert (waited.returncode, waited.stdout, waited.stderr) == (
            2,
            "",
            "eir: --wait goes with an update: a snapshot is no new update for the nodes to "
            "apply (a node starting from it reports its version as it comes up)\n",
        )
        result = publish(b, "--snapshot", "--db", dbs[0], "--by", "carol")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("published a snapshot at #3 (")
        assert "applied on" not in result.stdout
        assert "deleted 3 log messages of updates up to #3" in result.stdout
        assert _retained(b, 3) == []
        fresh = tmp_path / "node3"
        nodes.enter_context(node(b, fresh, "node3"))
        wait_version([fresh], 3)
        assert stats(fresh)["digest"] == stats(dbs[0])["digest"]
        history = _history(fresh)  # node1's audit trail, then its own snapshot record
        assert [(r["version"], r["action"], r["update"]) for r in history] == [
            (4, "snapshot", 3),
            (3, "load", 3),
            (2, "load", 2),
            (1, "load", 1),
        ]
        assert history[0]["by"] == "carol"
        assert [r["changes_kept"] for r in history] == [False] * 4
        unkept = [r | {"changes_kept": False} for r in _history(dbs[0])]
        assert history[1:] == unkept
        audit = eir("audit", "--db", fresh, "--json")
        assert audit.returncode == 0, audit.stderr
        assert [json.loads(line)["version"] for line in audit.stdout.splitlines()] == [1, 2, 3, 4]
        crossing = eir("rollback", "3", "--yes", "--db", fresh)
        assert (crossing.returncode, crossing.stderr) == (
            1,
            "eir: version 4 loaded a snapshot: no rollback or diff crosses it "
            "(version 3 is older)\n",
        )
        # the log goes on from the snapshot: every node applies #4
        fourth = tmp_path / "3.csv"
        fourth.write_text("imei\n356938035643809\n")
        _publish_file(b, fourth, "add", "--wait", "3")
        wait_version([*dbs, fresh], 4)
        assert len({stats(db)["digest"] for db in [*dbs, fresh]}) == 1
