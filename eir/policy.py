"""The decision: a check request and what the lists hold for it -> a CheckResult. Pure.

Precedence (first that applies decides):

1. IMEI + IMSI pair entries (the answer to cloned IMEIs: allow the owner's SIM, block the rest);
2. exact IMEI entries;
3. anomalies of the IMEI (check digit, same digits, zero TAC, test TAC) and classes eir learnt
   about it (the list store's ``class`` table: ``duplicate``) whose configured action
   (``policy.anomalies``, ``policy.classes``) is not ``ignore``; when several apply, the one
   whose answer comes first in the precedence (an anomaly before a class of the same answer);
4. the narrowest IMEI range that contains the IMEI;
5. the configured answer for an unknown IMEI.

Within one level, the list that comes first in ``precedence`` wins (black, grey, white by
default); between equal lists, the most recently added entry is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast

from eir.config import PolicyConfig
from eir.identity import Anomaly
from eir.model import (
    CheckRequest,
    CheckResult,
    EquipmentStatus,
    Hits,
    ListName,
    Match,
    Rule,
)

Lookup = Callable[[str, str | None], Hits]

_ANSWER_STATUS: dict[str, EquipmentStatus | None] = {
    "white": EquipmentStatus.WHITELISTED,
    "grey": EquipmentStatus.GREYLISTED,
    "black": EquipmentStatus.BLACKLISTED,
    "unknown": None,
}


def _winner(matches: tuple[Match, ...], precedence: tuple[ListName, ...]) -> Match:
    if len(matches) == 1:
        return matches[0]
    rank = {name: i for i, name in enumerate(precedence)}
    return min(matches, key=lambda m: (rank[m.entry.list], -m.entry.added, m.entry.source))


def _answer_rank(answer: str, precedence: tuple[ListName, ...]) -> int:
    # "unknown" ranks after every list: a forced list answer is the stronger statement.
    order = [name.value for name in precedence]
    return order.index(answer) if answer in order else len(order)


def decide(request: CheckRequest, lookup: Lookup, settings: PolicyConfig) -> CheckResult:
    """Decide for ``request``; ``lookup(imei14, imsi)`` returns what the lists hold."""
    imei = request.imei
    anomalies = imei.anomalies(settings.test_tac_prefixes)
    hits = lookup(imei.key, None if request.imsi is None else request.imsi.digits)
    precedence = settings.precedence
    classes = hits.classes
    # Each level is looked at only when it holds something: most IMEIs are on no list.
    for rule, matches in ((Rule.PAIR, hits.pair), (Rule.IMEI, hits.imei)):
        if matches:
            match = _winner(matches, precedence)
            return CheckResult(match.entry.list.status, rule, match, anomalies, None, classes)
    if anomalies or classes:
        result = _anomaly_or_class(anomalies, classes, settings)
        if result is not None:
            return result
    if hits.ranges:
        match = _winner(hits.ranges, precedence)
        return CheckResult(match.entry.list.status, Rule.RANGE, match, anomalies, None, classes)
    return CheckResult(
        _ANSWER_STATUS[settings.unknown], Rule.UNKNOWN, None, anomalies, None, classes
    )


def _anomaly_or_class(
    anomalies: frozenset[Anomaly], classes: tuple[Match, ...], settings: PolicyConfig
) -> CheckResult | None:
    """The decision of the anomalies and classes whose action is not ``ignore``: the one whose
    answer comes first in the precedence (an anomaly before a class of the same answer, then
    by name); None when none acts."""
    actions = cast("Mapping[str, str]", settings.classes)
    by_class = [
        (m, act) for m in classes if (act := actions.get(m.entry.source, "ignore")) != "ignore"
    ]
    by_anomaly = [
        (a, act) for a in anomalies if (act := settings.anomalies.get(a, "ignore")) != "ignore"
    ]
    if not by_anomaly:
        if not by_class:
            return None
        if len(by_class) == 1:  # the usual class hit: nothing to rank
            match, action = by_class[0]
            source = match.entry.source
            return CheckResult(
                _ANSWER_STATUS[action], Rule.CLASS, match, anomalies, None, classes, source
            )
    precedence = settings.precedence
    acting: list[tuple[int, int, str, str, Anomaly | Match]] = [
        (_answer_rank(act, precedence), 0, a.value, act, a) for a, act in by_anomaly
    ]
    acting += [(_answer_rank(act, precedence), 1, m.entry.source, act, m) for m, act in by_class]
    _, _, name, action, chosen = min(acting, key=lambda item: item[:3])
    status = _ANSWER_STATUS[action]
    if isinstance(chosen, Match):
        return CheckResult(status, Rule.CLASS, chosen, anomalies, None, classes, name)
    return CheckResult(status, Rule.ANOMALY, None, anomalies, chosen, classes)


def unknown_result(settings: PolicyConfig) -> CheckResult:
    """The answer for equipment no list can name (a hexadecimal 3GPP2 MEID, say)."""
    return CheckResult(_ANSWER_STATUS[settings.unknown], Rule.UNKNOWN, None)
