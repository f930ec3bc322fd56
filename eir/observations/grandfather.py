"""Which observed pairs grandfathering makes white pairs (``eir pairs grandfather``).

Every IMEI-IMSI pair first seen (by any node) before the cut-off becomes a white pair, so that
blocking the IMEI later cuts off no one who used it before. Pairs already white are kept as
they are and counted; ``pairs.max_per_imei`` is respected by keeping, per IMEI, the pairs seen
on the most days (then the earliest seen, then by IMSI) and leaving the others out.

Layer 1: pure (the records come from the observation store, the white pairs from the list
store; the simulator can compute the same).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import NamedTuple

from eir.observations.record import Observed


class Candidate(NamedTuple):
    """One pair as every node saw it: first seen (the earliest node's) and days seen (the
    union of the nodes')."""

    imei: str
    imsi: str
    first: int
    days: int


class Grandfathering(NamedTuple):
    #: the pairs to make white, by IMEI and IMSI
    chosen: list[Candidate]
    #: pairs seen before the cut-off in all (of the IMEIs asked for)
    seen: int
    #: IMEIs they belong to
    imeis: int
    #: pairs among them that were white already
    already: int
    #: pairs left out by the limit
    left_out: int


def merged(records: Iterable[Observed]) -> dict[tuple[str, str], Candidate]:
    """Every node's records of each pair merged: the earliest first seen, the union of days."""
    firsts: dict[tuple[str, str], int] = {}
    days: dict[tuple[str, str], set[int]] = {}
    for observed in records:
        pair = observed.imei, observed.imsi
        record = observed.record
        firsts[pair] = min(firsts.get(pair, record.first), record.first)
        days.setdefault(pair, set()).update(record.days)
    return {pair: Candidate(*pair, first, len(days[pair])) for pair, first in firsts.items()}


def grandfather(
    records: Iterable[Observed],
    before: int,
    white: Callable[[str], Collection[str]],
    limit: int,
    imeis: Collection[str] | None = None,
) -> Grandfathering:
    """The pairs of ``records`` first seen before ``before`` (seconds, UTC) to make white.

    ``white(imei)`` is the IMSIs the IMEI is paired with on the white list already; ``limit``
    the most white pairs per IMEI (0: no limit); ``imeis``, when given, the only IMEIs taken.
    """
    wanted = records if imeis is None else (r for r in records if r.imei in imeis)
    by_imei: dict[str, list[Candidate]] = {}
    for candidate in merged(wanted).values():
        if candidate.first < before:
            by_imei.setdefault(candidate.imei, []).append(candidate)
    chosen: list[Candidate] = []
    already = left_out = seen = 0
    for imei in sorted(by_imei):
        pairs = by_imei[imei]
        seen += len(pairs)
        have = set(white(imei))
        new = [c for c in pairs if c.imsi not in have]
        already += len(pairs) - len(new)
        room = len(new) if not limit else max(0, limit - len(have))
        new.sort(key=lambda c: (-c.days, c.first, c.imsi))
        left_out += len(new) - min(room, len(new))
        chosen += sorted(new[:room], key=lambda c: c.imsi)
    return Grandfathering(chosen, seen, len(by_imei), already, left_out)
