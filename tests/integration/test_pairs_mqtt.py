"""Grandfathered pairs and a class through the list distribution, with a real mosquitto and a
real `eir serve` node: ``eir pairs grandfather --publish`` reaches the node as a list update,
and a class update (``class_batch`` + ``class_scope``, as the aggregator sends it) is applied
to the node's class table, leaving a list source named like the class alone."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from eir.config import Config, parse_broker
from eir.model import ListName, StoreClass
from eir.publish.publisher import publish_update
from eir.store.api import Mode
from eir.store.classes import ClassRow, class_batch, class_scope
from tests.integration.test_mqtt import node, stats, wait_version
from tests.integration.test_pairs_cli import I1, I3, X15, X, config, observations
from tests.support.cli import EIR, eir, env
from tests.support.mqtt import broker, credentials


def test_grandfather_publish_reaches_the_node(tmp_path: Path) -> None:
    observations(tmp_path / "obs")
    db = tmp_path / "node"
    with broker(tmp_path / "broker") as b, node(b, db, "n1"):
        result = subprocess.run(
            [
                EIR,
                "pairs",
                "grandfather",
                "--seen-before",
                "2026-01-31",
                "--observations",
                str(tmp_path / "obs"),
                "--db",
                str(tmp_path / "no-local-store"),
                "--config",
                str(config(tmp_path, 2)),
                "--publish",
                "--broker",
                b.url,
                "--wait",
                "1",
                "--timeout",
                "60",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env() | credentials("eir-publisher"),
            check=False,
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith("seen before 2026-01-31: 4 pairs of 2 IMEIs; 3 to make white")
        assert lines[1].startswith("published update #1 (add white/grandfathered, 3 entries,")
        assert lines[2] == "applied on 1 nodes: n1"
        for imsi in (I1, I3):
            looked = json.loads(eir("lookup", X15, "--imsi", imsi, "--json", "--db", db).stdout)
            assert (looked["rule"], looked["entry"]["source"]) == ("pair", "grandfathered")
        assert stats(db)["entries"] == {"pair/white/grandfathered": 3}


GREY_DUPLICATE = ("--list", "grey", "--source", "duplicate")


def test_a_class_update_is_applied_by_the_node(tmp_path: Path) -> None:
    db = tmp_path / "node"
    grey = tmp_path / "grey.txt"
    grey.write_text("356938035643809\n")
    with broker(tmp_path / "broker") as b, node(b, db, "n1"):
        mqtt = Config().mqtt
        environ = env() | credentials("eir-publisher")
        listed = subprocess.run(
            [EIR, "publish", str(grey), *GREY_DUPLICATE, "--broker", b.url, "--wait", "1"],
            capture_output=True,
            text=True,
            timeout=120,
            env=environ,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        dup = StoreClass.DUPLICATE
        for seq, rows in ((2, [ClassRow(X, "dirbs", '{"average":4.2}', 0)]), (3, [])):
            asyncio.run(
                publish_update(
                    mqtt,
                    parse_broker(b.url),
                    class_batch(dup, rows),
                    mode=Mode.REPLACE,
                    list_name=ListName.GREY,
                    source=dup,
                    scope=class_scope(dup),
                    remove_any_source=False,
                    timeout=60,
                    wait_nodes=1,
                    say=lambda _m: None,
                    environ=environ,
                )
            )
            wait_version([db], seq)
            counts = stats(db)["entries"]
            if rows:
                assert counts == {"imei/grey/duplicate": 1, "class/grey/duplicate": 1}
                looked = json.loads(eir("lookup", X15, "--json", "--db", db).stdout)
                assert (looked["rule"], looked["classes"][0]["rule"]) == ("class", "dirbs")
            else:  # the class emptied; the list source of the same name untouched
                assert counts == {"imei/grey/duplicate": 1}
