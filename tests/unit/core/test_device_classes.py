"""eir.policy: the device database's validity classes, the device rules, their exemptions and
their place in the precedence."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eir.config import PolicyConfig, parse_config
from eir.devices.record import Device, DeviceIndex
from eir.errors import ConfigError
from eir.events import status_name
from eir.identity import Anomaly, Imei, Imsi, luhn_digit
from eir.model import NO_HITS, CheckRequest, Entry, Hits, Level, ListName, Match, Rule
from eir.policy import decide, unknown_result, validity_classes

PHONE = Device("35209900", "Acme", "Phone 5", device_type="Smartphone", radio_interface="GSM,LTE")
OLD = Device(
    "35111100",
    "Acme",
    "Brick",
    device_type="Feature Phone",
    radio_interface="GSM",
    allocation_date="2012-05-01",
)
MODULE = Device("86000000", "Quec", "M1", device_type="Module", radio_interface="GSM,UMTS")
DEVICES = DeviceIndex({d.tac: d for d in (PHONE, OLD, MODULE)}, frozenset({"35209900"}))
RULES: list[dict[str, object]] = [
    {"name": "2g-only", "action": "black", "radio_lacks": ["UMTS", "LTE", "NR"]},
    {"name": "modules", "action": "grey", "device_type": "module"},
    {"name": "old", "action": "ignore", "allocated_before": "2015-01-01"},
]
IMSI = "001010000000001"


def policy(rules: Sequence[Mapping[str, object]] | None = None, **anomalies: str) -> PolicyConfig:
    table: dict[str, object] = {"device_rules": RULES if rules is None else rules}
    if anomalies:
        table["anomalies"] = {k.replace("_", "-"): v for k, v in anomalies.items()}
    return parse_config({"policy": table}).policy


def imei(tac: str, snr: str = "176148") -> Imei:
    return Imei.parse(tac + snr + luhn_digit(tac + snr))


def ask(
    tac: str,
    settings: PolicyConfig,
    hits: Hits = NO_HITS,
    seen: dict[str, int] | None = None,
    devices: DeviceIndex | None = DEVICES,
) -> tuple[str, Rule, str]:
    asked = seen if seen is not None else {}
    result = decide(
        CheckRequest(imei(tac), Imsi(IMSI)),
        lambda key, sim: hits,
        settings,
        devices,
        asked.get,
    )
    return status_name(result), result.rule, result.explain()


def day(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())


def test_no_device_database_no_device_class() -> None:
    assert ask("99999999", policy(), devices=None)[:2] == ("white", Rule.UNKNOWN)
    assert ask("99999999", policy(), devices=DeviceIndex())[:2] == ("white", Rule.UNKNOWN)


def test_tac_unallocated_is_grey_by_default() -> None:
    assert ask("99999999", policy([])) == (
        "grey",
        Rule.ANOMALY,
        "class: tac-unallocated (TAC 99999999 not in the device database)",
    )
    assert ask("99999999", policy([], tac_unallocated="black"))[0] == "black"
    assert ask("99999999", policy([], tac_unallocated="ignore"))[:2] == ("white", Rule.UNKNOWN)


def test_not_approved_is_ignored_by_default_and_can_act() -> None:
    result = validity_classes(imei("35111100"), policy([]), DEVICES)
    assert Anomaly.NOT_APPROVED in result.anomalies and result.device == OLD
    assert ask("35111100", policy([]))[:2] == ("white", Rule.UNKNOWN)
    assert ask("35111100", policy([], not_approved="grey")) == (
        "grey",
        Rule.ANOMALY,
        "class: not-approved (device 35111100 Acme Brick not on the approved list)",
    )
    assert Anomaly.NOT_APPROVED not in validity_classes(imei("35209900"), policy(), DEVICES)[0]


def test_a_2g_only_device_rule() -> None:
    assert ask("35111100", policy()) == (
        "black",
        Rule.DEVICE_RULE,
        "rule 2g-only: radio GSM, no LTE/NR/UMTS (device 35111100 Acme Brick)",
    )
    assert ask("35209900", policy())[:2] == ("white", Rule.UNKNOWN)  # it has LTE
    assert ask("86000000", policy()) == (
        "grey",
        Rule.DEVICE_RULE,
        "rule modules: type Module (device 86000000 Quec M1)",
    )


def test_the_precedence_pair_imei_then_classes_and_rules_then_ranges() -> None:
    settings = policy()
    white = Entry(ListName.WHITE, "s")
    pair = Match(Level.PAIR, imei("35111100").key, white, imsi=IMSI)
    exact = Match(Level.IMEI, imei("35111100").key, white)
    ranged = Match(Level.RANGE, "35111100000000", white, last="35111100999999")
    assert ask("35111100", settings, Hits(pair=(pair,)))[:2] == ("white", Rule.PAIR)
    assert ask("35111100", settings, Hits(imei=(exact,)))[:2] == ("white", Rule.IMEI)
    assert ask("35111100", settings, Hits(ranges=(ranged,)))[:2] == ("black", Rule.DEVICE_RULE)


def test_the_first_answer_in_precedence_wins_then_class_before_rule() -> None:
    grey_unknown = [{"name": "r", "action": "grey", "radio_lacks": ["LTE"]}]
    # not-approved black beats a grey rule; a grey class beats a grey rule of the same answer
    assert ask("35111100", policy(grey_unknown, not_approved="black"))[1] is Rule.ANOMALY
    assert ask("35111100", policy(grey_unknown, not_approved="grey"))[1] is Rule.ANOMALY
    black = [{"name": "r", "action": "black", "radio_lacks": ["LTE"]}]
    assert ask("35111100", policy(black, not_approved="grey"))[1] is Rule.DEVICE_RULE
    two: list[dict[str, object]] = [
        {"name": "b", "action": "grey", "radio_lacks": ["LTE"]},
        {"name": "a", "action": "grey", "brand": "acme"},
    ]
    result = decide(CheckRequest(imei("35111100")), lambda k, s: Hits(), policy(two), DEVICES)
    assert result.decided_by_rule == "b"  # equal answers: the configured order
    assert [f.name for f in result.findings] == ["not-approved", "b", "a"]


def test_seen_before_the_cut_off_is_exempt_and_asked_only_on_a_match() -> None:
    rules = [{**RULES[0], "exempt_seen_before": "2024-03-01"}]
    settings = policy(rules)
    old = imei("35111100").key
    asked: list[str] = []

    def seen(key: str) -> int | None:
        asked.append(key)
        return {old: day("2023-06-01")}.get(key)

    result = decide(CheckRequest(imei("35111100")), lambda k, s: Hits(), settings, DEVICES, seen)
    assert (status_name(result), result.rule) == ("white", Rule.UNKNOWN)
    assert result.findings[-1].exempt == "first seen 2023-06-01, before 2024-03-01"
    decide(CheckRequest(imei("35209900")), lambda k, s: Hits(), settings, DEVICES, seen)
    assert asked == [old]  # the LTE phone matched no rule: never asked
    late = {old: day("2024-03-01")}
    assert ask("35111100", settings, seen=late)[:2] == ("black", Rule.DEVICE_RULE)
    assert ask("35111100", settings, seen={})[:2] == ("black", Rule.DEVICE_RULE)


def test_allocated_before() -> None:
    rules = [{"name": "old", "action": "grey", "allocated_before": "2015-01-01"}]
    assert ask("35111100", policy(rules))[2] == (
        "rule old: allocated 2012-05-01, before 2015-01-01 (device 35111100 Acme Brick)"
    )
    assert ask("35209900", policy(rules))[0] == "white"  # no allocation date: no match


def test_malformed_identity() -> None:
    assert (
        status_name(unknown_result(PolicyConfig())) == "white"
    )  # ignore: policy.unknown, as before
    result = unknown_result(policy(malformed="unknown"))
    assert (status_name(result), result.rule, result.explain()) == (
        "unknown",
        Rule.ANOMALY,
        "class: malformed (the equipment identity is not an IMEI)",
    )


def test_device_rule_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="has no match key"):
        policy([{"name": "x", "action": "black"}])
    with pytest.raises(ConfigError, match="is not a date"):
        policy([{"name": "x", "action": "black", "brand": "a", "exempt_seen_before": "2024-02-30"}])
    with pytest.raises(ConfigError, match="'lte' is not one of GSM, UMTS, LTE, NR, CDMA, NB-IOT"):
        policy([{"name": "x", "action": "black", "radio_has": ["lte"]}])


@given(st.text(string.digits, min_size=14, max_size=14))
def test_classes_are_a_pure_function_of_the_imei(digits: str) -> None:
    settings = policy()
    tac = digits[:8]
    devices = DeviceIndex({tac: OLD._replace(tac=tac)} if int(digits[8]) % 2 else {})
    first = validity_classes(Imei.parse(digits), settings, devices)
    again = validity_classes(Imei.parse(digits), settings, devices)
    assert first == again
    result = decide(CheckRequest(Imei.parse(digits)), lambda k, s: Hits(), settings, devices)
    assert (result.anomalies, result.findings) == (first.anomalies, first.findings)
    unallocated = devices.has_devices and devices.device(tac) is None
    assert (Anomaly.TAC_UNALLOCATED in first.anomalies) is unallocated


def test_a_learnt_class_before_a_rule_of_the_same_answer_and_digits_count() -> None:
    duplicate = Match(
        Level.CLASS, imei("86000000").key, Entry(ListName.GREY, "duplicate", "dirbs", "{}")
    )
    settings = policy()
    assert ask("86000000", settings, Hits(classes=(duplicate,)))[1] is Rule.CLASS  # both grey
    ask("86000000", settings)  # the TAC's verdict memoised: the rule decides alone
    assert ask("86000000", settings, Hits(classes=(duplicate,)))[1] is Rule.CLASS
    black = policy([{"name": "m", "action": "black", "device_type": "Module"}])
    assert ask("86000000", black, Hits(classes=(duplicate,)))[1] is Rule.DEVICE_RULE
    # a wrong check digit on a memoised TAC: the digits' anomaly still counts
    key = imei("86000000")
    wrong = Imei.parse(key.key + str((int(key.check_digit or 0) + 1) % 10))
    strict = policy(check_digit="black")
    result = decide(CheckRequest(wrong), lambda k, s: NO_HITS, strict, DEVICES)
    assert (result.rule, result.decided_by_anomaly) == (Rule.ANOMALY, Anomaly.CHECK_DIGIT)


def test_the_check_event_and_the_metrics_label_say_the_rule() -> None:
    from eir.checker import class_label
    from eir.events import CheckEvent, check_message

    request = CheckRequest(imei("35111100"), Imsi(IMSI), "s13", "mme1")
    result = decide(request, lambda k, s: NO_HITS, policy(), DEVICES)
    _topic, body = check_message(CheckEvent(request, result, 0), "n", True)
    assert (body["status"], body["rule"], body["classes"], body["rules"], body["decided_by"]) == (
        "black",
        "device-rule",
        ["not-approved"],
        ["2g-only", "old"],
        "2g-only",
    )
    assert body["why"] == "rule 2g-only: radio GSM, no LTE/NR/UMTS (device 35111100 Acme Brick)"
    assert class_label(result) == "2g-only"
    unallocated = decide(CheckRequest(imei("99999999")), lambda k, s: NO_HITS, policy(), DEVICES)
    assert class_label(unallocated) == "tac-unallocated"
