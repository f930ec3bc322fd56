"""The decision: a check request and what the lists hold for it -> a CheckResult. Pure.

Precedence (first that applies decides):

1. IMEI + IMSI pair entries (the answer to cloned IMEIs: allow the owner's SIM, block the rest;
   so a white pair is an exemption from every class and device rule below);
2. exact IMEI entries;
3. the validity classes of the IMEI (:func:`validity_classes`: check digit, same digits, zero
   TAC, test TAC from its digits; ``tac-unallocated`` and ``not-approved`` from the device
   database), the classes eir learnt about it (the list store's ``class`` table:
   ``duplicate``) and the device rules (``policy.device_rules``) whose action is not
   ``ignore`` and that are not exempt: when several act, the one whose answer comes first in
   the precedence; between equal answers a validity class (by name), then a learnt class (by
   name), then a device rule (in the configured order);
4. the narrowest IMEI range that contains the IMEI;
5. the configured answer for an unknown IMEI.

Within one level, the list that comes first in ``precedence`` wins (black, grey, white by
default); between equal lists, the most recently added entry is reported.

Entries with times (``effective``, ``expires``; :func:`eir.model.entry_state`) are judged at
the time of the check: an expired entry, or a white or grey one before its ``effective``, is
not there; a black entry before its due date (``effective``) is in its notice period and
counts as an entry of the ``policy.notice`` list (grey by default) at its level; a learnt
class before its due date acts with ``policy.class_notice`` (else ``policy.notice``) instead
of its action. So every node flips at the same instant, and nothing runs at midnight.

The device index, the ``seen`` lookup (when the observation store first saw an IMEI) and the
clock are arguments: nothing here reads a file or a socket, and the clock (the wall clock
unless given) is read only when an entry has times, so the simulator expects the same answer.
``seen`` is asked only for a device rule with ``exempt_seen_before`` that matched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import NamedTuple, cast

from eir.config import PolicyConfig
from eir.config.keys import DeviceRuleConfig
from eir.devices.record import Device, DeviceIndex, radios
from eir.identity import Anomaly, Imei
from eir.model import (
    CheckRequest,
    CheckResult,
    EntryState,
    EquipmentStatus,
    Finding,
    Hits,
    ListName,
    Match,
    Rule,
    entry_state,
    is_expired,
)

Lookup = Callable[[str, str | None], Hits]
#: when the observation store first saw an IMEI (its 14 digits): seconds since the epoch, or
#: None when never
Seen = Callable[[str], int | None]
#: the time of a check, seconds since the epoch (read only when an entry has times)
Clock = Callable[[], float]

_ANSWER_STATUS: dict[str, EquipmentStatus | None] = {
    "white": EquipmentStatus.WHITELISTED,
    "grey": EquipmentStatus.GREYLISTED,
    "black": EquipmentStatus.BLACKLISTED,
    "unknown": None,
}
_NO_FINDINGS: tuple[Finding, ...] = ()
#: a memoised verdict saying that no class or rule acts (then the ranges and unknown decide)
_NONE_ACTS = CheckResult(None, Rule.UNKNOWN)


class Classes(NamedTuple):
    """Every validity class of an IMEI and the device rules that matched it."""

    #: the validity classes (the digits' and the device database's)
    anomalies: frozenset[Anomaly]
    #: the device database's classes and the device rules, with what they saw
    findings: tuple[Finding, ...] = ()
    #: the device behind the TAC (None: no device database, or the TAC is not in it)
    device: Device | None = None


def _winner(matches: tuple[Match, ...], precedence: tuple[ListName, ...]) -> Match:
    if len(matches) == 1:
        return matches[0]
    rank = {name: i for i, name in enumerate(precedence)}
    return min(matches, key=lambda m: (rank[m.entry.list], -m.entry.added, m.entry.source))


def _answer_rank(answer: str, precedence: tuple[ListName, ...]) -> int:
    # "unknown" ranks after every list: a forced list answer is the stronger statement.
    order = [name.value for name in precedence]
    return order.index(answer) if answer in order else len(order)


def decide(
    request: CheckRequest,
    lookup: Lookup,
    settings: PolicyConfig,
    devices: DeviceIndex | None = None,
    seen: Seen | None = None,
    clock: Clock | None = None,
) -> CheckResult:
    """Decide for ``request``; ``lookup(imei14, imsi)`` returns what the lists hold,
    ``devices`` the device database (None: none), ``seen`` when an IMEI was first seen,
    ``clock`` the time of the check (None: the wall clock), asked only when an entry has
    times."""
    imei = request.imei
    anomalies = imei.anomalies(settings.test_tac_prefixes)
    findings = _NO_FINDINGS
    verdict = None
    if devices is not None and (devices.has_devices or devices.has_approved):
        anomalies, findings, _, verdict = _device_classes(
            imei.key, anomalies, devices, settings, seen
        )
    hits = lookup(imei.key, None if request.imsi is None else request.imsi.digits)
    classes = hits.classes
    # Each level is looked at only when it holds something: most IMEIs are on no list.
    for rule, matches in ((Rule.PAIR, hits.pair), (Rule.IMEI, hits.imei)):
        if matches:
            result = _level(matches, rule, anomalies, classes, findings, settings, clock)
            if result is not None:
                return result
    notices = _NO_NOTICES
    if classes:
        classes, notices = _classes_at(classes, settings, clock)
    if anomalies or classes or findings:
        if verdict is None or classes:
            verdict = _level_three(anomalies, classes, findings, settings, notices) or _NONE_ACTS
        if verdict is not _NONE_ACTS:
            return verdict
    return _ranged(hits.ranges, anomalies, classes, findings, settings, clock)


def _ranged(
    ranges: tuple[Match, ...],
    anomalies: frozenset[Anomaly],
    classes: tuple[Match, ...],
    findings: tuple[Finding, ...],
    settings: PolicyConfig,
    clock: Clock | None,
) -> CheckResult:
    """The decision of the narrowest ranges holding the IMEI, else the unknown answer."""
    if ranges:
        result = _level(ranges, Rule.RANGE, anomalies, classes, findings, settings, clock)
        if result is not None:
            return result
    return CheckResult(
        _ANSWER_STATUS[settings.unknown],
        Rule.UNKNOWN,
        None,
        anomalies,
        None,
        classes,
        None,
        findings,
    )


def _level(
    matches: tuple[Match, ...],
    rule: Rule,
    anomalies: frozenset[Anomaly],
    classes: tuple[Match, ...],
    findings: tuple[Finding, ...],
    settings: PolicyConfig,
    clock: Clock | None,
) -> CheckResult | None:
    """The decision of one level's entries (pair, IMEI, range): None when none holds now."""
    if _timed(matches):
        now = time.time() if clock is None else clock()  # _now, inline: the answer path
        if len(matches) == 1:  # the common case: no ranking
            return _single_at(matches[0], rule, anomalies, classes, findings, settings, now)
        return _at(matches, rule, anomalies, classes, findings, settings, now)
    match = _winner(matches, settings.precedence)
    status = match.entry.list.status
    return CheckResult(status, rule, match, anomalies, None, classes, None, findings)


# -- entries with times ------------------------------------------------------------------------

_NO_NOTICES: Mapping[str, str] = {}
#: the lists by name: a dict probe, where ``ListName(name)`` runs the enum's Python lookup
_LIST_NAMED = {name.value: name for name in ListName}


def _now(clock: Clock | None) -> float:
    return time.time() if clock is None else clock()


def _timed(matches: tuple[Match, ...]) -> bool:
    """Whether an entry of ``matches`` has times (one test for the common single match)."""
    for match in matches:
        entry = match.entry
        if entry.effective or entry.expires:
            return True
    return False


def _at(
    matches: tuple[Match, ...],
    rule: Rule,
    anomalies: frozenset[Anomaly],
    classes: tuple[Match, ...],
    findings: tuple[Finding, ...],
    settings: PolicyConfig,
    now: float,
) -> CheckResult | None:
    """The decision of one level whose entries have times, at ``now``: None when none holds
    (expired, or not yet effective), so that the next level decides."""
    # on the answer path: no dict built, no enum call (a tuple's index of 3 is cheaper)
    rank = settings.precedence.index
    notice_list = _LIST_NAMED[settings.notice]
    best: tuple[tuple[int, int, str], Match, bool] | None = None
    for match in matches:
        entry = match.entry
        state = entry_state(entry, now)
        if state is EntryState.IN_FORCE:
            answered, notice = entry.list, False
        elif state is EntryState.NOTICE:
            answered, notice = notice_list, True
        else:
            continue
        key = (rank(answered), -entry.added, entry.source)
        if best is None or key < best[0]:
            best = (key, match, notice)
    if best is None:
        return None
    _, match, notice = best
    status = notice_list.status if notice else match.entry.list.status
    return CheckResult(status, rule, match, anomalies, None, classes, None, findings, None, notice)


def _single_at(
    match: Match,
    rule: Rule,
    anomalies: frozenset[Anomaly],
    classes: tuple[Match, ...],
    findings: tuple[Finding, ...],
    settings: PolicyConfig,
    now: float,
) -> CheckResult | None:
    """:func:`_at` of a level holding one entry: :func:`~eir.model.entry_state` inline (the
    answer path; the bench of docs/benchmarks.md counts each call)."""
    entry = match.entry
    expires = entry.expires
    if expires and now >= expires:  # eir.model.is_expired, inline (tests/unit/core: equal)
        return None  # expired
    effective = entry.effective
    if effective and now < effective:
        if entry.list is not ListName.BLACK:
            return None  # pending: not in force yet
        status = _LIST_NAMED[settings.notice].status  # notice
        return CheckResult(
            status, rule, match, anomalies, None, classes, None, findings, None, True
        )
    status = entry.list.status
    return CheckResult(status, rule, match, anomalies, None, classes, None, findings)


def _classes_at(
    classes: tuple[Match, ...], settings: PolicyConfig, clock: Clock | None
) -> tuple[tuple[Match, ...], Mapping[str, str]]:
    """The learnt classes that hold now and, for each before its due date, the answer it
    gives until then (``policy.class_notice``)."""
    if not _timed(classes):
        return classes, _NO_NOTICES
    now = _now(clock)
    kept: list[Match] = []
    notices: dict[str, str] = {}
    for match in classes:
        entry = match.entry
        if is_expired(entry.expires, now):
            continue
        kept.append(match)
        if entry.effective and now < entry.effective:
            notices[entry.source] = cast("Mapping[str, str]", settings.class_notice).get(
                entry.source, settings.notice
            )
    return tuple(kept), notices


def validity_classes(
    imei: Imei,
    settings: PolicyConfig,
    devices: DeviceIndex | None = None,
    seen: Seen | None = None,
) -> Classes:
    """Every validity class of ``imei`` and the device rules that match it, as :func:`decide`
    computes them (the simulator's expectation and ``eir devices lookup`` use this)."""
    anomalies = imei.anomalies(settings.test_tac_prefixes)
    if devices is None or not (devices.has_devices or devices.has_approved):
        return Classes(anomalies)
    return Classes(*_device_classes(imei.key, anomalies, devices, settings, seen)[:3])


# -- the device database's classes and the device rules ---------------------------------------


class _Rule(NamedTuple):
    """A device rule, read once: its radios as sets, its texts folded, its cut-offs."""

    config: DeviceRuleConfig
    lacks: frozenset[str]
    has: frozenset[str]
    device_type: str
    brand: str
    #: exempt_seen_before as seconds since the epoch (UTC midnight); None: no exemption
    cutoff: int | None


class _TacClasses(NamedTuple):
    """What a TAC gets from the device database and the device rules, worked out once."""

    device: Device | None
    #: the device database's validity classes (tac-unallocated, not-approved)
    extra: frozenset[Anomaly]
    #: the classes and rules that matched, their exemptions not yet asked
    findings: tuple[Finding, ...]
    #: (position in ``findings``, rule) of each acting rule with an exemption cut-off
    exemptible: tuple[tuple[int, _Rule], ...]
    #: the decision of ``findings`` alone (:data:`_NONE_ACTS`: none acts), for an IMEI whose
    #: digits hold no anomaly and that holds no learnt class; None when exemptions make it
    #: depend on the IMEI
    verdict: CheckResult | None = None


#: TACs not in the device database memoised besides those it holds (past it, worked out per
#: request): the memo stays bounded whatever TACs the network sends
MEMO_SLACK = 100_000


class _Memo(dict[str, _TacClasses]):
    """Each TAC's classes under one policy and one device index (the compiled rules too)."""

    def __init__(self, settings: PolicyConfig, devices: DeviceIndex) -> None:
        super().__init__()
        self.settings, self.devices = settings, devices
        self.rules = tuple(_compile(rule) for rule in settings.device_rules)
        self.most = devices.size + MEMO_SLACK


_CACHE: list[_Memo] = []


def _memo_for(settings: PolicyConfig, devices: DeviceIndex) -> _Memo:
    """The memo of ``settings`` over ``devices``, a new one when either changed (a reload, a
    new generation of the device tables)."""
    if _CACHE:
        memo = _CACHE[0]
        if memo.settings is settings and memo.devices is devices:
            return memo
    memo = _Memo(settings, devices)
    _CACHE[:] = [memo]
    return memo


def _compile(rule: DeviceRuleConfig) -> _Rule:
    cutoff = None
    if rule.exempt_seen_before:
        day = datetime.strptime(rule.exempt_seen_before, "%Y-%m-%d").replace(tzinfo=UTC)
        cutoff = int(day.timestamp())
    return _Rule(
        rule,
        frozenset(r.upper() for r in rule.radio_lacks),
        frozenset(r.upper() for r in rule.radio_has),
        rule.device_type.casefold(),
        rule.brand.casefold(),
        cutoff,
    )


def describe_device(device: Device) -> str:
    """``35209900 Brand Model``: the device as the answer's explanation names it."""
    return " ".join(part for part in (device.tac, device.brand, device.model) if part)


def _rule_matches(rule: _Rule, device: Device, approved: bool) -> str | None:
    """What ``device`` showed that matches every match key of ``rule`` (None: no match)."""
    config = rule.config
    said: list[str] = []
    if rule.lacks or rule.has:
        have = radios(device)
        if (rule.lacks and have & rule.lacks) or not rule.has <= have:
            return None
        said.append(f"radio {'+'.join(sorted(have)) or 'none'}")
        if rule.lacks:
            said[-1] += f", no {'/'.join(sorted(rule.lacks))}"
    if rule.device_type and device.device_type.casefold() != rule.device_type:
        return None
    if rule.brand and device.brand.casefold() != rule.brand:
        return None
    cut = config.allocated_before
    if cut and not (device.allocation_date and device.allocation_date < cut):
        return None
    if config.not_approved and approved:
        return None
    said += _said(rule, device)
    return f"{', '.join(said)} (device {describe_device(device)})"


def _said(rule: _Rule, device: Device) -> list[str]:
    """What the non-radio match keys of a matching ``rule`` saw."""
    config = rule.config
    said = []
    if rule.device_type:
        said.append(f"type {device.device_type}")
    if rule.brand:
        said.append(f"brand {device.brand}")
    if config.allocated_before:
        said.append(f"allocated {device.allocation_date}, before {config.allocated_before}")
    if config.not_approved:
        said.append("not approved")
    return said


def _device_classes(
    key: str,
    anomalies: frozenset[Anomaly],
    devices: DeviceIndex,
    settings: PolicyConfig,
    seen: Seen | None,
) -> tuple[frozenset[Anomaly], tuple[Finding, ...], Device | None, CheckResult | None]:
    """The device database's classes of the IMEI ``key`` and the device rules it matches: one
    dict probe of the memo once its TAC was seen; ``seen`` asked for a matching rule's
    exemption only. Last, the memoised level-three verdict when it holds for this IMEI (its
    digits hold no anomaly), else None."""
    memo = _CACHE[0] if _CACHE else None  # _memo_for, inline: the answer path's common case
    if memo is None or memo.settings is not settings or memo.devices is not devices:
        memo = _memo_for(settings, devices)
    tac = key[:8]
    got = memo.get(tac)
    if got is None:
        got = _tac_classes(tac, memo)
        if len(memo) < memo.most:
            memo[tac] = got
    if not got.findings:
        return anomalies, _NO_FINDINGS, got.device, None
    findings = got.findings
    if got.exemptible and seen is not None:
        findings = _exempted(findings, got.exemptible, key, seen)
    if anomalies:
        return anomalies | got.extra, findings, got.device, None
    return got.extra, findings, got.device, got.verdict


def _tac_classes(tac: str, memo: _Memo) -> _TacClasses:
    """The classes and rules of a TAC (one device index probe, every rule tried)."""
    devices, actions = memo.devices, memo.settings.anomalies
    device = devices.device(tac)
    found: list[Finding] = []
    # a test TAC (GSMA TS.06, never in a GSMA file) is test-tac only, not also unallocated
    if (
        device is None
        and devices.has_devices
        and not tac.startswith(memo.settings.test_tac_prefixes)
    ):
        unallocated = Anomaly.TAC_UNALLOCATED
        detail = f"TAC {tac} not in the device database"
        found.append(Finding(unallocated.value, actions.get(unallocated, "ignore"), detail))
    approved = True
    # a TAC the loaded device database lacks is tac-unallocated only: there is no model to
    # approve (with no device database, the approved list's TACs alone say it)
    if devices.has_approved and (device is not None or not devices.has_devices):
        approved = devices.approved(tac)
        if not approved:
            named = f"TAC {tac}" if device is None else f"device {describe_device(device)}"
            detail = f"{named} not on the approved list"
            action = actions.get(Anomaly.NOT_APPROVED, "ignore")
            found.append(Finding(Anomaly.NOT_APPROVED.value, action, detail))
    exemptible: list[tuple[int, _Rule]] = []
    if device is not None:
        for rule in memo.rules:
            said = _rule_matches(rule, device, approved)
            if said is not None:
                config = rule.config
                if rule.cutoff is not None and config.action != "ignore":
                    exemptible.append((len(found), rule))
                found.append(Finding(config.name, config.action, said, True))
    extra = frozenset(Anomaly(f.name) for f in found if not f.rule)
    findings = tuple(found)
    verdict = None
    if not exemptible:
        verdict = _level_three(extra, (), findings, memo.settings) or _NONE_ACTS
    return _TacClasses(device, extra, findings, tuple(exemptible), verdict)


def _exempted(
    findings: tuple[Finding, ...],
    exemptible: tuple[tuple[int, _Rule], ...],
    key: str,
    seen: Seen,
) -> tuple[Finding, ...]:
    """``findings`` with the exemption of each rule the IMEI ``key`` was seen before."""
    out = list(findings)
    for position, rule in exemptible:
        reason = _exempt(rule, key, seen)
        if reason:
            out[position] = out[position]._replace(exempt=reason)
    return tuple(out)


def _exempt(rule: _Rule, key: str, seen: Seen) -> str:
    """Why the IMEI ``key`` is exempt from ``rule`` (seen before its cut-off), or ""."""
    if rule.cutoff is None:
        return ""
    first = seen(key)
    if first is None or first >= rule.cutoff:
        return ""
    day = datetime.fromtimestamp(first, UTC).date().isoformat()
    return f"first seen {day}, before {rule.config.exempt_seen_before}"


# -- level 3: the classes and rules that act ---------------------------------------------------


def _level_three(
    anomalies: frozenset[Anomaly],
    classes: tuple[Match, ...],
    findings: tuple[Finding, ...],
    settings: PolicyConfig,
    notices: Mapping[str, str] = _NO_NOTICES,
) -> CheckResult | None:
    """The decision of the validity classes, learnt classes and device rules that act (action
    not ``ignore``, not exempt): the one whose answer comes first in the precedence (a
    validity class, then a learnt class, then a rule, for the same answer); None when none
    acts. ``notices``: the learnt classes before their due date, with the answer they give
    until then (if their action is not ``ignore``)."""
    actions = cast("Mapping[str, str]", settings.classes)
    by_class = [
        (m, act) for m in classes if (act := actions.get(m.entry.source, "ignore")) != "ignore"
    ]
    if notices:
        by_class = [
            (m, notices.get(m.entry.source, act))
            for m, act in by_class
            if notices.get(m.entry.source, act) != "ignore"
        ]
    by_anomaly = [
        (a, act) for a in anomalies if (act := settings.anomalies.get(a, "ignore")) != "ignore"
    ]
    by_rule = [f for f in findings if f.rule and not f.exempt and f.action != "ignore"]
    if not by_anomaly and not by_rule:
        if not by_class:
            return None
        if len(by_class) == 1:  # the usual class hit: nothing to rank
            match, action = by_class[0]
            return _by_class(match, action, anomalies, classes, findings, notices)
    precedence = settings.precedence
    acting: list[tuple[int, int, str | int, str, Anomaly | Match | Finding]] = [
        (_answer_rank(act, precedence), 0, a.value, act, a) for a, act in by_anomaly
    ]
    acting += [(_answer_rank(act, precedence), 1, m.entry.source, act, m) for m, act in by_class]
    order = {rule.name: i for i, rule in enumerate(settings.device_rules)}
    acting += [(_answer_rank(f.action, precedence), 2, order[f.name], f.action, f) for f in by_rule]
    _, _, _, action, chosen = min(acting, key=lambda item: item[:3])
    status = _ANSWER_STATUS[action]
    if isinstance(chosen, Match):
        return _by_class(chosen, action, anomalies, classes, findings, notices)
    if isinstance(chosen, Finding):
        return CheckResult(
            status, Rule.DEVICE_RULE, None, anomalies, None, classes, None, findings, chosen.name
        )
    return CheckResult(status, Rule.ANOMALY, None, anomalies, chosen, classes, None, findings)


def _by_class(
    match: Match,
    action: str,
    anomalies: frozenset[Anomaly],
    classes: tuple[Match, ...],
    findings: tuple[Finding, ...],
    notices: Mapping[str, str] = _NO_NOTICES,
) -> CheckResult:
    source = match.entry.source
    return CheckResult(
        _ANSWER_STATUS[action],
        Rule.CLASS,
        match,
        anomalies,
        None,
        classes,
        source,
        findings,
        None,
        source in notices,
    )


def unknown_result(settings: PolicyConfig) -> CheckResult:
    """The answer for equipment no list can name (a hexadecimal 3GPP2 MEID, say): the
    ``malformed`` class; when its action is ``ignore``, the unknown answer."""
    malformed = Anomaly.MALFORMED
    action = settings.anomalies.get(malformed, "ignore")
    found = (Finding(malformed.value, action, "the equipment identity is not an IMEI"),)
    if action == "ignore":
        status = _ANSWER_STATUS[settings.unknown]
        return CheckResult(
            status, Rule.UNKNOWN, None, frozenset({malformed}), None, (), None, found
        )
    status = _ANSWER_STATUS[action]
    return CheckResult(
        status, Rule.ANOMALY, None, frozenset({malformed}), malformed, (), None, found
    )
