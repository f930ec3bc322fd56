"""The classes eir learns from observations (``duplicate``), as the simulator expects them: the
records merged as the observation store merges them, every IMEI judged by the daemon's own rules
(`eir.observations.duplicate.detect`) at the observation clock, and the findings made class rows
(`eir.store.classes`) that go into the simulator's store like the aggregator's list update.

Pure: the records come from `sim.identity_files`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from eir.config.keys import DuplicateRuleConfig
from eir.model import StoreClass
from eir.observations.duplicate import Finding, detect
from eir.observations.record import Observed, merge
from eir.store.classes import ClassRow

#: the class the duplicate rules give
DUPLICATE = StoreClass.DUPLICATE


def merged(observed: Iterable[Observed]) -> list[Observed]:
    """One record per (IMEI, IMSI, node), repeated states merged (min, max, union, max): what
    the observation store holds after importing them, in key order."""
    records: dict[tuple[str, str, str], Observed] = {}
    for o in observed:
        key = (o.imei, o.imsi, o.node)
        held = records.get(key)
        records[key] = o if held is None else held._replace(record=merge(held.record, o.record))
    return [records[key] for key in sorted(records)]


def clock(observed: Iterable[Observed]) -> int:
    """The newest last-seen time (0 without records): the store's "now"."""
    return max((o.record.last for o in observed), default=0)


def findings(observed: Sequence[Observed], rules: Sequence[DuplicateRuleConfig]) -> list[Finding]:
    """Every rule's finding for every IMEI of ``observed`` (merged first), judged at the clock,
    IMEIs in order."""
    records = merged(observed)
    now = clock(records)
    by_imei: dict[str, list[Observed]] = defaultdict(list)
    for o in records:
        by_imei[o.imei].append(o)
    found: list[Finding] = []
    for imei in sorted(by_imei):
        found.extend(detect(by_imei[imei], now, rules))
    return found


def finding_rows(found: Iterable[Finding]) -> list[ClassRow]:
    """The ``duplicate`` class's rows: one per finding (the class keeps an IMEI's first)."""
    return [ClassRow(f.imei, f.rule, f.figures_json(), f.time) for f in found]
