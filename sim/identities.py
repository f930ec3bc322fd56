"""The ``identities`` scenario: who uses which handset over simulated days.

Groups of IMEI-IMSI pairs, each built to land on one side of the rules eir applies to what it
observes (``[[observations.duplicate_rules]]``, the DIRBS rule by default) and to its lists:

* ``shared``: IMEIs used by many IMSIs every day, some all within minutes (``at-once``), some
  spread over the day (``over-days``): above the DIRBS rule, so eir classes them ``duplicate``;
* ``near``: IMEIs just under it: as many IMSIs a day as the rule's average allows
  (``average``), or more on one day fewer than its minimum of days (``few-days``);
* ``paired`` and ``stolen``: black IMEIs (stolen handsets) whose owners' IMSIs are white
  IMEI+IMSI pairs; ``paired`` checks them with an owner's IMSI, ``stolen`` with the thief's;
* ``swap``: an IMSI moving to a new handset whose old one was reported lost (``new-handset``,
  ``old-handset``), and a handset moving to a new SIM (``new-sim``, ``old-sim``);
* ``ordinary``: one IMEI, one IMSI, most days.

Every check is simulated at a time of its own on a node of its own (``node-1`` ...), and the
pairs reduced to what a node keeps of them (:class:`~eir.observations.record.PairRecord`): days
of traffic in a fraction of a second, and the detector reads its time from them, never from the
wall clock. The same seed gives the same scenario.

Pure: no I/O (`sim.identity_files` writes and reads the files).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from eir.config.keys import DIRBS_RULE, PairsConfig
from eir.identity import luhn_digit
from eir.observations.record import DAY, Observed, PairRecord
from sim.groups import GROUPS, Member
from sim.workload import generate_imeis

#: the simulated network's MCC+MNC (001 01 is the test network)
MCC_MNC = "00101"
#: the days the groups built against the rule are active in: the DIRBS rule's window
WINDOW = DIRBS_RULE.window_days
#: the fewest simulated days a scenario can have (a stolen day and a swap day need room)
MIN_DAYS = 10
#: the most simulated days (a day number fits 2 octets long after that)
MAX_DAYS = 3650
#: the first simulated day of a :class:`Plan` that names none, a day number (2026-01-01);
#: ``eir-sim generate`` starts at :func:`default_start` instead
DEFAULT_START = 20454
HOUR = 3_600
MINUTE = 60


def default_start(today: int, days: int) -> int:
    """The first of ``days`` simulated days that end today (``today``: a day number, UTC): the
    observations are then within ``observations.retention_days`` of a node's clock."""
    return today - days


class ListRow(NamedTuple):
    """One row of the list file: a 15-digit IMEI, the IMSI of a pair or "", the list."""

    imei: str
    imsi: str
    list: str
    reason: str
    reference: str


@dataclass(frozen=True)
class Plan:
    """What to simulate: ``count`` IMEIs per group over ``days`` days from ``start`` (a day
    number, ``time // DAY``), seen by ``nodes`` nodes."""

    count: int = 20
    days: int = 60
    start: int = DEFAULT_START
    nodes: int = 2
    seed: int = 1

    def time(self, day: int, second: int) -> int:
        """Seconds since the epoch of ``second`` into simulated day ``day`` (0-based)."""
        return (self.start + day) * DAY + second

    @property
    def last_day(self) -> int:
        return self.days - 1


@dataclass
class Scenario:
    """The generated scenario: who is sent, what the nodes observed, what the lists hold."""

    plan: Plan
    members: list[Member] = field(default_factory=list)
    observed: list[Observed] = field(default_factory=list)
    lists: list[ListRow] = field(default_factory=list)

    def group(self, name: str) -> list[Member]:
        return [m for m in self.members if m.group == name]

    @property
    def clock(self) -> int:
        """The newest last-seen time: the observation store's "now" once they are imported."""
        return max((o.record.last for o in self.observed), default=0)


class _Sightings:
    """Checks as the nodes saw them, reduced to one record per (IMEI, IMSI, node)."""

    def __init__(self, plan: Plan, rng: random.Random) -> None:
        self.plan = plan
        self.rng = rng
        self.times: dict[tuple[str, str, str], list[int]] = defaultdict(list)

    def see(self, imei: str, imsi: str, day: int, second: int) -> None:
        node = f"node-{self.rng.randrange(self.plan.nodes) + 1}"
        self.times[(imei, imsi, node)].append(self.plan.time(day, second))

    def observed(self) -> list[Observed]:
        out = []
        for (imei, imsi, node), times in sorted(self.times.items()):
            days = tuple(sorted({t // DAY for t in times}))
            out.append(
                Observed(imei, imsi, node, PairRecord(min(times), max(times), days, len(times)))
            )
        return out


class _Numbers:
    """Distinct IMEIs (realistic TACs, from `sim.workload.generate_imeis`) and IMSIs."""

    def __init__(self, plan: Plan, rng: random.Random) -> None:
        self.imeis = iter(generate_imeis(plan.count * 8 + 16, seed=plan.seed).as_text())
        self.next_imsi = rng.randrange(10**9)

    def imei(self) -> str:
        return next(self.imeis)[:14]

    def imsi(self) -> str:
        self.next_imsi += 1
        return f"{MCC_MNC}{self.next_imsi:010d}"


def _spread(rng: random.Random, count: int) -> list[int]:
    """``count`` seconds of a day at least an hour apart (6:00 to 23:59)."""
    hours = sorted(rng.sample(range(6, 24), min(count, 18)))
    return [h * HOUR + rng.randrange(50 * MINUTE) for h in hours]


def _at_once(rng: random.Random, count: int) -> list[int]:
    """``count`` seconds of a day within a few minutes of each other."""
    base = rng.randrange(8, 22) * HOUR
    return [base + i * 40 + rng.randrange(20) for i in range(count)]


def _window(plan: Plan) -> range:
    """The simulated days the rule-bound groups are active on: the rule's window, up to the
    last day."""
    return range(max(0, plan.days - WINDOW), plan.days)


def generate(plan: Plan) -> Scenario:
    """The scenario of ``plan``; the same plan gives the same scenario."""
    if not MIN_DAYS <= plan.days <= MAX_DAYS:
        raise ValueError(f"days must be {MIN_DAYS} to {MAX_DAYS}")
    rng = random.Random(plan.seed)
    sightings = _Sightings(plan, rng)
    numbers = _Numbers(plan, rng)
    scenario = Scenario(plan)
    builders = (_shared, _near, _paired, _swap, _ordinary)
    for build in builders:
        for index in range(plan.count):
            build(index, scenario, sightings, numbers, rng)
    scenario.observed = sightings.observed()
    scenario.members.sort(key=lambda m: GROUPS.index(m.group))
    return scenario


def _shared(index: int, sc: Scenario, seen: _Sightings, num: _Numbers, rng: random.Random) -> None:
    """An IMEI with a pool of IMSIs, more of them a day than the rule's average allows."""
    imei = num.imei()
    pool = [num.imsi() for _ in range(rng.randrange(8, 13))]
    above = math.floor(DIRBS_RULE.min_average) + 1
    variant = "at-once" if index % 2 == 0 else "over-days"
    used: set[str] = set()
    for day in range(max(0, sc.plan.days - 2 * WINDOW), sc.plan.days):
        if day < sc.plan.last_day - DIRBS_RULE.min_days and rng.random() < 0.15:
            continue
        users = rng.sample(pool, rng.randrange(above, above + 4))
        times = _at_once(rng, len(users)) if variant == "at-once" else _spread(rng, len(users))
        used.update(users)
        for imsi, second in zip(users, times, strict=True):
            seen.see(imei, imsi, day, second)
    for imsi in sorted(used)[:2]:
        sc.members.append(Member("shared", imei, imsi, variant))


def _near(index: int, sc: Scenario, seen: _Sightings, num: _Numbers, rng: random.Random) -> None:
    """An IMEI just under the rule: ``average``: floor(min_average) IMSIs on every day it is
    seen; ``few-days``: more IMSIs a day, on min_days - 1 days. Times an hour apart or more."""
    imei = num.imei()
    window = _window(sc.plan)
    if index % 2 == 0:
        variant = "average"
        users = [num.imsi() for _ in range(max(1, math.floor(DIRBS_RULE.min_average)))]
        days = [d for d in window if rng.random() < 0.7 or d == sc.plan.last_day]
        if len(days) < DIRBS_RULE.min_days:
            days = list(window)
    else:
        variant = "few-days"
        users = [num.imsi() for _ in range(math.floor(DIRBS_RULE.min_average) + 3)]
        days = sorted(rng.sample(list(window), min(len(window), DIRBS_RULE.min_days - 1)))
    for day in days:
        for imsi, second in zip(users, _spread(rng, len(users)), strict=True):
            seen.see(imei, imsi, day, second)
    sc.members.append(Member("near", imei, users[index % len(users)], variant))


def _imei15(imei: str) -> str:
    return imei + luhn_digit(imei)


def _paired(index: int, sc: Scenario, seen: _Sightings, num: _Numbers, rng: random.Random) -> None:
    """A handset shared by a family (1 to 3 IMSIs, each a white pair), stolen: black from the
    day it was, used by the thief's IMSI after."""
    imei = num.imei()
    most = PairsConfig().max_per_imei or 3
    owners = [num.imsi() for _ in range(1 + index % min(3, most))]
    thief = num.imsi()
    stolen = sc.plan.days * 2 // 3
    for day in range(stolen):
        for imsi, second in zip(owners, _spread(rng, len(owners)), strict=True):
            if rng.random() < 0.8:
                seen.see(imei, imsi, day, second)
    for day in range(stolen + 1, sc.plan.days):
        seen.see(imei, thief, day, _spread(rng, 1)[0])
    reference = f"RPT-{sc.plan.seed}-{index:06d}"
    sc.lists.append(ListRow(_imei15(imei), "", "black", "stolen", reference))
    for imsi in owners:
        sc.lists.append(ListRow(_imei15(imei), imsi, "white", "owner", reference))
        sc.members.append(Member("paired", imei, imsi, "owner"))
    sc.members.append(Member("stolen", imei, thief, "thief"))


def _swap(index: int, sc: Scenario, seen: _Sightings, num: _Numbers, rng: random.Random) -> None:
    """``index`` even: an IMSI moves to a new handset on the swap day, the old one (reported
    lost: black) goes on with another SIM; odd: a handset moves to a new SIM."""
    swap = sc.plan.days // 2
    first = num.imei()
    user = num.imsi()
    other = num.imsi()
    if index % 2 == 0:
        new = num.imei()
        for day in range(sc.plan.days):
            handset = first if day < swap else new
            seen.see(handset, user, day, _spread(rng, 1)[0])
            if day > swap:
                seen.see(first, other, day, _spread(rng, 1)[0])
        sc.lists.append(
            ListRow(_imei15(first), "", "black", "lost", f"LOST-{sc.plan.seed}-{index:06d}")
        )
        sc.members.append(Member("swap", new, user, "new-handset"))
        sc.members.append(Member("swap", first, other, "old-handset"))
        return
    for day in range(sc.plan.days):
        seen.see(first, user if day < swap else other, day, _spread(rng, 1)[0])
    sc.members.append(Member("swap", first, other, "new-sim"))
    sc.members.append(Member("swap", first, user, "old-sim"))


def _ordinary(
    index: int, sc: Scenario, seen: _Sightings, num: _Numbers, rng: random.Random
) -> None:
    """One IMEI, one IMSI, most days (and the last: the scenario's clock is its last day)."""
    del index
    imei = num.imei()
    imsi = num.imsi()
    for day in range(sc.plan.days):
        if rng.random() < 0.8 or day == sc.plan.last_day:
            for second in _spread(rng, rng.randrange(1, 4)):
                seen.see(imei, imsi, day, second)
    sc.members.append(Member("ordinary", imei, imsi))


def by_node(observed: list[Observed]) -> Iterator[tuple[str, list[Observed]]]:
    """The records grouped by the node that holds them, nodes in order."""
    nodes: dict[str, list[Observed]] = defaultdict(list)
    for o in observed:
        nodes[o.node].append(o)
    for node in sorted(nodes):
        yield node, nodes[node]
