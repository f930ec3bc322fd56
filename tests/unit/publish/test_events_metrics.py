"""Events (eir.events), the metrics registry and its text format (eir.observe), and
the new configuration sections."""

from __future__ import annotations

import json
import tomllib

import pytest
from prometheus_client.parser import text_string_to_metric_families

from eir.config import Config, parse_config, to_toml
from eir.errors import ConfigError
from eir.events import (
    CheckEvent,
    CheckFilter,
    EventQueue,
    ListsChanged,
    PeerChange,
    check_message,
    mask_imsi,
    message_of,
)
from eir.identity import Imei, Imsi
from eir.model import CheckRequest, CheckResult, EquipmentStatus, Rule
from eir.observe.endpoint import http_answer
from eir.observe.metrics import BUCKETS, Metrics, render
from eir.policy import decide
from tests.support.diameter import BLACK, PAIR_IMEI, PAIR_IMSI, demo_store

WHITE = CheckResult(EquipmentStatus.WHITELISTED, Rule.UNKNOWN)
BLACKLISTED = CheckResult(EquipmentStatus.BLACKLISTED, Rule.IMEI)
UNKNOWN = CheckResult(None, Rule.UNKNOWN)


def test_the_filter_chooses_checks_and_samples() -> None:
    non_white = CheckFilter("non-white", 1.0)
    assert not non_white.wanted(WHITE) and non_white.wanted(BLACKLISTED)
    assert non_white.wanted(UNKNOWN)
    assert CheckFilter("all", 1.0).wanted(WHITE)
    assert not CheckFilter("none", 1.0).wanted(BLACKLISTED)
    draws = iter([0.05, 0.5, 0.09])
    sampled = CheckFilter("all", 0.1, rng=lambda: next(draws))
    assert [sampled.wanted(WHITE) for _ in range(3)] == [True, False, True]
    with pytest.raises(ValueError, match="checks"):
        CheckFilter("some", 1.0)


def test_the_queue_is_bounded_and_counts_what_it_drops() -> None:
    queue = EventQueue(2)
    woken: list[int] = []
    queue.wakeup = lambda: woken.append(1)
    event = PeerChange("diameter", "mme1", True, "", 0.0)
    assert [queue.offer(event) for _ in range(4)] == [True, True, False, False]
    assert (len(queue), queue.dropped, queue.unreported, queue.offered) == (2, 2, 2, 4)
    assert woken == [1]  # only when it stops being empty
    assert queue.take(10) == [event, event] and len(queue) == 0


def test_a_check_event_says_what_decided_and_masks_the_subscriber() -> None:
    store = demo_store()
    request = CheckRequest(Imei.parse(PAIR_IMEI), Imsi.parse(PAIR_IMSI), "map", "msc1", 2)
    result = decide(request, store.lookup, Config().policy)
    topic, body = check_message(CheckEvent(request, result, 1_700_000_000.25), "eir1", True)
    assert topic == f"check/{body['status']}" and body["status"] == "white"
    assert body["imsi"] == "00101" + "*" * 10 and body["entry"]["imsi"] == body["imsi"]
    assert body["time"] == "2023-11-14T22:13:20.250Z" and body["rule"] == "pair"
    assert body["protocol"] == "map" and body["map_version"] == 2
    assert body["peer"] == "msc1" and body["node"] == "eir1"
    json.dumps(body)  # plain JSON values only
    _topic, clear = check_message(CheckEvent(request, result, 0), "eir1", False)
    assert clear["imsi"] == PAIR_IMSI
    black = decide(CheckRequest(Imei.parse(BLACK)), store.lookup, Config().policy)
    topic, body = message_of(CheckEvent(CheckRequest(Imei.parse(BLACK)), black, 0), "n", True)
    assert topic == "check/black" and body["entry"]["list"] == "black" and body["imsi"] is None
    assert mask_imsi("12345") == "12345"


def test_a_check_event_says_the_deciding_entrys_times_and_state() -> None:
    store = demo_store()
    request = CheckRequest(Imei.parse(BLACK))
    plain = decide(request, store.lookup, Config().policy)
    _topic, body = check_message(CheckEvent(request, plain, 0), "n", True)
    entry = body["entry"]
    assert (entry["effective"], entry["expires"], entry["state"], entry["notice"]) == (
        None,
        None,
        "in-force",
        False,
    )
    assert plain.match is not None
    due, end = 1_800_000_000, 1_900_000_000
    timed = plain.match._replace(entry=plain.match.entry._replace(effective=due, expires=end))
    notice = plain._replace(match=timed, notice=True, status=EquipmentStatus.GREYLISTED)
    topic, body = check_message(CheckEvent(request, notice, due - 60), "n", True)
    assert topic == "check/grey"
    assert (
        body["entry"]["effective"],
        body["entry"]["expires"],
        body["entry"]["state"],
        body["entry"]["notice"],
    ) == ("2027-01-15T08:00:00.000Z", "2030-03-17T17:46:40.000Z", "notice", True)
    _topic, body = check_message(CheckEvent(request, plain._replace(match=timed), end), "n", True)
    assert (body["entry"]["state"], body["entry"]["notice"]) == ("expired", False)


def test_peer_and_list_events() -> None:
    topic, body = message_of(PeerChange("m3ua", "10.0.0.1:2905", False, "lost", 0), "n", True)
    assert topic == "events/peer" and body["state"] == "down" and body["protocol"] == "m3ua"
    topic, body = message_of(ListsChanged(7, {"black": 3}, "load", 0, 0), "n", True)
    assert topic == "events/lists" and body["generation"] == 7 and body["entries"] == {"black": 3}


def test_metrics_render_as_prometheus_text_and_add_up_across_processes() -> None:
    one, two = Metrics(), Metrics()
    for m in (one, two):
        m.checks[("s13", "black", "2001")] += 2
        m.latency["s13"].observe(0.0003)
        m.latency["s13"].observe(5.0)
        m.samplers.append(
            lambda: {"eir_list_entries": [(("black",), 10)], "eir_workers": [((), 1)]}
        )
    two.error_counts.append(lambda: [(("map", "none", "reject:invoke:mistypedArgument"), 3)])
    text = render([one.snapshot(), two.snapshot()]).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert (
        samples[
            ("eir_checks_total", (("protocol", "s13"), ("result", "2001"), ("status", "black")))
        ]
        == 4
    )
    assert (
        samples[
            (
                "eir_checks_total",
                (
                    ("protocol", "map"),
                    ("result", "reject:invoke:mistypedArgument"),
                    ("status", "none"),
                ),
            )
        ]
        == 3
    )
    assert samples[("eir_answer_duration_seconds_count", (("protocol", "s13"),))] == 4
    assert (
        samples[("eir_answer_duration_seconds_bucket", (("le", "0.0005"), ("protocol", "s13")))]
        == 2
    )
    assert (
        samples[("eir_answer_duration_seconds_bucket", (("le", "+Inf"), ("protocol", "s13")))] == 4
    )
    assert samples[("eir_list_entries", (("list", "black"),))] == 10  # the same store: max
    assert samples[("eir_workers", ())] == 2  # summed
    assert families["eir_answer_duration_seconds"].type == "histogram"
    assert len(BUCKETS) + 1 == len(one.latency["s13"].counts)


def test_the_endpoint_answers_only_get_metrics() -> None:
    ok = http_answer(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", lambda: b"m 1\n")
    assert ok.startswith(b"HTTP/1.1 200 OK\r\n") and ok.endswith(b"\r\n\r\nm 1\n")
    assert b"Content-Length: 4\r\n" in ok
    head = http_answer(b"HEAD /metrics HTTP/1.0\r\n\r\n", lambda: b"m 1\n")
    assert head.endswith(b"\r\n\r\n")
    assert http_answer(b"GET /x HTTP/1.1\r\n\r\n", bytes).startswith(b"HTTP/1.1 404")
    assert http_answer(b"POST /metrics HTTP/1.1\r\n\r\n", bytes).startswith(b"HTTP/1.1 405")
    assert http_answer(b"garbage\r\n\r\n", bytes).startswith(b"HTTP/1.1 400")

    def broken() -> bytes:
        raise RuntimeError("bug")

    assert http_answer(b"GET / HTTP/1.1\r\n\r\n", broken).startswith(b"HTTP/1.1 500")


def test_the_new_sections_round_trip_and_refuse_bad_values() -> None:
    text = """
[mqtt]
broker = "mqtts://broker.example.org"
prefix = "net1/eir"
node = "eir-hcm-1"
ca_file = "/etc/ssl/ca.pem"
reconnect_max_s = 10

[events]
checks = "all"
sample = 0.25
mask_imsi = false

[distribution]
subscribe = false

[metrics]
listen = "0.0.0.0:9100"
"""
    config = parse_config(tomllib.loads(text), "t.toml")
    assert str(config.mqtt.broker) == "mqtts://broker.example.org:8883"
    assert config.events.sample == 0.25 and not config.distribution.subscribe
    assert config.metrics.listen is not None and config.metrics.listen.port == 9100
    assert parse_config(tomllib.loads(to_toml(config)), "t.toml") == config
    assert parse_config(tomllib.loads('[metrics]\nlisten = ""\n')).metrics.listen is None
    for bad, message in [
        ('[mqtt]\npassword = "x"', "never go in the config file"),
        ('[mqtt]\nbroker = "http://x"', "mqtt://HOST:PORT"),
        ('[mqtt]\nprefix = "eir/#"', "wildcards"),
        ('[mqtt]\nprefix = "/eir"', "leading"),
        ('[mqtt]\ncert_file = "c.pem"', "key_file"),
        ("[mqtt]\nreconnect_min_s = 5\nreconnect_max_s = 1", "at least"),
        ('[events]\nchecks = "black"', "checks"),
        ("[events]\nsample = 2", "sample"),
        ('[metrics]\nlisten = "sctp://1.2.3.4:5"', "HTTP over TCP"),
        ("[metrics]\nport = 5", "unknown key"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_config(tomllib.loads(bad), "t.toml")


def test_a_class_in_the_check_event_and_the_metrics() -> None:
    from eir.checker import checker
    from eir.devices.record import EMPTY_INDEX, DeviceIndex
    from eir.model import Entry, Hits, Level, ListName, Match

    duplicate = Match(Level.CLASS, BLACK[:14], Entry(ListName.GREY, "duplicate", "dirbs", "{}", 1))

    class Store:
        def lookup(self, imei14: str, imsi: str | None) -> Hits:
            return Hits(classes=(duplicate,)) if imei14 == BLACK[:14] else Hits()

        def device_index(self) -> DeviceIndex:
            return EMPTY_INDEX

    metrics = Metrics()
    check = checker(Config(), Store(), metrics)  # type: ignore[arg-type]
    request = CheckRequest(Imei.parse(BLACK), None, "s13", "mme1")
    result = check(request)
    check(request)
    check(CheckRequest(Imei.parse(PAIR_IMEI), None, "s13", "mme1"))
    _topic, body = check_message(CheckEvent(request, result, 0), "n", True)
    assert (body["status"], body["rule"], body["classes"], body["decided_by"]) == (
        "grey",
        "class",
        ["duplicate"],
        "duplicate",
    )
    assert body["why"] == "class: duplicate (dirbs: {})"
    text = render([metrics.snapshot()]).decode()
    assert 'eir_class_checks_total{class="duplicate",rule="class"} 2.0' in text.splitlines()


def test_a_check_event_tells_the_entrys_state_at_the_lifecycle_clock() -> None:
    """With ``lifecycle.clock_offset_s`` past a black entry's due date the answer is black,
    and its event says so: in force, no notice (the event's ``time`` stays the wall clock)."""
    import dataclasses
    import time

    from eir.checker import checker
    from eir.devices.record import EMPTY_INDEX, DeviceIndex
    from eir.model import Entry, Hits, Level, ListName, Match

    due = int(time.time()) + 86400  # tomorrow by the wall clock
    entry = Entry(ListName.BLACK, "police", "stolen", "", 1, None, due)
    listed = Match(Level.IMEI, BLACK[:14], entry)

    class Store:
        def lookup(self, imei14: str, imsi: str | None) -> Hits:
            return Hits(imei=(listed,)) if imei14 == BLACK[:14] else Hits()

        def device_index(self) -> DeviceIndex:
            return EMPTY_INDEX

    config = Config()
    config = dataclasses.replace(
        config, lifecycle=dataclasses.replace(config.lifecycle, clock_offset_s=2 * 86400.0)
    )
    queue = EventQueue(4)
    check = checker(config, Store(), Metrics(), queue)  # type: ignore[arg-type]
    before = time.time()
    result = check(CheckRequest(Imei.parse(BLACK), None, "s13", "mme1"))
    assert (result.status, result.notice) == (EquipmentStatus.BLACKLISTED, False)
    (event,) = queue.take(4)
    assert isinstance(event, CheckEvent)
    assert before <= event.time <= time.time()  # the wall clock
    _topic, body = check_message(event, "n", True)
    assert (body["status"], body["entry"]["state"], body["entry"]["notice"]) == (
        "black",
        "in-force",
        False,
    )
