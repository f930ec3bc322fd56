"""List store semantics, the same for LMDB and the in-memory twin."""

from __future__ import annotations

from pathlib import Path

import pytest

from eir.model import Level, ListName
from eir.store.api import ListStore, Mode
from eir.store.lmdb_store import LmdbStore
from eir.store.memory import MemoryStore
from tests.conftest import BatchOf
from tests.support.cli import eir

B, G, W = ListName.BLACK, ListName.GREY, ListName.WHITE
A1, A2, A3 = "49015420323751", "35693803564380", "35345678901234"


def test_add_update_unchanged(store: ListStore, batch_of: BatchOf) -> None:
    first = batch_of(f"imei,reason\n{A1},stolen\n{A2},lost\n", source="police")
    s = store.apply(first, Mode.ADD, [(B, "police")], now=100)
    assert (s.added, s.updated, s.unchanged) == (2, 0, 0)
    again = batch_of(f"imei,reason\n{A1},stolen\n{A2},found?\n{A3},\n", source="police")
    s = store.apply(again, Mode.ADD, [(B, "police")], now=200)
    assert (s.added, s.updated, s.unchanged) == (1, 1, 1)
    hit = store.lookup(A2, None).imei[0]
    assert (hit.entry.reason, hit.entry.added) == ("found?", 200)
    assert store.lookup(A1, None).imei[0].entry.added == 100  # unchanged keeps its time


def test_one_imei_on_several_lists_and_sources(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(f"{A1}\n", source="police-a"), Mode.ADD, [(B, "police-a")])
    store.apply(batch_of(f"{A1}\n", source="police-b"), Mode.ADD, [(B, "police-b")])
    store.apply(batch_of(f"{A1}\n", list=W, source="crm"), Mode.ADD, [(W, "crm")])
    sources = sorted((m.entry.list, m.entry.source) for m in store.lookup(A1, None).imei)
    assert sources == [(B, "police-a"), (B, "police-b"), (W, "crm")]
    stats = store.stats()
    assert stats.counts == {"imei/black/police-a": 1, "imei/black/police-b": 1, "imei/white/crm": 1}


def test_replace_touches_only_its_list_and_source(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(f"{A1}\n{A2}\n", source="police"), Mode.ADD, [(B, "police")])
    store.apply(batch_of(f"{A1}\n", source="other"), Mode.ADD, [(B, "other")])
    store.apply(
        batch_of(f"imei,imei_last\n{A2},{A1}\n", list=G, source="police"), Mode.ADD, [(G, "police")]
    )
    s = store.apply(batch_of(f"{A3}\n", source="police"), Mode.REPLACE, [(B, "police")])
    assert (s.added, s.removed) == (1, 2)
    assert [m.entry.source for m in store.lookup(A1, None).imei] == ["other"]
    assert store.lookup(A2, None).imei == ()
    assert store.lookup(A3, None).imei[0].entry.source == "police"
    assert store.lookup(A1, None).ranges[0].entry.list is G  # grey/police untouched
    assert store.stats().counts["imei/black/police"] == 1


def test_remove(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(f"{A1}\n{A2}\n", source="police"), Mode.ADD, [(B, "police")])
    store.apply(batch_of(f"{A1}\n", source="other"), Mode.ADD, [(B, "other")])
    s = store.apply(batch_of(f"{A1}\n{A3}\n", source="police"), Mode.REMOVE, [(B, "police")])
    assert (s.removed, s.missing, s.unchanged) == (1, 1, 0)  # A3 is not listed
    assert [m.entry.source for m in store.lookup(A1, None).imei] == ["other"]
    s = store.apply(batch_of(f"{A1}\n{A2}\n"), Mode.REMOVE, [(B, "manual")], remove_any_source=True)
    assert s.removed == 2
    assert store.stats().counts == {}


def test_ranges_and_pairs(store: ListStore, batch_of: BatchOf) -> None:
    text = (
        "imei,imei_last,imsi,list\n"
        "35000000000000,35999999999999,,white\n"
        "35690000000000,35699999999999,,grey\n"
        f"{A2},,001010000000001,black\n"
    )
    store.apply(batch_of(text), Mode.ADD, [(B, "manual")])
    hits = store.lookup(A2, "001010000000001")
    assert [m.level for m in hits.pair] == [Level.PAIR]
    assert [(m.key, m.last, m.entry.list) for m in hits.ranges] == [
        ("35690000000000", "35699999999999", G)
    ]
    assert store.lookup(A2, "001010000000002").pair == ()
    assert store.lookup("35100000000000", None).ranges[0].entry.list is W
    assert store.lookup("36000000000000", None).ranges == ()


def test_the_memory_store_sees_each_loads_ranges(batch_of: BatchOf) -> None:
    """It keeps its range index between lookups and rebuilds it after a change (LMDB's own
    lookups are held to a snapshot age: see the test below)."""
    store = MemoryStore()
    store.apply(
        batch_of("imei,imei_last,list\n35690000000000,35699999999999,grey\n"),
        Mode.ADD,
        [(B, "manual")],
    )
    assert store.lookup("35690000000001", None).ranges[0].entry.list is G
    narrower = "imei,imei_last,list\n35690000000000,35690000009999,black\n"
    store.apply(batch_of(narrower), Mode.ADD, [(B, "manual")], dry_run=True)
    assert store.lookup("35690000000001", None).ranges[0].entry.list is G
    store.apply(batch_of(narrower), Mode.ADD, [(B, "manual")])
    assert store.lookup("35690000000001", None).ranges[0].entry.list is B
    store.apply(batch_of(narrower), Mode.REMOVE, [(B, "manual")])
    assert store.lookup("35690000000001", None).ranges[0].entry.list is G


def test_dry_run_changes_nothing(store: ListStore, batch_of: BatchOf) -> None:
    before = store.stats().digest
    s = store.apply(batch_of(f"{A1}\n"), Mode.ADD, [(B, "manual")], dry_run=True)
    assert s.added == 1 and s.dry_run
    assert store.stats().digest == before
    assert store.lookup(A1, None).imei == ()
    assert store.stats().history == []


def test_digest_ignores_order_and_time(tmp_path: Path, batch_of: BatchOf) -> None:
    one, two = MemoryStore(), LmdbStore(tmp_path / "two")
    one.apply(batch_of(f"{A1}\n{A2}\n"), Mode.ADD, [(B, "manual")], now=1)
    one.apply(batch_of(f"{A1}\n", list=W, source="x"), Mode.ADD, [(W, "x")], now=1)
    two.apply(batch_of(f"{A1}\n", list=W, source="x"), Mode.ADD, [(W, "x")], now=50)
    two.apply(batch_of(f"{A2}\n"), Mode.ADD, [(B, "manual")], now=60)
    assert one.stats().digest != two.stats().digest
    two.apply(batch_of(f"{A1}\n"), Mode.ADD, [(B, "manual")], now=70)
    assert one.stats().digest == two.stats().digest
    two.close()


def test_history_and_generation(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(f"{A1}\n", source="p"), Mode.ADD, [(B, "p")], now=5)
    store.apply(batch_of(f"{A1}\n", source="p"), Mode.ADD, [(B, "p")], now=6)
    stats = store.stats()
    assert [(h.seq, h.added, h.unchanged, h.source) for h in stats.history] == [
        (1, 1, 0, "p"),
        (2, 0, 1, "p"),
    ]
    assert stats.generation == 1  # the second load changed nothing


def test_export_round_trip(store: ListStore, batch_of: BatchOf) -> None:
    text = (
        "imei,imei_last,imsi,list,source,reason,reference\n"
        f"{A1},,,black,police,stolen,R1\n"
        f"{A2},,001010000000001,white,crm,owner,\n"
        '35000000000000,35000099999999,,grey,gsma,"review, pending",\n'
    )
    store.apply(batch_of(text), Mode.ADD, [(B, "manual")], now=1234)
    rows = list(store.export())
    assert len(rows) == 3
    assert [r.entry.list for r in store.export(list_name=G)] == [G]
    assert [r.imei for r in store.export(source="police")] == [A1]


@pytest.mark.parametrize("mode", [Mode.ADD, Mode.REPLACE])
def test_merge_path_equals_append_path(tmp_path: Path, batch_of: BatchOf, mode: Mode) -> None:
    """Loading into an empty table (sorted append) and into a full one (merge) agree."""
    fresh, busy = MemoryStore(), MemoryStore()
    busy.apply(batch_of("99999999999994\n", source="z"), Mode.ADD, [(B, "z")])
    busy.apply(batch_of("99999999999994\n", source="z"), Mode.REMOVE, [(B, "z")])
    busy.apply(batch_of("99999999999994\n", source="keep"), Mode.ADD, [(B, "keep")])
    fresh.apply(batch_of("99999999999994\n", source="keep"), Mode.ADD, [(B, "keep")])
    batch = batch_of(f"{A1}\n{A2}\n{A3}\n")
    fresh.apply(batch, mode, [(B, "manual")])
    busy.apply(batch, mode, [(B, "manual")])
    assert fresh.stats().digest == busy.stats().digest


@pytest.mark.parametrize(("age_ms", "sees_it"), [(0, True), (60_000, False)])
def test_lookups_see_a_commit_within_the_snapshot_age(
    tmp_path: Path, age_ms: int, sees_it: bool
) -> None:
    db = tmp_path / "db"
    (tmp_path / "a.txt").write_text(f"{A2}\n")
    (tmp_path / "b.txt").write_text(f"{A1}\n")
    assert eir("load", tmp_path / "a.txt", "--list", "black", "--db", db).returncode == 0
    reader = LmdbStore(db, read_snapshot_ms=age_ms)
    try:
        assert reader.lookup(A1, None).imei == ()
        assert eir("load", tmp_path / "b.txt", "--list", "black", "--db", db).returncode == 0
        assert bool(reader.lookup(A1, None).imei) is sees_it  # another process committed
    finally:
        reader.close()
