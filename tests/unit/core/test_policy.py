"""eir.policy.decide: precedence of levels, lists, anomalies and the unknown answer."""

from __future__ import annotations

import pytest

from eir.config import PolicyConfig, parse_config
from eir.identity import Anomaly, Imei, Imsi
from eir.model import CheckRequest, Entry, EquipmentStatus, Hits, Level, ListName, Match, Rule
from eir.policy import decide

KEY = "49015420323751"


def m(
    level: Level, list_name: ListName, source: str = "s", *, last: str | None = None, added: int = 0
) -> Match:
    return Match(
        level,
        KEY,
        Entry(list_name, source, added=added),
        last=last,
        imsi="001010000000001" if level is Level.PAIR else None,
    )


def run(
    hits: Hits, imei: str = KEY, imsi: str | None = None, settings: PolicyConfig | None = None
) -> tuple[EquipmentStatus | None, Rule]:
    seen: list[tuple[str, str | None]] = []

    def lookup(key: str, sim: str | None) -> Hits:
        seen.append((key, sim))
        return hits

    request = CheckRequest(Imei.parse(imei), None if imsi is None else Imsi(imsi))
    result = decide(request, lookup, settings or PolicyConfig())
    assert seen == [(imei[:14], imsi)]
    return result.status, result.rule


B, G, W = ListName.BLACK, ListName.GREY, ListName.WHITE


def test_pair_beats_imei_beats_range() -> None:
    hits = Hits(
        pair=(m(Level.PAIR, W),), imei=(m(Level.IMEI, B),), ranges=(m(Level.RANGE, G, last=KEY),)
    )
    assert run(hits, imsi="001010000000001") == (EquipmentStatus.WHITELISTED, Rule.PAIR)
    assert run(Hits(imei=hits.imei, ranges=hits.ranges)) == (EquipmentStatus.BLACKLISTED, Rule.IMEI)
    assert run(Hits(ranges=hits.ranges)) == (EquipmentStatus.GREYLISTED, Rule.RANGE)


def test_black_beats_grey_beats_white_within_a_level() -> None:
    assert run(Hits(imei=(m(Level.IMEI, W), m(Level.IMEI, G))))[0] == EquipmentStatus.GREYLISTED
    assert run(Hits(imei=(m(Level.IMEI, G), m(Level.IMEI, B))))[0] == EquipmentStatus.BLACKLISTED


def test_precedence_is_configurable() -> None:
    settings = parse_config({"policy": {"precedence": ["white", "grey", "black"]}}).policy
    hits = Hits(imei=(m(Level.IMEI, B), m(Level.IMEI, W)))
    assert run(hits, settings=settings)[0] == EquipmentStatus.WHITELISTED


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ("white", EquipmentStatus.WHITELISTED),
        ("grey", EquipmentStatus.GREYLISTED),
        ("unknown", None),
    ],
)
def test_unknown_answer(answer: str, status: EquipmentStatus | None) -> None:
    settings = parse_config({"policy": {"unknown": answer}}).policy
    assert run(Hits(), settings=settings) == (status, Rule.UNKNOWN)


def test_anomaly_after_exact_entries_before_ranges() -> None:
    bad = KEY + "9"  # check digit should be 8
    ranges = (m(Level.RANGE, W, last=KEY),)
    assert run(Hits(ranges=ranges), imei=bad) == (EquipmentStatus.GREYLISTED, Rule.ANOMALY)
    assert run(Hits(imei=(m(Level.IMEI, W),)), imei=bad) == (EquipmentStatus.WHITELISTED, Rule.IMEI)
    ignore = parse_config({"policy": {"anomalies": {"check-digit": "ignore"}}}).policy
    assert run(Hits(ranges=ranges), imei=bad, settings=ignore) == (
        EquipmentStatus.WHITELISTED,
        Rule.RANGE,
    )


def test_strongest_anomaly_decides_and_result_explains() -> None:
    settings = parse_config(
        {"policy": {"anomalies": {"zero-tac": "black", "same-digits": "grey"}}}
    ).policy
    request = CheckRequest(Imei.parse("00000000000000"))
    result = decide(request, lambda k, s: Hits(), settings)
    assert result.status is EquipmentStatus.BLACKLISTED
    assert result.decided_by_anomaly is Anomaly.ZERO_TAC
    assert result.anomalies == {Anomaly.ZERO_TAC, Anomaly.SAME_DIGITS}
    assert result.explain() == "anomaly: zero-tac"


def test_result_names_the_deciding_entry() -> None:
    older, newer = m(Level.IMEI, B, "police-a", added=1), m(Level.IMEI, B, "police-b", added=2)
    result = decide(
        CheckRequest(Imei.parse(KEY)), lambda k, s: Hits(imei=(older, newer)), PolicyConfig()
    )
    assert result.match == newer
    assert result.explain() == f"imei: imei {KEY} on black from police-b"
    assert result.answer == "blacklisted"


def dup(rule: str = "dirbs", figures: str = '{"average":4.2,"days":12}') -> Match:
    return Match(Level.CLASS, KEY, Entry(G, "duplicate", rule, figures, 7))


def test_a_class_decides_after_exact_entries_before_ranges() -> None:
    ranges = (m(Level.RANGE, W, last=KEY),)
    classes = (dup(),)
    assert run(Hits(ranges=ranges, classes=classes)) == (EquipmentStatus.GREYLISTED, Rule.CLASS)
    assert run(Hits(imei=(m(Level.IMEI, W),), classes=classes)) == (
        EquipmentStatus.WHITELISTED,
        Rule.IMEI,
    )
    assert run(Hits(pair=(m(Level.PAIR, W),), classes=classes), imsi="001010000000001") == (
        EquipmentStatus.WHITELISTED,
        Rule.PAIR,
    )
    ignore = parse_config({"policy": {"classes": {"duplicate": "ignore"}}}).policy
    assert run(Hits(ranges=ranges, classes=classes), settings=ignore) == (
        EquipmentStatus.WHITELISTED,
        Rule.RANGE,
    )
    assert run(Hits(classes=classes), settings=ignore) == (
        EquipmentStatus.WHITELISTED,
        Rule.UNKNOWN,
    )


def test_a_class_and_an_anomaly_the_stronger_answer_decides() -> None:
    bad = KEY + "9"  # check-digit: grey by default
    black = parse_config({"policy": {"classes": {"duplicate": "black"}}}).policy
    result = decide(CheckRequest(Imei.parse(bad)), lambda k, s: Hits(classes=(dup(),)), black)
    assert (result.status, result.rule, result.decided_by_class) == (
        EquipmentStatus.BLACKLISTED,
        Rule.CLASS,
        "duplicate",
    )
    assert result.explain() == 'class: duplicate (dirbs: {"average":4.2,"days":12})'
    assert result.classes == (dup(),) and result.match == dup()
    # the same answer: the anomaly first
    result = decide(
        CheckRequest(Imei.parse(bad)), lambda k, s: Hits(classes=(dup(),)), PolicyConfig()
    )
    assert (result.rule, result.decided_by_anomaly, result.classes) == (
        Rule.ANOMALY,
        Anomaly.CHECK_DIGIT,
        (dup(),),
    )


def test_every_result_carries_the_classes() -> None:
    classes = (dup(),)
    result = decide(
        CheckRequest(Imei.parse(KEY)),
        lambda k, s: Hits(imei=(m(Level.IMEI, B),), classes=classes),
        PolicyConfig(),
    )
    assert (result.rule, result.classes, result.decided_by_class) == (Rule.IMEI, classes, None)


def test_a_class_this_node_does_not_know_is_reported_only() -> None:
    other = Match(Level.CLASS, KEY, Entry(G, "cloned", "r", "{}", 7))
    result = decide(
        CheckRequest(Imei.parse(KEY)), lambda k, s: Hits(classes=(other,)), PolicyConfig()
    )
    assert (result.rule, result.classes) == (Rule.UNKNOWN, (other,))
