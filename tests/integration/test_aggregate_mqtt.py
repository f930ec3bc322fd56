"""Many nodes, one view: three `eir serve` nodes publish their observation deltas through a real
mosquitto (the shipped configuration), an `eir observe` process merges them, finds the IMEI
used by three IMSIs on three nodes within minutes, and every node answers it grey; the broker is
killed after some deltas and before others, and nothing is lost."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client.parser import text_string_to_metric_families

from eir.model import EquipmentStatus as S
from eir.observations.record import Sighting
from eir.observations.store import ObservationStore
from tests.support.cli import EIR, digest, eir, env
from tests.support.diameter import BlockingClient, Served, serve
from tests.support.logs import said
from tests.support.mqtt import USERS, Broker, broker, credentials

IMEI, OTHER = "35209900176148", "49015420323751"
NODE = """
[mqtt]
reconnect_min_s = 0.2
reconnect_max_s = 1
[observations]
path = "{obs}"
publish_interval_s = 0.2
flush_interval_s = 0.1
"""
RULE = """
[[observations.duplicate_rules]]
name = "together"
kind = "concurrent"
min_imsis = 3
minutes = 10
"""


def imsi(n: int) -> str:
    return f"00101{n:010d}"


def wait_for(what: str, done: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.1)
    raise AssertionError(f"not in {timeout} s: {what}")


@contextmanager
def observer(b: Broker, config: Path) -> Iterator[list[str]]:
    """`eir observe` as a subprocess (user eir-aggregator); yields its log once ready."""
    command = [EIR, "observe", "--config", str(config), "--broker", b.url, "--node", "agg"]
    proc = subprocess.Popen(
        [*command, "--metrics-listen", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env() | credentials("eir-aggregator"),
    )
    assert proc.stderr is not None
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        with proc.stderr:
            for line in proc.stderr:
                lines.append(said(line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for("eir observe ready", lambda: "eir: ready" in lines or proc.poll() is not None)
        assert proc.poll() is None, lines
        yield lines
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(timeout=5)


def node(
    b: Broker, db: Path, name: str, config: Path, *extra: str
) -> AbstractContextManager[Served]:
    return serve(
        db,
        *extra,
        "--broker",
        b.url,
        "--node",
        name,
        "--create",
        "--config",
        str(config),
        env_extra=credentials("eir-node"),
    )


def status(served: Served, imei: str, who: str) -> S | None:
    client = BlockingClient(served.port())
    try:
        return client.check(imei, who).equipment_status
    finally:
        client.close()


def listed(db: Path) -> list[str]:
    result = eir("duplicates", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    return [json.loads(line)["imei"] for line in result.stdout.splitlines()]


def test_three_nodes_and_an_aggregator_through_a_killed_broker(tmp_path: Path) -> None:
    names = ["a", "b", "c"]
    configs, obs = [], []
    for name in names:
        obs.append(tmp_path / f"obs-{name}")
        configs.append(tmp_path / f"{name}.toml")
        configs[-1].write_text(NODE.format(obs=obs[-1]))
    aggregated = tmp_path / "obs-agg"
    agg_config = tmp_path / "agg.toml"
    agg_config.write_text(NODE.format(obs=aggregated) + RULE)
    dbs = [tmp_path / f"db-{name}" for name in names]
    with broker(tmp_path / "broker") as b, ExitStack() as running:
        served = [
            # b runs two workers: its leading one publishes what both write, as node b
            running.enter_context(node(b, db, n, c, *(["--workers", "2"] if n == "b" else [])))
            for db, n, c in zip(dbs, names, configs, strict=True)
        ]
        log = running.enter_context(observer(b, agg_config))
        watcher = running.enter_context(watching(b, "eir/events/duplicate"))
        # each node records the checks it answers (white meanwhile) in its observation store
        stores = [running.enter_context(opened(path)) for path in obs]
        for i in (0, 1):
            assert status(served[i], IMEI, imsi(i)) is S.WHITELISTED
        assert status(served[0], OTHER, imsi(9)) is S.WHITELISTED
        merged = running.enter_context(opened(aggregated))
        wait_for("a's and b's deltas merged", lambda: len(merged.pairs(IMEI)) == 2)
        wait_for("a's other pair merged", lambda: len(merged.pairs(OTHER)) == 1)
        assert listed(dbs[0]) == []

        b.kill()  # c's check comes while the broker is away: its delta waits in c's outbox
        assert status(served[2], IMEI, imsi(2)) is S.WHITELISTED
        wait_for("c's check written", lambda: len(stores[2].outbox(10)) == 1)
        b.start()

        wait_for("c's delta published", lambda: stores[2].outbox(10) == [])
        wait_for("the class on every node", lambda: all(listed(db) == [IMEI] for db in dbs))
        assert [p.node for p in merged.pairs(IMEI)] == ["a", "b", "c"]
        assert len({digest(db) for db in dbs}) == 1  # the three list stores are the same
        # a malformed delta through the broker: refused, said, counted, nothing merged
        assert publish_as(b, "z", "eir/observations/z", b'{"v":1,"node":"z","pairs":[[1]]}') == 0
        refusal = (
            "eir.observations: observations: a delta on eir/observations/z was refused: "
            "pair 0 is not [imei, imsi, first, last, days, count]"
        )
        wait_for("the malformed delta refused", lambda: refusal in log)
        figures = scrape(log)
        assert figures["eir_duplicates"] == 1
        assert figures["eir_duplicate_class_updates_total"] == 1
        assert figures["eir_observation_deltas_received_total"] >= 3
        assert figures["eir_observation_records_merged_total"] == 4
        assert figures["eir_observation_deltas_refused_total"] == 1
        for i, served_node in enumerate(served):
            assert status(served_node, IMEI, imsi(5 + i)) is S.GREYLISTED
            assert status(served_node, OTHER, imsi(9)) is S.WHITELISTED
        shown = eir("duplicates", "--db", dbs[1]).stdout.splitlines()
        assert shown[1].startswith(f"{IMEI}  together  ")
        assert re.search(r"imsis=3 minutes=[0-9.]+$", shown[1]), shown
        wait_for("the duplicate event", lambda: len(watcher.messages) >= 1)
        topic, payload = watcher.messages[0]
        event = json.loads(payload)
        assert (topic, event["imei"], event["rule"], event["node"]) == (
            "eir/events/duplicate",
            IMEI,
            "together",
            "agg",
        )
        assert sorted(event["imsis"]) == ["00101**********"] * 3
        assert event["figures"]["imsis"] == 3
        assert 0 <= event["figures"]["minutes"] < 10
        assert any(line.startswith(f"eir.observations: duplicates: {IMEI} found") for line in log)


def scrape(log: list[str]) -> dict[str, float]:
    """The series of `eir observe`'s metrics endpoint (the port from its log)."""
    (line,) = [x for x in log if x.startswith("eir: listening metrics http ")]
    port = int(line.rsplit(":", 1)[1])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@contextmanager
def opened(path: Path) -> Iterator[ObservationStore]:
    store = ObservationStore(path)
    try:
        yield store
    finally:
        store.close()


class Watching:
    """A monitor with a persistent session: the broker keeps its subscription across a restart
    and queues what it missed meanwhile."""

    def __init__(self, b: Broker, topic: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self.topic = topic
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="watch-duplicates", protocol=paho.MQTTv5
        )
        self.client.username_pw_set("eir-monitor", USERS["eir-monitor"])
        self.client.on_connect = self._connect
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, bytes(m.payload)))
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 600
        self.client.connect("127.0.0.1", b.port, clean_start=False, properties=properties)
        self.client.loop_start()

    def _connect(self, client: paho.Client, *_: object) -> None:
        if not self.subscribed.is_set():
            client.subscribe(self.topic, qos=1)


@contextmanager
def watching(b: Broker, topic: str) -> Iterator[Watching]:
    watcher = Watching(b, topic)
    try:
        assert watcher.subscribed.wait(10)
        yield watcher
    finally:
        watcher.client.loop_stop()
        watcher.client.disconnect()


def test_detect_publish_sends_the_class_to_the_nodes(tmp_path: Path) -> None:
    """`eir duplicates detect --publish`: a lab's imported observations judged once, the class
    published as a list update that a running node applies."""
    lab = tmp_path / "obs-lab"
    config = tmp_path / "lab.toml"
    config.write_text(NODE.format(obs=lab) + RULE)
    with opened(lab) as store:
        store.observe("sim", [Sighting(IMEI, imsi(n), 1_700_000_000 + 60 * n) for n in range(3)])
    db = tmp_path / "db-a"
    plain = tmp_path / "a.toml"
    plain.write_text(NODE.format(obs=tmp_path / "obs-a"))
    with broker(tmp_path / "broker") as b, node(b, db, "a", plain):
        none = tmp_path / "no-list-store"  # no class known before: read from no list store
        args = ["duplicates", "detect", "--publish", "--config", str(config), "--broker", b.url]
        args += ["--db", str(none)]
        done = subprocess.run(
            [EIR, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env() | credentials("eir-aggregator"),
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "duplicates: 1 IMEI (1 found, 0 cleared) at 2023-11-14T22:15:20.000Z",
            "published the duplicate class (1 IMEIs) as update #1 under eir/lists/",
        ]
        wait_for("the class on the node", lambda: listed(db) == [IMEI])


def delta(node_name: str, imei: str, seen: int) -> bytes:
    day = seen // 86_400
    pair = [imei, imsi(1), seen, seen, [day], 1]
    return json.dumps({"v": 1, "node": node_name, "pairs": [pair]}).encode()


#: MQTT 5 PUBACK reason code 16: accepted, but no subscription matched the topic
NO_MATCHING_SUBSCRIBERS = 16


def publish_as(b: Broker, client_id: str, topic: str, payload: bytes) -> int:
    """Publish as user eir-node with this client id (QoS 1); the PUBACK's reason code (0:
    accepted, 135: not authorized by the ACL). While the aggregator has not subscribed yet
    (16: no matching subscribers) the delta is published again: the same state again changes
    nothing."""
    acked: list[int] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.username_pw_set("eir-node", USERS["eir-node"])
    client.on_publish = lambda _c, _u, _m, reason, _p: acked.append(reason.value)
    client.connect("127.0.0.1", b.port)
    client.loop_start()
    try:
        deadline = time.monotonic() + 30
        while True:
            acked.clear()
            client.publish(topic, payload, qos=1)
            wait_for(f"the PUBACK of {topic}", lambda: bool(acked), timeout=10)
            if acked[0] != NO_MATCHING_SUBSCRIBERS or time.monotonic() > deadline:
                return acked[0]
            time.sleep(0.1)  # poll again: the aggregator subscribes once connected
    finally:
        client.loop_stop()
        client.disconnect()


def test_the_aggregator_refuses_a_future_clock_and_a_borrowed_name(tmp_path: Path) -> None:
    """A node with its clock in 2100 would move the observation clock there and empty every
    duplicate window; a node cannot publish for another (the ACL), nor name another in its
    own topic (the aggregator): each refused delta is said, counted, and nothing of it merged."""
    aggregated = tmp_path / "obs-agg"
    config = tmp_path / "agg.toml"
    config.write_text(NODE.format(obs=aggregated) + RULE)
    now = int(time.time())
    refused = "eir.observations: observations: a delta on eir/observations/{} was refused: {}"
    with broker(tmp_path / "broker") as b, observer(b, config) as log:
        future = delta("nodeb", "11111111111111", 4_102_444_800)
        assert publish_as(b, "nodeb", "eir/observations/nodeb", future) == 0
        assert publish_as(b, "noded", "eir/observations/noded", delta("other", OTHER, now)) == 0
        # the shipped ACL: a node's client id is its name, and it writes only its own topic
        assert publish_as(b, "noded", "eir/observations/nodeb", delta("nodeb", OTHER, now)) == 135
        assert publish_as(b, "nodeb", "eir/observations/nodeb", delta("nodeb", IMEI, now)) == 0
        with opened(aggregated) as merged:
            wait_for("nodeb's good delta merged", lambda: len(merged.pairs(IMEI)) == 1)
            assert merged.pairs("11111111111111") == []
            assert merged.pairs(OTHER) == []
            assert merged.clock() == now
        assert [line for line in log if "was refused" in line] == [
            refused.format(
                "nodeb",
                "pair 0 (11111111111111+001010000000001): last seen 4102444800 is later than "
                "this node's clock plus 86400 s",
            ),
            refused.format("noded", "its node 'other' is not the topic's 'noded'"),
        ]
        figures = scrape(log)
        assert figures["eir_observation_deltas_refused_total"] == 2
        assert figures["eir_observation_records_merged_total"] == 1


def test_an_aggregator_started_late_gets_every_pair_by_a_resync(tmp_path: Path) -> None:
    """A node's deltas published before any aggregator subscribed are gone from the broker;
    the aggregator's retained resync request makes the node publish all its records again."""
    obs, config = tmp_path / "obs-a", tmp_path / "a.toml"
    config.write_text(NODE.format(obs=obs))
    aggregated, agg_config = tmp_path / "obs-agg", tmp_path / "agg.toml"
    agg_config.write_text(NODE.format(obs=aggregated) + RULE)
    with broker(tmp_path / "broker") as b, node(b, tmp_path / "db-a", "a", config) as served:
        for n in range(4):
            assert status(served, IMEI, imsi(n)) is S.WHITELISTED
        with opened(obs) as store:
            wait_for("a's 4 pairs written", lambda: len(store.pairs(IMEI)) == 4)
            wait_for("a's deltas published to nobody", lambda: store.outbox(10) == [])
        with observer(b, agg_config) as log, opened(aggregated) as merged:
            wait_for("a's 4 pairs merged", lambda: len(merged.pairs(IMEI)) == 4)
            assert [p.node for p in merged.pairs(IMEI)] == ["a"] * 4
            assert (
                "eir.observations: observations: asked every node to publish its records again "
                "(eir/observations/resync)" in log
            )
        resent = "eir.observations: observations: resync requested: 4 records to publish again"
        assert resent in served.lines
