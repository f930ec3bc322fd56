"""The duplicate rules on constructed observation sets: exact thresholds."""

from __future__ import annotations

import json

from eir.config.keys import DIRBS_RULE, DuplicateRuleConfig
from eir.observations.duplicate import MAX_IMSIS, Finding, detect
from eir.observations.record import DAY, Observed, PairRecord

IMEI = "35209900176148"
D0 = 20_000  # 2024-10-04
NOW = (D0 + 29) * DAY + 12 * 3600
CONCURRENT = DuplicateRuleConfig(name="together", kind="concurrent", min_imsis=3, minutes=10)


def imsi(n: int) -> str:
    return f"00101{n:010d}"


def on_days(n: int, days: list[int], node: str = "n1") -> Observed:
    times = [d * DAY + 3600 for d in sorted(days)]
    record = PairRecord(times[0], times[-1], tuple(sorted(days)), len(days))
    return Observed(IMEI, imsi(n), node, record)


def at(n: int, time: int, node: str = "n1") -> Observed:
    return Observed(IMEI, imsi(n), node, PairRecord(time, time, (time // DAY,), 1))


def average_set(imsi_days: int, days: int) -> list[Observed]:
    """The IMEI seen on ``days`` days of the window with ``imsi_days`` IMSI-days in all: each day
    has IMSIs 0..k, spread so the sum is exact."""
    per_day = [imsi_days // days + (1 if i < imsi_days % days else 0) for i in range(days)]
    seen: dict[int, list[int]] = {}
    for i, count in enumerate(per_day):
        for n in range(count):
            seen.setdefault(n, []).append(D0 + 29 - i)
    return [on_days(n, d) for n, d in seen.items()]


def test_dirbs_fires_strictly_above_the_average() -> None:
    # 31 IMSI-days over 10 days: 3.1, not more than 3.1; 32 over 10: 3.2
    assert detect(average_set(31, 10), NOW, [DIRBS_RULE]) == []
    (found,) = detect(average_set(32, 10), NOW, [DIRBS_RULE])
    assert found == Finding(
        IMEI, "dirbs", {"average": 3.2, "days": 10, "imsis": 4}, found.imsis, NOW
    )
    assert found.figures_json() == '{"average":3.2,"days":10,"imsis":4}'


def test_dirbs_needs_the_minimum_of_days() -> None:
    assert detect(average_set(20, 4), NOW, [DIRBS_RULE]) == []  # average 5 on 4 days
    (found,) = detect(average_set(25, 5), NOW, [DIRBS_RULE])
    assert found.figures["days"] == 5


def test_dirbs_counts_only_the_window() -> None:
    old = [on_days(n, [D0 - 1 - d for d in range(5)]) for n in range(8)]  # before the window
    assert detect(old, NOW, [DIRBS_RULE]) == []
    assert detect(old, (D0 + 3) * DAY, [DIRBS_RULE])[0].figures["average"] == 8


def test_the_nodes_records_of_a_pair_are_combined_not_double_counted() -> None:
    # every IMSI seen on the same days by two nodes: the days are a union
    days = [D0 + 29 - d for d in range(5)]
    pairs = [on_days(n, days, node) for n in range(4) for node in ("n1", "n2")]
    (found,) = detect(pairs, NOW, [DIRBS_RULE])
    assert found.figures == {"average": 4, "days": 5, "imsis": 4}


def test_concurrent_fires_within_the_minutes_inclusive() -> None:
    base = NOW - 3600
    ten = [at(1, base), at(2, base + 300), at(3, base + 600)]
    (found,) = detect(ten, NOW, [CONCURRENT])
    assert found.figures == {"imsis": 3, "minutes": 10}
    assert found.imsis == (imsi(1), imsi(2), imsi(3))
    eleven = [at(1, base), at(2, base + 300), at(3, base + 660)]
    assert detect(eleven, NOW, [CONCURRENT]) == []


def test_concurrent_needs_the_imsis_seen_on_different_nodes_in_the_window() -> None:
    base = NOW - 60
    nodes = [at(1, base, "n1"), at(2, base + 1, "n2"), at(3, base + 2, "n3")]
    assert detect(nodes, NOW, [CONCURRENT])[0].figures["imsis"] == 3
    assert detect(nodes[:2], NOW, [CONCURRENT]) == []
    later = NOW + 31 * DAY
    assert detect(nodes, later, [CONCURRENT]) == []


def test_one_finding_per_rule_in_the_rules_order() -> None:
    days = [D0 + 29 - d for d in range(5)]
    pairs = [on_days(n, days) for n in range(12)]
    found = detect(pairs, NOW, [CONCURRENT, DIRBS_RULE])
    assert [f.rule for f in found] == ["together", "dirbs"]
    assert all(len(f.imsis) == MAX_IMSIS for f in found)
    assert len(found[0].figures_json()) <= 255
    assert json.loads(found[1].figures_json())["average"] == 12
    assert detect([], NOW, [DIRBS_RULE]) == []
