"""The simulator's parts: mix, pacing schedule, latency statistics, settings, sockets, pcap
reading and reports."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eir.framing import DIAMETER, M3UA, m3ua_stream
from sim import report
from sim.engine import Job, Schedule, Worker
from sim.link import Link, Target, parse_target
from sim.pcap import PcapError, pdus
from sim.probes import MixError, Outcome, Probe, parse_mix
from sim.report_page import page
from sim.runner import Built, RunOutcome
from sim.settings import Flow, Gates, RunSettings, SettingsError, build
from sim.stats import Aggregate, Counts, LatencyDistribution, Tick
from sim.workload import Lists, ListsError, draws
from tests.support.diameter import DEMO, make_ecr
from tests.support.pcap import write_pcap


def test_mix_parsing_and_its_errors() -> None:
    mix = parse_mix("black=0.1, grey=0.05,malformed=0.01")
    assert mix["unknown"] == pytest.approx(0.84)
    for bad, why in (
        ("purple=0.1", "KIND=SHARE"),
        ("black=x", "number"),
        ("black=2", "between 0 and 1"),
        ("black=0.7,grey=0.7", "more than 1"),
    ):
        with pytest.raises(MixError, match=why):
            parse_mix(bad)


def test_draws_follow_the_mix_and_the_seed() -> None:
    lists = Lists.load([str(DEMO)])
    mix = parse_mix("black=0.5,pair=0.1,anomaly=0.1")
    first = draws(mix, 4000, lists, 7, ("bad-imei",))
    assert first == draws(mix, 4000, lists, 7, ("bad-imei",))
    share = sum(d.kind == "black" for d in first) / len(first)
    assert 0.45 < share < 0.55
    assert {d.imei14 for d in first if d.kind == "black"} <= {
        "49015420323751",
        "35693803564380",
        "35345678901234",
    }
    assert all(not lists.listed(d.imei14) for d in first if d.kind == "unknown")
    with pytest.raises(ListsError, match="grey"):
        draws(parse_mix("grey=0.1"), 10, Lists.empty(), 1, ())


def test_a_bad_list_file_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("imei\n490154203237518\n12345\n")
    with pytest.raises(ListsError, match=r"bad\.csv"):
        Lists.load([str(bad)])
    with pytest.raises(ListsError, match="missing"):
        Lists.load([str(tmp_path / "missing.csv")])


@given(rate=st.floats(1, 1e6), ramp=st.floats(0, 100), start=st.floats(0, 1), t=st.floats(0, 1000))
def test_the_schedule_sends_each_request_at_its_intended_time(
    rate: float, ramp: float, start: float, t: float
) -> None:
    schedule = Schedule(rate, ramp, rate * start)
    due = schedule.due(t)
    assert due >= 1
    assert schedule.time_of(due - 1) <= t + 1e-6
    assert schedule.time_of(due) >= t - 1e-6


def test_a_ramp_rises_to_the_rate() -> None:
    schedule = Schedule(1000.0, 10.0)
    assert schedule.due(10.0) == pytest.approx(5000, abs=2)
    assert schedule.due(11.0) - schedule.due(10.0) == pytest.approx(1000, abs=2)
    assert schedule.due(1.0) == pytest.approx(50, abs=2)


def test_latency_quantiles_are_within_one_percent_and_merge() -> None:
    rng = np.random.default_rng(1)
    samples = rng.lognormal(-7, 1, 20000).tolist()
    a, b = LatencyDistribution(), LatencyDistribution()
    a.add_samples(samples[:10000])
    b.add_samples(samples[10000:])
    a.merge(b)
    for q in (0.5, 0.9, 0.99, 0.999):
        exact = float(np.quantile(samples, q)) * 1000
        assert a.quantile_ms(q) == pytest.approx(exact, rel=0.012)
    assert a.summary()["max"] == pytest.approx(max(samples) * 1000)
    assert LatencyDistribution().summary()["p99"] == 0.0


def _doc(**counts: int) -> dict[str, Any]:
    total = Counts(**counts)  # type: ignore[arg-type]
    total.latency.add_samples([0.001] * max(1, counts.get("answered", 1)))
    aggregate = Aggregate()
    aggregate.add(Tick("s13", 0, total, cpu_s=0.5, last_answer=1.0))
    flow = Flow("s13", target=parse_target("tcp://127.0.0.1:1"), concurrency=1)
    settings_ = RunSettings(
        flows=(flow,), gates=Gates(max_p99_ms=0.5, min_rate=10, max_error_rate=0.01)
    )
    outcome = RunOutcome(aggregate, 0.0, 1.0, [Built(flow, [], [], {"unknown": 1.0})])
    return report.document(settings_, outcome)


def test_report_fields_and_gates() -> None:
    doc = _doc(sent=100, answered=100)
    for key in (
        "sent",
        "answered",
        "timeouts",
        "errors",
        "mismatches",
        "rate",
        "latency_ms",
        "equipment_status",
        "result_code",
        "timeline",
        "client",
        "gates",
        "flows",
    ):
        assert key in doc
    assert set(doc["latency_ms"]) >= {"p50", "p90", "p99", "p999", "max"}
    failures = doc["gates"]["failures"]
    assert any("p99" in f for f in failures)  # 1 ms > 0.5 ms
    doc = _doc(sent=100, answered=5, timeouts=95, mismatches=1)
    failures = doc["gates"]["failures"]
    assert any("rate" in f for f in failures)
    assert any("error rate" in f for f in failures)
    assert any("not the expected" in f for f in failures)
    json.dumps(doc)


def test_the_html_report_is_one_self_contained_page() -> None:
    doc = _doc(sent=100, answered=100)
    text = page(doc)
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "Final table" in text
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "<script src" not in text and "<link" not in text


def test_targets_and_settings_errors() -> None:
    assert str(parse_target("sctp://[::1]:2905")) == "sctp://[::1]:2905"
    assert parse_target("10.0.0.1:3868").transport == "tcp"
    with pytest.raises(ValueError):
        parse_target("udp://x:1")
    with pytest.raises(SettingsError, match="no target"):
        build({}, {}, {}, [])
    with pytest.raises(SettingsError, match="not both"):
        build({}, {}, {"rate": 10, "concurrency": 2}, ["127.0.0.1:1"])
    with pytest.raises(SettingsError, match="unknown flow setting"):
        build({"flow": [{"colour": "red"}]}, {}, {}, ["127.0.0.1:1"], "x.toml")
    with pytest.raises(SettingsError, match="no flow or protocol"):
        build({}, {}, {}, ["map=127.0.0.1:1"])
    two = build(
        {"flow": [{"protocol": "s13"}, {"protocol": "map"}]},
        {},
        {"rate": 50},
        ["s13=127.0.0.1:1", "map=127.0.0.1:2"],
        "x.toml",
    )
    assert [f.target.port for f in two.flows if f.target] == [1, 2]
    assert all(f.rate == 50 and f.concurrency is None for f in two.flows)


def test_scenarios_in_conf_are_valid() -> None:
    from sim.settings import load_scenario

    root = Path(__file__).resolve().parents[3] / "conf" / "scenarios"
    names = sorted(p.name for p in root.glob("*.toml"))
    assert {"smoke.toml", "soak.toml", "load.toml"} <= set(names)
    for path in root.glob("*.toml"):
        built = build(load_scenario(str(path)), {}, {}, ["127.0.0.1:1"], str(path))
        assert built.flows


def test_split_and_streams() -> None:
    ecr = make_ecr()
    assert DIAMETER.split(ecr + ecr) == [ecr, ecr]
    assert m3ua_stream(b"\x01\x00\x01\x01\x00\x00\x00\x08") == 1
    assert m3ua_stream(b"\x01\x00\x03\x01\x00\x00\x00\x08") == 0


def test_a_message_link_sends_one_pdu_per_message() -> None:
    """The SCTP path of `Link`, over a SOCK_SEQPACKET pair (no kernel SCTP here)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.setblocking(False)
    sent: list[bytes] = []

    def send_message(message: bytes) -> int:
        sent.append(message)
        return a.send(message)

    link = Link(a, send_message, DIAMETER)
    ecr = make_ecr()
    link.send(ecr + ecr[:0] + ecr)
    assert sent == [ecr, ecr] and link.pending == 0
    assert b.recv(65536) == ecr and b.recv(65536) == ecr
    link.close()
    b.close()


def test_pcap_pdus_over_tcp_and_sctp(tmp_path: Path) -> None:
    ecr = make_ecr()
    tcp = tmp_path / "tcp.pcap"
    write_pcap(tcp, [ecr[:30], ecr[30:] + ecr])
    assert [p for _, p in pdus(tcp.read_bytes(), DIAMETER)] == [ecr, ecr]
    sctp = tmp_path / "sctp.pcap"
    write_pcap(sctp, [ecr, ecr], sctp_ppid=46)
    assert [p for _, p in pdus(sctp.read_bytes(), DIAMETER)] == [ecr, ecr]
    with pytest.raises(PcapError, match="not a pcap"):
        pdus(b"x" * 40, DIAMETER)
    with pytest.raises(PcapError, match="pcapng"):
        pdus(b"\x0a\x0d\x0d\x0a" + bytes(40), DIAMETER)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_pcap_reading_never_crashes(data: bytes) -> None:
    header = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")
    for blob in (data, header + data):
        with contextlib.suppress(PcapError):
            pdus(blob, M3UA)


def test_outcomes_print_readably() -> None:
    assert str(Outcome("2001", "black")) == "2001 black"
    assert str(Outcome("5422")) == "5422"


class _ReadyClient:
    """A client past its handshake that never hears an answer: enough to drive sends."""

    failure = ""
    framing = DIAMETER
    ready = True
    closed = False

    def data_to_send(self) -> bytes:
        return b""

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        pass

    def close(self, now: float) -> None:
        self.closed = True

    def connection_lost(self) -> None:
        self.closed = True

    def request(self, index: int, seq: int) -> bytes:
        return make_ecr()

    def receive(self, data: bytes, now: float, answer: Any) -> None:
        pass

    def message(self) -> bytes:
        return b""


@pytest.mark.parametrize("open_loop", [True, False])
def test_a_reset_connection_is_lost_not_a_crash(open_loop: bool) -> None:
    """The EIR resets the connection (RST) while the simulator sends: the send fails with
    ECONNRESET, and the worker counts the connection lost and stops instead of raising."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def connect(target: Target) -> Link:
        sock = socket.create_connection((target.host, target.port))
        peer, _ = server.accept()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()  # linger 0: RST
        select.select([sock], [], [], 5)  # the RST has arrived
        sock.setblocking(False)
        return Link(sock)

    job = Job(
        "reset",
        parse_target(f"127.0.0.1:{port}"),
        1,
        lambda _i, _now: _ReadyClient(),
        connect,
        [Probe("black", "35000000000000", None, Outcome("2001", "black"))],
        schedule=Schedule(1000.0) if open_loop else None,
        concurrency=0 if open_loop else 4,
        duration_s=5.0,
        timeout_s=0.5,
    )
    ticks: list[Tick] = []
    worker = Worker(job, ticks.append)
    worker.connect()
    worker.run(time.perf_counter())
    server.close()
    stopped = [line for tick in ticks for line in tick.counts.stopped]
    assert len(stopped) == 1 and "every connection was lost" in stopped[0], stopped
    assert "send failed" in stopped[0] or "receive failed" in stopped[0], stopped


def test_no_two_s13_flows_share_an_origin_host() -> None:
    """Two S13 flows of one realm against one EIR: before the processes were numbered across
    the flows, both first connections were mme-p000-c0000 and the EIR sent one DPR (BUSY)."""
    from sim.mme_role import S13Client
    from sim.runner import build_flow, jobs

    scenario = {"flow": [{"name": "a", "processes": 2}, {"name": "b"}]}
    run_settings = build(scenario, {"requests": 30}, {}, ["tcp://127.0.0.1:1"])
    lists = Lists.empty()
    built = [build_flow(f, run_settings, lists, i) for i, f in enumerate(run_settings.flows)]
    hosts = []
    for job in jobs(run_settings, built):
        client = job.make_client(0, 0.0)
        assert isinstance(client, S13Client)
        hosts.append(client.peer.settings.node.origin_host)
    assert hosts == [
        "mme-p000-c0000.sim.sim.example",
        "mme-p001-c0000.sim.sim.example",
        "mme-p002-c0000.sim.sim.example",
    ]
