"""Events, list distribution and metrics against a real mosquitto run with the shipped
configuration (conf/mosquitto): several `eir serve` nodes, `eir publish`, `eir-sim`."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import EIR, EIR_SIM, eir, env
from tests.support.diameter import DEMO, Served, serve
from tests.support.mqtt import Broker, Watcher, broker, credentials, make_certificates

ROOT = Path(__file__).resolve().parents[2]
POLICE = (
    "imei,reason,reference\n490154203237518,stolen,PR-1\n356938035643809,stolen,PR-2\n"
    "353918051234561,robbery à main armée,PR-3\n"
)


def publish(
    b: Broker, *args: str | Path, user: str = "eir-publisher", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EIR, "publish", *map(str, args), "--broker", b.url],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env() | credentials(user),
        check=False,
    )


@contextmanager
def node(b: Broker, db: Path, name: str, *extra: str) -> Iterator[Served]:
    # --create: a node may start with no store and get its lists from the broker
    with serve(
        db,
        "--broker",
        b.url,
        "--node",
        name,
        "--create",
        *extra,
        env_extra=credentials("eir-node"),
    ) as served:
        yield served


def stats(db: Path) -> dict[str, Any]:
    result = eir("stats", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def version(db: Path) -> int:
    updates = stats(db)["updates"]
    return int(updates["eir"]["version"]) if "eir" in updates else 0


def wait_version(dbs: list[Path], seq: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(version(db) == seq for db in dbs):
            return
        time.sleep(0.2)
    raise AssertionError(f"not all at #{seq}: {[version(db) for db in dbs]}")


def metrics(served: Served) -> dict[str, float]:
    port = served.port("metrics", "http")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


def metrics_when(served: Served, ready: Any, timeout: float = 20) -> dict[str, float]:
    """The metrics once `ready(metrics)` holds (what a daemon does next happens when it
    happens: on a busy machine later than usual), or the last ones after `timeout`."""
    deadline = time.monotonic() + timeout
    seen = metrics(served)
    while not ready(seen) and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = metrics(served)
    return seen


def sim(*args: str | Path) -> dict[str, Any]:
    out = Path(str(args[0]))
    result = subprocess.run(
        [EIR_SIM, "run", *map(str, args[1:]), "--json", out, "--live", "never"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env(),
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def test_three_nodes_converge_after_add_replace_and_remove(tmp_path: Path) -> None:
    police = tmp_path / "police.csv"
    police.write_text(POLICE)
    smaller = tmp_path / "police-2.csv"
    smaller.write_text(
        "imei,reason,reference\n490154203237518,stolen,PR-1\n861234561234561,stolen,PR-4\n"
    )
    gone = tmp_path / "found.csv"
    gone.write_text("861234561234561\n")
    dbs = [tmp_path / f"node{i}" for i in range(3)]
    reference = tmp_path / "reference"
    with broker(tmp_path / "broker") as b, ExitStack() as nodes:
        for i, db in enumerate(dbs):
            nodes.enter_context(node(b, db, f"eir{i}"))
        steps = [
            (DEMO, "black", "demo", "add"),
            (police, "black", "police", "add"),
            (smaller, "black", "police", "replace"),
            (gone, "black", "police", "remove"),
        ]
        for seq, (file, list_name, source, mode) in enumerate(steps, 1):
            result = publish(
                b,
                file,
                "--list",
                list_name,
                "--source",
                source,
                "--mode",
                mode,
                "--wait",
                "3",
                "--timeout",
                "60",
            )
            assert result.returncode == 0, result.stderr
            assert f"published update #{seq} ({mode} {list_name}/{source}" in result.stdout
            assert "applied on 3 nodes: eir0, eir1, eir2" in result.stdout
            loaded = eir(
                "load",
                file,
                "--list",
                list_name,
                "--source",
                source,
                "--mode",
                mode,
                "--force",  # as the nodes apply it: the replace guard is eir load's alone
                "--db",
                reference,
            )
            assert loaded.returncode == 0, loaded.stderr
            wait_version(dbs, seq)
            digests = {stats(db)["digest"] for db in dbs}
            # the same entries as `eir load` of the same files gives, on every node
            assert digests == {stats(reference)["digest"]}, (seq, digests)
    lookup = eir("lookup", "--db", dbs[2], "--json", "861234561234561")
    assert json.loads(lookup.stdout)["answer"] != "blacklisted"
    lookup = eir("lookup", "--db", dbs[1], "--json", "490154203237518")
    found = json.loads(lookup.stdout)
    assert found["answer"] == "blacklisted" and found["entry"]["reference"] in ("PR-1", "")
    history = stats(dbs[0])["history"]
    assert history[-1]["files"] == ["update eir #4 (found.csv)"]
    assert stats(dbs[0])["updates"]["eir"]["version"] == 4


def test_broker_killed_and_restarted_loses_no_update(tmp_path: Path) -> None:
    police = tmp_path / "police.csv"
    police.write_text(POLICE)
    dbs = [tmp_path / f"node{i}" for i in range(3)]
    for db in dbs:  # every node answers from the demo lists from the start
        assert eir("load", DEMO, "--list", "black", "--source", "demo", "--db", db).returncode == 0
    fast = tmp_path / "fast.toml"
    fast.write_text("[mqtt]\nreconnect_min_s = 0.2\nreconnect_max_s = 1\n")
    with broker(tmp_path / "broker") as b, ExitStack() as running:
        a = running.enter_context(node(b, dbs[0], "a", "--config", str(fast)))
        running.enter_context(node(b, dbs[1], "b", "--config", str(fast)))
        # node c is down for all of this: it must catch up from what the broker kept
        first = publish(b, DEMO, "--list", "grey", "--source", "lab", "--wait", "2")
        assert first.returncode == 0, first.stderr
        b.kill()
        second = subprocess.Popen(
            [
                EIR,
                "publish",
                str(police),
                "--list",
                "black",
                "--source",
                "police",
                "--broker",
                b.url,
                "--wait",
                "2",
                "--timeout",
                "90",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env() | credentials("eir-publisher"),
        )
        # the broker is down: the nodes go on answering, every answer right
        doc = sim(
            tmp_path / "down.json",
            "--target",
            f"127.0.0.1:{a.port()}",
            "--protocol",
            "s13",
            "--concurrency",
            "4",
            "--requests",
            "500",
            "--lists",
            DEMO,
            "--mix",
            "black=0.3,grey=0.2,white=0.2",
        )
        assert doc["answered"] == 500 and doc["mismatches"] == doc["errors"] == 0
        time.sleep(1.0)
        b.start()
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert "published update #2" in out and "applied on 2 nodes: a, b" in out
        running.enter_context(node(b, dbs[2], "c", "--config", str(fast)))
        wait_version(dbs, 2)
        assert len({stats(db)["digest"] for db in dbs}) == 1
        assert "retrying" in err


def test_invalid_file_publishes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("imei,reason\n490154203237518,ok\n12345,short\n")
    db = tmp_path / "node"
    with broker(tmp_path / "broker") as b, node(b, db, "n1"):
        watcher = Watcher(b, topics=("eir/lists/#",))
        try:
            watcher.wait_connected()
            result = publish(b, bad, "--list", "black", "--wait", "1", "--timeout", "10")
            assert result.returncode == 1
            assert f"{bad}:3:" in result.stderr and "Traceback" not in result.stderr
            assert "published" not in result.stdout
            time.sleep(0.5)
            assert watcher.messages == []
        finally:
            watcher.close()
    assert version(db) == 0 and stats(db)["lists"] == {}


def test_forged_update_is_refused_by_the_shipped_broker_configuration(tmp_path: Path) -> None:
    db = tmp_path / "node"
    with broker(tmp_path / "broker") as b, node(b, db, "n1"):
        assert publish(b, DEMO, "--list", "black", "--wait", "1").returncode == 0
        # no account, or a wrong password: not even connected
        for watcher in (Watcher(b, user=None), Watcher(b, user="eir-node", password="guess")):
            try:
                assert watcher.wait_connected() != 0
            finally:
                watcher.close()
        # a node's own account may not write list updates: the broker refuses them
        refused: list[int] = []
        forger = paho.Client(CallbackAPIVersion.VERSION2, client_id="forger", protocol=paho.MQTTv5)
        forger.username_pw_set("eir-node", "node-secret")
        forger.on_publish = lambda _c, _u, _m, reason, _p: refused.append(reason.value)
        forger.connect("127.0.0.1", b.port)
        forger.loop_start()
        forged_head = json.dumps({"seq": 2, "id": "f" * 32, "parts": 1, "time": 0})
        forger.publish("eir/lists/head", forged_head, qos=1, retain=True).wait_for_publish(10)
        forger.publish(
            "eir/lists/log/000000000002/000000", b"EIRP-forged", qos=1, retain=True
        ).wait_for_publish(10)
        forger.loop_stop()
        forger.disconnect()
        assert refused == [135, 135]  # MQTT v5 "Not authorized"
        # the next real update is #2: the forged head never existed
        police = tmp_path / "police.csv"
        police.write_text(POLICE)
        result = publish(b, police, "--list", "black", "--source", "police", "--wait", "1")
        assert result.returncode == 0 and "published update #2" in result.stdout
        wait_version([db], 2)


def test_events_and_metrics_while_answering(tmp_path: Path, demo_db: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text('[events]\nchecks = "non-white"\nmask_imsi = true\n')
    with broker(tmp_path / "broker") as b:
        watcher = Watcher(b)
        try:
            watcher.wait_connected()
            with node(b, demo_db, "ev1", "--config", str(config)) as served:
                watcher.wait_for("eir/nodes/ev1", lambda m: m["state"] == "online")
                doc = sim(
                    tmp_path / "s13.json",
                    "--target",
                    f"127.0.0.1:{served.port()}",
                    "--protocol",
                    "s13",
                    "--concurrency",
                    "4",
                    "--requests",
                    "400",
                    "--lists",
                    DEMO,
                    "--mix",
                    "black=0.3,grey=0.1,pair=0.2,malformed=0.1",
                    "--seed",
                    "9",
                )
                black = doc["equipment_status"]["black"]
                watcher.wait_for("eir/events/peer", lambda m: m["state"] == "down")
                deadline = time.monotonic() + 20
                while len(watcher.json_on("eir/check/black")) < black:
                    assert time.monotonic() < deadline, "not every black check was published"
                    time.sleep(0.05)
                seen = metrics(served)
                police = tmp_path / "police.csv"
                police.write_text(POLICE)
                assert (
                    publish(
                        b, police, "--list", "black", "--source", "police", "--wait", "1"
                    ).returncode
                    == 0
                )
                lists = watcher.wait_for("eir/events/lists")
                after = metrics(served)
        finally:
            watcher.close()
    checks = watcher.json_on("eir/check/")
    assert {c["status"] for c in checks} <= {"black", "grey", "unknown"}  # no white: non-white
    event = watcher.json_on("eir/check/black")[0]
    assert event["protocol"] == "s13" and event["peer"] and event["rule"] in ("imei", "pair")
    assert event["node"] == "ev1" and event["time"].endswith("Z") and len(event["imei"]) >= 14
    said = event["entry"]  # the deciding entry's lifecycle (issue 18): the demo's has no times
    assert (said["effective"], said["expires"], said["state"], said["notice"]) == (
        None,
        None,
        "in-force",
        False,
    )
    masked = [c for c in checks if c["imsi"]]
    assert masked and all(c["imsi"][5:] == "*" * (len(c["imsi"]) - 5) for c in masked)
    peers = watcher.json_on("eir/events/peer")
    assert [p["state"] for p in peers][:2] == ["up", "down"]
    assert peers[0]["protocol"] == "diameter"
    assert lists["cause"] == "update eir #1 (police.csv)" and lists["version"] == 1
    key = "eir_checks_total{{protocol=s13,result={},status={}}}"
    assert seen[key.format("2001", "black")] == black
    assert seen[key.format("5004", "none")] + seen.get(key.format("5005", "none"), 0) == doc[
        "result_code"
    ].get("5004", 0) + doc["result_code"].get("5005", 0)
    assert seen["eir_answer_duration_seconds_count{protocol=s13}"] == 400
    assert seen["eir_events_dropped_total{}"] == 0
    assert seen["eir_events_published_total{}"] >= black
    assert seen["eir_mqtt_connected{}"] == 1
    assert seen["eir_list_entries{list=black}"] == 3
    assert after["eir_list_version{}"] == 1 and after["eir_list_updates_applied_total{}"] == 1
    assert after["eir_list_entries{list=black}"] == 6
    assert after["eir_peers_connected{protocol=diameter}"] == 0


def test_broker_down_events_dropped_and_reported_when_back(tmp_path: Path, demo_db: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text(
        '[events]\nchecks = "all"\nqueue_size = 20\n\n'
        "[mqtt]\nreconnect_min_s = 0.2\nreconnect_max_s = 0.5\n"
    )
    with (
        broker(tmp_path / "broker") as b,
        node(b, demo_db, "drop1", "--config", str(config)) as served,
    ):
        b.kill()
        doc = sim(
            tmp_path / "s13.json",
            "--target",
            f"127.0.0.1:{served.port()}",
            "--protocol",
            "s13",
            "--concurrency",
            "4",
            "--requests",
            "300",
            "--lists",
            DEMO,
        )
        assert doc["answered"] == 300 and doc["mismatches"] == 0
        # 300 checks and the simulator's peer up and down, with 20 queued: wait until the
        # drops of the whole run are counted (the sleep this replaces lost that race when busy)
        # and until the node has seen the broker go (on a busy machine the queue can fill
        # before the loss of the connection is noticed)
        down = metrics_when(
            served,
            lambda m: m["eir_events_dropped_total{}"] >= 280 and m["eir_mqtt_connected{}"] == 0,
        )
        assert down["eir_mqtt_connected{}"] == 0
        assert down["eir_events_queued{}"] == 20
        dropped = down["eir_events_dropped_total{}"]
        assert dropped >= 280
        # the node reports its drops as soon as it is back: held stopped until the watcher's
        # subscription is acknowledged, so that the report cannot come before it
        served.proc.send_signal(signal.SIGSTOP)
        try:
            b.start()
            watcher = Watcher(b, topics=("eir/events/dropped",))
            watcher.wait_subscribed()
        finally:
            served.proc.send_signal(signal.SIGCONT)
        try:
            report = watcher.wait_for("eir/events/dropped", timeout=30)
        finally:
            watcher.close()
        assert report["dropped"] == dropped and report["total"] == dropped
        assert report["node"] == "drop1"


def test_metrics_of_several_workers_are_added_up(tmp_path: Path, demo_db: Path) -> None:
    with serve(demo_db, "--workers", "2") as served:
        sim(
            tmp_path / "s13.json",
            "--target",
            f"127.0.0.1:{served.port()}",
            "--protocol",
            "s13",
            "--concurrency",
            "8",
            "--connections",
            "8",
            "--requests",
            "800",
            "--lists",
            DEMO,
        )
        seen = metrics_when(  # workers share their numbers once a second
            served, lambda m: m.get("eir_answer_duration_seconds_count{protocol=s13}") == 800
        )
    assert seen["eir_answer_duration_seconds_count{protocol=s13}"] == 800
    assert seen["eir_workers{}"] == 2
    assert sum(v for k, v in seen.items() if k.startswith("eir_checks_total{")) == 800


@pytest.mark.parametrize("path", ["/nothing", "/metrics"])
def test_metrics_endpoint_answers_http(demo_db: Path, path: str) -> None:
    with serve(demo_db) as served:
        url = f"http://127.0.0.1:{served.port('metrics', 'http')}{path}"
        if path == "/nothing":
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(url, timeout=10)
            info.value.close()  # the error holds the response and its socket
            assert info.value.code == 404
        else:
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert b"eir_checks_total" in answer.read()


def test_tls_to_the_broker_with_the_configured_ca(tmp_path: Path, demo_db: Path) -> None:
    ca, cert, key = make_certificates(tmp_path / "pki")
    trusted = tmp_path / "tls.toml"
    trusted.write_text(f'[mqtt]\nca_file = "{ca}"\nreconnect_max_s = 1\n')
    with broker(tmp_path / "broker", tls=(ca, cert, key)) as b:
        url = f"mqtts://127.0.0.1:{b.tls_port}"
        watcher = Watcher(b, topics=("eir/nodes/#",))
        try:
            watcher.wait_connected()
            with serve(
                demo_db,
                "--broker",
                url,
                "--node",
                "tls1",
                "--config",
                str(trusted),
                env_extra=credentials("eir-node"),
            ):
                watcher.wait_for("eir/nodes/tls1", lambda m: m["state"] == "online")
            # without our CA the broker's certificate is not trusted: no connection
            untrusted = tmp_path / "untrusted.toml"
            untrusted.write_text("[mqtt]\nreconnect_max_s = 1\n")
            with serve(
                demo_db,
                "--broker",
                url,
                "--node",
                "tls2",
                "--config",
                str(untrusted),
                env_extra=credentials("eir-node"),
            ) as served:
                deadline = time.monotonic() + 20
                while not any(
                    "CERTIFICATE_VERIFY_FAILED" in line or "certificate" in line
                    for line in served.lines
                ):
                    assert time.monotonic() < deadline, served.lines[-5:]
                    time.sleep(0.1)
                assert metrics(served)["eir_mqtt_connected{}"] == 0
            assert not watcher.json_on("eir/nodes/tls2")
        finally:
            watcher.close()
