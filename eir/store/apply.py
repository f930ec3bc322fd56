"""A :class:`~eir.store.batch.Batch` applied in the caller's write transaction: the writes of
its mode (:mod:`eir.store.writes` for add and remove, :mod:`eir.store.replace` for replace),
then the counters, generations and load history (:func:`update_meta`). Both stores apply a load
through here, so they share one meaning of each mode. The caller commits or aborts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable

from eir.model import ListName
from eir.store.api import LoadSummary, Mode, Tick
from eir.store.batch import Batch
from eir.store.guard import RemoveLimit, check_removals
from eir.store.pair_limit import check_pairs
from eir.store.records import META, Table
from eir.store.writes import WriteTxn, append_group, merge_add, remove


def apply_batch(
    txn: WriteTxn,
    batch: Batch,
    mode: Mode,
    scope: Iterable[tuple[ListName, str]],
    now: int,
    *,
    remove_any_source: bool = False,
    tick: Tick | None = None,
    max_remove: RemoveLimit | None = None,
    max_pairs: int = 0,
) -> tuple[LoadSummary, Counter[str]]:
    """Apply ``batch`` in ``txn``. Returns the summary and the change of each entry counter.

    ``scope`` is the set of (list, source) a replace covers; ``remove_any_source`` makes a
    remove delete the list's entries whatever their source; ``tick(rows)`` reports progress;
    ``max_remove`` refuses a replace that removes more (:mod:`eir.store.guard`: the caller
    aborts the transaction); ``max_pairs`` (``pairs.max_per_imei``, 0: none) refuses, before
    anything is written, a load that leaves an IMEI with more white pairs
    (:mod:`eir.store.pair_limit`).
    """
    scope = list(scope)
    if max_pairs:
        check_pairs(txn, batch, mode, scope, max_pairs)
    summary = LoadSummary(invalid=batch.invalid, duplicates=batch.duplicates, rows=batch.rows)
    delta: Counter[str] = Counter()
    if mode is Mode.REPLACE:
        from eir.store.replace import replace_groups  # numpy: only where a replace runs

        removed: Counter[str] = Counter()
        replace_groups(txn, batch.groups, set(scope), now, summary, delta, tick, removed)
        if max_remove is not None:
            check_removals(txn, removed, max_remove)
        return summary, delta
    groups = batch.groups
    if mode is Mode.ADD and sum(g.numbers is not None for g in groups) > 1:
        from eir.store.interleave import append_interleaved  # numpy: a bulk load's groups

        groups = append_interleaved(txn, groups, now, summary, delta, tick)
    for group in groups:
        if not group.keys:
            continue
        if mode is Mode.REMOVE:
            remove(txn, group, summary, delta, remove_any_source)
            continue
        last = txn.last_key(group.table)
        if last is None or last < group.keys[0]:
            append_group(txn, group, 0, group.values(now), summary, delta, tick)
        else:
            merge_add(txn, group, now, summary, delta, tick)
    return summary, delta


def update_meta(
    txn: WriteTxn,
    summary: LoadSummary,
    delta: Counter[str],
    batch: Batch,
    mode: Mode,
    scope: list[tuple[ListName, str]],
    stamp: int,
    touched: Iterable[str] = (),
) -> int:
    """Counters, generations and the load history, in the load's own transaction. Returns
    the history record's sequence number: the version the change makes.

    The history names the first (list, source) of ``scope``: the command line's own; none
    without a scope (a rollback, a purge, a case action that wrote no entry).
    ``touched``: tables written besides those of ``batch``'s groups (a restore's).
    """
    first = (scope[0][0].value, scope[0][1]) if scope else ("", "")
    record = {
        "time": stamp,
        "mode": mode.value,
        "list": first[0],
        "source": first[1],
        "files": batch.files,
    }
    touched = {g.table for g in batch.groups} | {Table(t) for t in touched}
    for name, change in delta.items():
        if change:
            key = b"count\x00" + name.encode()
            old = txn.get(META, key)
            value = (int(old) if old else 0) + change
            if value:
                txn.put(META, key, str(value).encode())
            else:
                txn.delete(META, key)
    changed = summary.added + summary.updated + summary.removed > 0
    if changed:
        for name in ["generation", *(f"generation:{t}" for t in touched)]:
            old = txn.get(META, name.encode())
            txn.put(META, name.encode(), str((int(old) if old else 0) + 1).encode())
    seq_raw = txn.get(META, b"history-seq")
    seq = (int(seq_raw) if seq_raw else 0) + 1
    txn.put(META, b"history-seq", str(seq).encode())
    history = dict(
        record,
        seq=seq,
        added=summary.added,
        updated=summary.updated,
        removed=summary.removed,
        unchanged=summary.unchanged,
        invalid=summary.invalid,
        duplicates=summary.duplicates,
        missing=summary.missing,
    )
    by_hand = batch.change
    if by_hand is not None:
        history.update(
            action=by_hand.action,
            imeis=list(by_hand.imeis),
            by=by_hand.by,
            reason=by_hand.reason,
            reference=by_hand.reference,
            origin=by_hand.origin,
            node=by_hand.node,
            case=by_hand.case,
            update=by_hand.update,
            restores=by_hand.restores,
        )
    txn.put(META, b"history\x00%012d" % seq, json.dumps(history, sort_keys=True).encode())
    return seq
