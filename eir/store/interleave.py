"""Several groups of one load appended to a table as one sorted stream.

A bulk CSV with a ``source`` or ``list`` column gives one group per (list, source), their keys
interleaved. Added one group after the other, only the first would be an LMDB append; the
others would be merged key by key. When the groups' keys are disjoint and all lie past the
table's end, :func:`append_interleaved` writes them as one sorted append instead, straight
from the CSV's buffer of entries in key order (:class:`~eir.store.entries.Packed`): each key
gets its own group's value, and each group's counter its own count.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from eir.store.api import LoadSummary, Tick
from eir.store.batch import Group
from eir.store.entries import Packed
from eir.store.records import Table
from eir.store.writes import WriteTxn, append_group, counter_key


def append_interleaved(
    txn: WriteTxn,
    groups: list[Group],
    now: int,
    summary: LoadSummary,
    delta: Counter[str],
    tick: Tick | None,
) -> list[Group]:
    """Append the IMEI groups of a bulk load as one stream when they can be; returns the
    groups left for the caller to write (all of them when this does not apply)."""
    bulk = [
        g
        for g in groups
        if g.table is Table.IMEI and g.numbers is not None and g.keys and g.times is None
    ]  # entries with times (--grace) are written group by group, each with its times
    if len(bulk) < 2:
        return groups
    packed = _one_packed(bulk)
    if packed is None:
        return groups
    return _append_packed(txn, groups, bulk, packed, now, summary, delta, tick)


def _one_packed(bulk: list[Group]) -> Packed | None:
    """The buffer all these groups' entries are, when they are all of one."""
    first = bulk[0].entries
    if first is None:
        return None
    packed = first.packed
    if any(g.entries is None or g.entries.packed is not packed for g in bulk):
        return None
    return packed if sum(len(g.keys) for g in bulk) == packed.count else None


def _append_packed(
    txn: WriteTxn,
    groups: list[Group],
    bulk: list[Group],
    packed: Packed,
    now: int,
    summary: LoadSummary,
    delta: Counter[str],
    tick: Tick | None,
) -> list[Group]:
    numbers = packed.numbers
    last = txn.last_key(Table.IMEI)
    if bool(np.any(numbers[1:] == numbers[:-1])) or (
        last is not None and last >= b"%014d" % int(numbers[0])
    ):
        return groups  # a key in two groups, or a table to merge with: group by group
    stream = Group(Table.IMEI, bulk[0].list, bulk[0].source, packed.keys)
    append_group(txn, stream, 0, packed.values(now), summary, Counter(), tick)
    for group in bulk:
        delta[counter_key(group.table, group.list, group.source)] += len(group.keys)
    return [g for g in groups if not any(g is b for b in bulk)]
