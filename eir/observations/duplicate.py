"""The duplicate rules: is one IMEI used by more SIMs than one handset can be?

:func:`detect` judges one IMEI from every node's records of it by the rules of
``[[observations.duplicate_rules]]``, at ``now``, the observation clock (the newest last-seen
time the store holds), never the wall clock: simulated days are judged exactly as real ones.
Records of different nodes are different observations of the same pair, so they are *combined*
per IMSI first (union of days, earliest first seen, latest last seen, sum of checks); the result
is a function of the merged state only, whatever order the deltas came in.

``daily-average`` follows DIRBS's "duplicate daily average" dimension
(dirbs-core ``classification/dimensions/duplicate_daily_avg.py``): over the window (the last
``window_days`` UTC days up to ``now``'s day, inclusive), each IMSI counts the days it was seen
with the IMEI; the sum over IMSIs divided by the days the IMEI was seen at all in the window is
the average number of distinct IMSIs a day. An IMEI seen on fewer than ``min_days`` days of the
window is not judged (too little data). Where eir differs: DIRBS's SQL compares with ``>=`` and
divides integers (PostgreSQL ``bigint / bigint``, so an average of 3.9 counts as 3); eir divides
exactly and, as DIRBS's documentation says ("more than 3.1"), a duplicate is an average strictly
above ``min_average``. DIRBS's window ends the day before its analysis date; eir's includes the
newest day, as it judges online.

``concurrent`` (Peru's "one IMEI on several lines at the same time"): at least ``min_imsis``
distinct IMSIs whose *last-seen* times lie within ``minutes`` of each other, all last seen in the
window. The records keep first/last seen and days, not every check, so "at the same time" is
judged on last-seen times: the rule fires while the IMEI is in concurrent use and the finding
stays while that evidence is in the window (until another check moves an IMSI's last seen away,
or the window passes it).

Layer 1: pure, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from eir.config.keys import DuplicateRuleConfig
from eir.observations.record import DAY, Observed, PairRecord

#: the most IMSIs a finding names (events, `eir duplicates`)
MAX_IMSIS = 10
#: the longest figures a finding carries (the class entry's reference)
MAX_FIGURES = 255

DAILY_AVERAGE = "daily-average"
CONCURRENT = "concurrent"


class Finding(NamedTuple):
    """One rule matching one IMEI."""

    imei: str
    #: the rule's name
    rule: str
    #: what the rule measured, e.g. ``{"average": 4.2, "days": 12}``
    figures: dict[str, float]
    #: the IMSIs involved (at most MAX_IMSIS, in order)
    imsis: tuple[str, ...]
    #: when it was found: the observation clock (seconds since the epoch, UTC)
    time: int

    def figures_json(self) -> str:
        """The figures as compact JSON (at most MAX_FIGURES octets)."""
        text = json.dumps(self.figures, separators=(",", ":"))
        return text[:MAX_FIGURES]


class Usage(NamedTuple):
    """One IMSI's use of the IMEI, every node's records combined."""

    imsi: str
    first: int
    last: int
    days: frozenset[int]
    checks: int


def combine(pairs: Iterable[Observed]) -> dict[str, Usage]:
    """Every node's records of one IMEI combined per IMSI (union of days, earliest first, latest
    last, sum of checks)."""
    usages: dict[str, Usage] = {}
    for observed in pairs:
        record: PairRecord = observed.record
        seen = usages.get(observed.imsi)
        if seen is None:
            usages[observed.imsi] = Usage(
                observed.imsi, record.first, record.last, frozenset(record.days), record.checks
            )
        else:
            usages[observed.imsi] = Usage(
                observed.imsi,
                min(seen.first, record.first),
                max(seen.last, record.last),
                seen.days.union(record.days),
                seen.checks + record.checks,
            )
    return usages


def window_start(now: int, window_days: int) -> int:
    """The first day number of the window of ``window_days`` days ending on ``now``'s day."""
    return now // DAY - window_days + 1


def daily_average(
    imei: str, usages: Sequence[Usage], now: int, rule: DuplicateRuleConfig
) -> Finding | None:
    """The DIRBS rule (see the module's docstring)."""
    first, last = window_start(now, rule.window_days), now // DAY
    seen: set[int] = set()
    imsi_days = 0
    involved: list[tuple[int, str]] = []
    for usage in usages:
        days = [d for d in usage.days if first <= d <= last]
        if days:
            seen.update(days)
            imsi_days += len(days)
            involved.append((-len(days), usage.imsi))
    if not seen or len(seen) < rule.min_days:
        return None
    average = imsi_days / len(seen)
    if average <= rule.min_average:
        return None
    imsis = tuple(imsi for _, imsi in sorted(involved)[:MAX_IMSIS])
    figures: dict[str, float] = {
        "average": round(average, 2),
        "days": len(seen),
        "imsis": len(involved),
    }
    return Finding(imei, rule.name, figures, imsis, now)


def concurrent(
    imei: str, usages: Sequence[Usage], now: int, rule: DuplicateRuleConfig
) -> Finding | None:
    """The concurrent-use rule (see the module's docstring)."""
    since = window_start(now, rule.window_days) * DAY
    lasts = sorted((u.last, u.imsi) for u in usages if since <= u.last <= now)
    span = rule.minutes * 60
    best, start = (0, 0, 0), 0
    for end, (time, _) in enumerate(lasts):
        while time - lasts[start][0] > span:
            start += 1
        count = end - start + 1
        if count > best[0]:
            best = (count, start, end)
    count, start, end = best
    if count < rule.min_imsis:
        return None
    group = lasts[start : end + 1]
    figures: dict[str, float] = {
        "imsis": count,
        "minutes": round((group[-1][0] - group[0][0]) / 60, 1),
    }
    imsis = tuple(imsi for _, imsi in group[-MAX_IMSIS:])
    return Finding(imei, rule.name, figures, imsis, now)


def detect(
    pairs: Sequence[Observed], now: int, rules: Sequence[DuplicateRuleConfig]
) -> list[Finding]:
    """One finding per rule that matches the IMEI of ``pairs`` (every node's records of one
    IMEI), in the rules' order, judged at ``now`` (the observation clock)."""
    if not pairs:
        return []
    imei = pairs[0].imei
    usages = sorted(combine(pairs).values())
    found: list[Finding] = []
    for rule in rules:
        judge = daily_average if rule.kind == DAILY_AVERAGE else concurrent
        finding = judge(imei, usages, now, rule)
        if finding is not None:
            found.append(finding)
    return found
