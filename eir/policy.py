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


def class_action(settings: PolicyConfig, name: str) -> str:
    """What the class ``name`` does (``policy.classes``); a class this node does not know
    (written by a newer aggregator) is reported only."""
    # StoreClass members hash and compare as their values: a class's name is its key
    actions = cast("Mapping[str, str]", settings.classes)
    return actions.get(name, "ignore")


def _anomaly_or_class(
    anomalies: frozenset[Anomaly], classes: tuple[Match, ...], settings: PolicyConfig
) -> CheckResult | None:
    """The decision of the anomalies and classes whose action is not ``ignore``: the one whose
    answer comes first in the precedence (an anomaly before a class of the same answer, then
    by name); None when none acts."""
    precedence = settings.precedence
    acting: list[tuple[int, int, str, Anomaly | Match]] = [
        (_answer_rank(action, precedence), 0, a.value, a)
        for a in anomalies
        if (action := settings.anomalies.get(a, "ignore")) != "ignore"
    ]
    acting += [
        (_answer_rank(action, precedence), 1, m.entry.source, m)
        for m in classes
        if (action := class_action(settings, m.entry.source)) != "ignore"
    ]
    if not acting:
        return None
    _, _, name, chosen = min(acting, key=lambda item: item[:3])
    if isinstance(chosen, Match):
        status = _ANSWER_STATUS[class_action(settings, name)]
        return CheckResult(
            status, Rule.CLASS, chosen, anomalies, None, classes, decided_by_class=name
        )
    status = _ANSWER_STATUS[settings.anomalies[chosen]]
    return CheckResult(status, Rule.ANOMALY, None, anomalies, chosen, classes)


def unknown_result(settings: PolicyConfig) -> CheckResult:
    """The answer for equipment no list can name (a hexadecimal 3GPP2 MEID, say)."""
    return CheckResult(_ANSWER_STATUS[settings.unknown], Rule.UNKNOWN, None)
