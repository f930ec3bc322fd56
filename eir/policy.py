"""The decision: a check request and what the lists hold for it -> a CheckResult. Pure.

Precedence (first that applies decides):

1. IMEI + IMSI pair entries (the answer to cloned IMEIs: allow the owner's SIM, block the rest);
2. exact IMEI entries;
3. anomalies of the IMEI (check digit, same digits, zero TAC, test TAC) whose configured action
   is not ``ignore``; when several apply, the one whose answer comes first in the precedence;
4. the narrowest IMEI range that contains the IMEI;
5. the configured answer for an unknown IMEI.

Within one level, the list that comes first in ``precedence`` wins (black, grey, white by
default); between equal lists, the most recently added entry is reported.
"""

from __future__ import annotations

from collections.abc import Callable

from eir.config import PolicyConfig
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
    # Each level is looked at only when it holds something: most IMEIs are on no list.
    for rule, matches in ((Rule.PAIR, hits.pair), (Rule.IMEI, hits.imei)):
        if matches:
            match = _winner(matches, precedence)
            return CheckResult(match.entry.list.status, rule, match, anomalies)
    if anomalies:
        acting = [a for a in anomalies if settings.anomalies.get(a, "ignore") != "ignore"]
        if acting:
            chosen = min(acting, key=lambda a: (_answer_rank(settings.anomalies[a], precedence), a))
            status = _ANSWER_STATUS[settings.anomalies[chosen]]
            return CheckResult(status, Rule.ANOMALY, None, anomalies, decided_by_anomaly=chosen)
    if hits.ranges:
        match = _winner(hits.ranges, precedence)
        return CheckResult(match.entry.list.status, Rule.RANGE, match, anomalies)
    return CheckResult(_ANSWER_STATUS[settings.unknown], Rule.UNKNOWN, None, anomalies)


def unknown_result(settings: PolicyConfig) -> CheckResult:
    """The answer for equipment no list can name (a hexadecimal 3GPP2 MEID, say)."""
    return CheckResult(_ANSWER_STATUS[settings.unknown], Rule.UNKNOWN, None)
