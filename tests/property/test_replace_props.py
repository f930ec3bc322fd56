"""`--mode replace` against a naive model of its meaning, for any mix of entries.

The model works on whole entries with plain lists and sets, as the semantics read: each group
adds or updates its keys (an entry of the same list and source with the same reason and
reference is unchanged, else it is updated and takes the load's time; an absent one is added),
then every in-scope entry the batch does not hold is removed; entries of other (list, source)
are never touched. The store must end with the same entries (times included), counters and
summary, in memory and in LMDB, whatever the chunk size of its walk.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eir.model import Entry, ListName
from eir.store import replace as replace_walk
from eir.store.api import ListStore, Mode
from eir.store.batch import Batch, Group
from eir.store.lmdb_store import LmdbStore
from eir.store.memory import MemoryStore
from eir.store.records import LIST_TABLES, Table, pack_tail, unpack_record
from eir.store.writes import counter_key

Owner = tuple[ListName, str]
Content = dict[tuple[Table, bytes], list[Entry]]

SOURCES = ["police", "crm", "x"]
OWNERS: list[Owner] = [(name, source) for name in ListName for source in SOURCES]
NOW = 1_000


def key_of(table: Table, n: int) -> bytes:
    """Keys from a small pool per table, so that loads overlap often; pairs of several widths."""
    imei = b"%014d" % (35_000_000_000_000 + n * 7)
    if table is Table.RANGE:
        return imei + b"%014d" % (35_000_000_000_000 + n * 7 + n % 3)
    if table is Table.PAIR:
        return imei + b"2" * (5 + n % 11)
    return imei


texts = st.sampled_from(["", "stolen", "lost", "é"])
fields = st.tuples(texts, texts, st.sampled_from([0, 0, 7, 500]))


@st.composite
def groups(draw: st.DrawFn, table: Table, owner: Owner) -> Group:
    numbers = draw(st.lists(st.integers(0, 40), max_size=25, unique=True))
    keys = sorted(key_of(table, n) for n in numbers)
    form = draw(st.sampled_from(["plain", "fields", "tails"]))
    if form == "plain" or not keys:
        ints = None
        if table is Table.IMEI and draw(st.booleans()):  # as the loader's fast path gives
            ints = np.array([int(k) for k in keys], dtype=np.int64)
        return Group(table, owner[0], owner[1], keys, numbers=ints)
    rows = draw(st.lists(fields, min_size=len(keys), max_size=len(keys)))
    if form == "fields":
        return Group(table, owner[0], owner[1], keys, fields=rows)
    parts = [pack_tail(b"", reason, reference) for reason, reference, _ in rows]
    ends = [sum(len(p) for p in parts[: i + 1]) for i in range(len(parts))]
    starts = [end - len(p) for end, p in zip(ends, parts, strict=True)]
    return Group(table, owner[0], owner[1], keys, tails=(b"".join(parts), starts, ends))


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    """Groups of distinct (table, list, source), in the loader's order."""
    slots = draw(
        st.lists(
            st.tuples(st.sampled_from(LIST_TABLES), st.sampled_from(OWNERS)),
            max_size=5,
            unique=True,
        )
    )
    slots.sort(key=lambda s: (list(Table).index(s[0]), s[1][0], s[1][1]))
    batch = Batch(groups=[draw(groups(table, owner)) for table, owner in slots], files=["f"])
    batch.rows = sum(len(g.keys) for g in batch.groups)
    return batch


def content_of(store: ListStore) -> Content:
    out: Content = {}
    for row in store.export():
        key = (row.imei + (row.last or "") + (row.imsi or "")).encode()
        out.setdefault((row.table, key), []).append(row.entry)
    return out


def model_replace(
    before: Content, batch: Batch, scope: set[Owner], now: int
) -> tuple[Content, Counter[str]]:
    content = {k: list(v) for k, v in before.items()}
    summary: Counter[str] = Counter()
    for group in batch.groups:
        for key, value in zip(group.keys, group.values(now), strict=True):
            new = unpack_record(value)[0]
            entries = content.setdefault((group.table, key), [])
            for index, entry in enumerate(entries):
                if (entry.list, entry.source) == (group.list, group.source):
                    if (entry.reason, entry.reference) == (new.reason, new.reference):
                        summary["unchanged"] += 1
                    else:
                        entries[index] = new
                        summary["updated"] += 1
                    break
            else:
                entries.append(new)
                summary["added"] += 1
    kept = {(g.table, g.list, g.source): set(g.keys) for g in batch.groups}
    for (table, key), entries in list(content.items()):
        survivors = [
            e
            for e in entries
            if (e.list, e.source) not in scope or key in kept.get((table, e.list, e.source), set())
        ]
        summary["removed"] += len(entries) - len(survivors)
        if survivors:
            content[(table, key)] = survivors
        else:
            del content[(table, key)]
    return content, summary


def counts_of(content: Content) -> dict[str, int]:
    out: Counter[str] = Counter()
    for (table, _), entries in content.items():
        for entry in entries:
            out[counter_key(table, entry.list, entry.source)] += 1
    return dict(out)


@contextmanager
def chunk_size(size: int) -> Iterator[None]:
    saved = replace_walk.CHUNK
    replace_walk.CHUNK = size
    try:
        yield
    finally:
        replace_walk.CHUNK = saved


def check(
    store: ListStore, before_loads: list[Batch], batch: Batch, extra: list[Owner], chunk: int
) -> None:
    for number, load in enumerate(before_loads):
        store.apply(
            load, Mode.ADD, sorted({(g.list, g.source) for g in load.groups}), now=10 + number
        )
    before = content_of(store)
    scope_list = [*sorted({(g.list, g.source) for g in batch.groups}), *extra]
    scope_list = list(dict.fromkeys(scope_list)) or [OWNERS[0]]
    expected, counts = model_replace(before, batch, set(scope_list), NOW)
    with chunk_size(chunk):
        summary = store.apply(batch, Mode.REPLACE, scope_list, now=NOW)
    assert content_of(store) == expected
    assert (summary.added, summary.updated, summary.removed, summary.unchanged) == (
        counts["added"],
        counts["updated"],
        counts["removed"],
        counts["unchanged"],
    )
    stats = store.stats()
    assert stats.counts == counts_of(expected)
    last = stats.history[-1]
    assert (last.mode, last.added, last.removed) == ("replace", summary.added, summary.removed)


loads = st.lists(batches(), max_size=3)
extras = st.lists(st.sampled_from(OWNERS), max_size=2)
chunks = st.sampled_from([1, 2, 3, 5, 64, 1 << 15])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loads, batches(), extras, chunks)
def test_replace_in_memory_matches_the_model(
    before: list[Batch], batch: Batch, extra: list[Owner], chunk: int
) -> None:
    check(MemoryStore(), before, batch, extra, chunk)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loads, batches(), extras, chunks)
def test_replace_in_lmdb_matches_the_model(
    before: list[Batch], batch: Batch, extra: list[Owner], chunk: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = LmdbStore(folder, map_size_mb=4, sync=False)
        try:
            check(store, before, batch, extra, chunk)
        finally:
            store.close()
