"""Entries with times published to two nodes through a real mosquitto (issue 18): a file
with ``effective``/``expires`` columns and a plain file with ``--grace``/``--expires-in`` reach
every node with their times (an ``EIRU4`` update), the same digest as ``eir load`` of the file."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

from tests.integration.test_mqtt import node, publish, stats, wait_version
from tests.support.cli import eir
from tests.support.mqtt import broker

TIMED = (
    "imei,reason,effective,expires\n"
    "490154203237518,stolen,2026-12-15,\n"
    "356938035643809,visitor,,2027-01-01T07:00:00+07:00\n"
    "353918051234561,lost,,\n"
)
DAY = 86400


def _exported(db: Path) -> dict[str, list[str]]:
    result = eir("export", "--db", db)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(",added,effective,expires")
    return {f"{row[0]}/{row[4]}": row for line in lines[1:] for row in [line.split(",")]}


def test_two_nodes_get_the_times(tmp_path: Path) -> None:
    timed = tmp_path / "timed.csv"
    timed.write_text(TIMED)
    plain = tmp_path / "visitors.txt"
    plain.write_text("861234561234561\n")
    dbs = [tmp_path / "node0", tmp_path / "node1"]
    reference = tmp_path / "reference"
    with broker(tmp_path / "broker") as b, ExitStack() as nodes:
        served = [nodes.enter_context(node(b, db, f"eir{i}")) for i, db in enumerate(dbs)]
        result = publish(b, timed, "--list", "black", "--source", "police", "--wait", "2")
        assert result.returncode == 0, result.stderr + "\n".join(served[0].raw)
        assert "applied on 2 nodes: eir0, eir1" in result.stdout
        loaded = eir("load", timed, "--list", "black", "--source", "police", "--db", reference)
        assert loaded.returncode == 0, loaded.stderr
        wait_version(dbs, 1)
        assert {stats(db)["digest"] for db in dbs} == {stats(reference)["digest"]}
        before = int(time.time())
        result = publish(
            b, plain, "--list", "grey", "--source", "border", "--grace", "2",
            "--expires-in", "30", "--wait", "2",
        )  # fmt: skip
        after = int(time.time()) + 1
        assert result.returncode == 0, result.stderr
        wait_version(dbs, 2)
    rows = [_exported(db) for db in dbs]
    assert rows[0] == rows[1]
    assert rows[0]["490154203237518/police"][8:] == ["2026-12-15T00:00:00Z", ""]
    assert rows[0]["356938035643809/police"][8:] == ["", "2027-01-01T00:00:00Z"]
    assert rows[0]["353918051234561/police"][8:] == ["", ""]
    effective, expires = rows[0]["861234561234561/border"][8:]
    stamp = time.strptime(effective, "%Y-%m-%dT%H:%M:%SZ")
    seconds = int(time.mktime(stamp)) - time.timezone
    assert before + 2 * DAY <= seconds <= after + 2 * DAY
    assert expires > effective
