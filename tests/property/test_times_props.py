"""Entries with and without times, end to end in the store (issue 18): random entries packed
and unpacked, added then replaced (the replace's fast numpy paths and its exact path agree with
a plain model), diffed (every changed entry is one row with its times) and exported, then
loaded again to the same digest."""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import given, settings
from hypothesis import strategies as st

from eir.model import Entry, ListName
from eir.store.api import Mode
from eir.store.batch import Batch, Group
from eir.store.diff import Change, diff_rows
from eir.store.lmdb_store import LmdbStore
from eir.store.records import Table, pack_record, unpack_record
from eir.store.times import time_text

B = ListName.BLACK
#: (effective, expires) an entry may have
TIMES = st.sampled_from([(0, 0), (0, 0), (1_797_292_800, 0), (0, 1_798_761_600), (5, 9)])
#: key index -> (reason, times)
ROWS = st.dictionaries(st.integers(0, 40), st.tuples(st.sampled_from(["", "lost"]), TIMES))


def _group(rows: dict[int, tuple[str, tuple[int, int]]]) -> Group:
    keys = sorted(rows)
    group = Group(
        Table.IMEI,
        B,
        "p",
        [b"%014d" % (35_000_000_000_000 + k) for k in keys],
        fields=[(rows[k][0], "", 0) for k in keys],
    )
    group.times = [rows[k][1] for k in keys]
    group.__post_init__()
    return group


def _content(store: LmdbStore) -> dict[str, tuple[str, int, int]]:
    return {
        row.imei: (row.entry.reason, row.entry.effective, row.entry.expires)
        for row in store.export(B, "p")
    }


def _model(rows: dict[int, tuple[str, tuple[int, int]]]) -> dict[str, tuple[str, int, int]]:
    return {f"{35_000_000_000_000 + k:014d}": (r, *times) for k, (r, times) in rows.items()}


@given(st.lists(st.tuples(st.sampled_from(list(ListName)), TIMES), min_size=1, max_size=4))
def test_pack_unpack(entries: list[tuple[ListName, tuple[int, int]]]) -> None:
    made = [
        Entry(name, f"s{n}", "r", "", 7, None, *times) for n, (name, times) in enumerate(entries)
    ]
    assert unpack_record(pack_record(made)) == made


@settings(max_examples=40, deadline=None)
@given(ROWS, ROWS, st.sampled_from([Mode.ADD, Mode.REPLACE]))
def test_add_replace_diff_export(
    first: dict[int, tuple[str, tuple[int, int]]],
    second: dict[int, tuple[str, tuple[int, int]]],
    mode: Mode,
) -> None:
    with TemporaryDirectory() as folder:
        store = LmdbStore(Path(folder) / "db", map_size_mb=8)
        again = LmdbStore(Path(folder) / "again", map_size_mb=8)
        try:
            store.apply(Batch(groups=[_group(first)]), Mode.ADD, [(B, "p")], now=1)
            assert _content(store) == _model(first)
            changes: dict[str, list[Change]] = {}
            store.apply(Batch(groups=[_group(second)]), mode, [(B, "p")], now=2, changes=changes)
            expected = _model(first if mode is Mode.ADD else {}) | _model(second)
            assert _content(store) == expected
            before, after = _model(first), _model(second)
            rows = {(r[0], r[1], r[6], r[8], r[9]) for r in diff_rows(changes)}
            wanted = {
                ("added" if imei not in before else "updated", imei, v[0], *map(time_text, v[1:]))
                for imei, v in after.items()
                if before.get(imei) != v
            }
            if mode is Mode.REPLACE:
                wanted |= {
                    ("removed", imei, v[0], *map(time_text, v[1:]))
                    for imei, v in before.items()
                    if imei not in after
                }
            assert rows == wanted
            exported = {
                int(imei) - 35_000_000_000_000: (reason, (effective, expires))
                for imei, (reason, effective, expires) in _content(store).items()
            }
            again.apply(Batch(groups=[_group(exported)]), Mode.ADD, [(B, "p")], now=3)
            assert again.stats().digest == store.stats().digest
        finally:
            store.close()
            again.close()
