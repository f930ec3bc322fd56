"""The ``class`` table, the same for LMDB and the in-memory twin: a class written whole by
``class_batch`` + ``class_scope``, held in memory for lookups, counted, digested, exported
apart, and never touched by a list load (even of a source named like the class)."""

from __future__ import annotations

import json
from pathlib import Path

import lmdb
import pytest

from eir.errors import StoreError
from eir.model import Level, ListName, StoreClass
from eir.store.api import ListStore, Mode
from eir.store.classes import ClassRow, class_batch, class_rows, class_scope
from eir.store.lmdb_store import LmdbStore
from eir.store.records import Table
from tests.conftest import BatchOf

DUP = StoreClass.DUPLICATE
A1, A2, A3 = "49015420323751", "35693803564380", "35345678901234"
FIG = json.dumps({"average": 4.2, "days": 12}, separators=(",", ":"))


def _write(store: ListStore, rows: list[ClassRow], now: int = 1000) -> tuple[int, int, int]:
    s = store.apply(class_batch(DUP, rows), Mode.REPLACE, class_scope(DUP), now=now)
    return s.added, s.updated, s.removed


def test_a_class_is_written_whole_and_looked_up(store: ListStore) -> None:
    assert _write(store, [ClassRow(A2, "dirbs", FIG, 900), ClassRow(A1, "dirbs", "{}", 0)]) == (
        2,
        0,
        0,
    )
    (match,) = store.lookup(A2, None).classes
    assert match.level is Level.CLASS and match.key == A2
    assert (match.entry.source, match.entry.reason, match.entry.reference) == (DUP, "dirbs", FIG)
    assert match.entry.added == 900 and match.entry.list is ListName.GREY
    assert store.lookup(A1, None).classes[0].entry.added == 1000  # 0: when applied
    assert store.lookup(A3, None).classes == ()
    assert class_rows(store, DUP) == [
        ClassRow(A2, "dirbs", FIG, 900),
        ClassRow(A1, "dirbs", "{}", 1000),
    ]
    # the next detection replaces the class: A1 stays (its time too), A2 goes, A3 comes
    assert _write(store, [ClassRow(A3, "peru", "{}", 0), ClassRow(A1, "dirbs", "{}", 0)], 2000) == (
        1,
        0,
        1,
    )
    assert class_rows(store, DUP) == [
        ClassRow(A3, "peru", "{}", 2000),
        ClassRow(A1, "dirbs", "{}", 1000),
    ]
    assert _write(store, [], 3000) == (0, 0, 2)  # no duplicates left: the class is empty
    assert class_rows(store, DUP) == []


def test_counted_and_digested_apart_from_the_lists(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(f"{A1}\n", source="police"), Mode.ADD, [(ListName.BLACK, "police")])
    before = store.stats()
    _write(store, [ClassRow(A1, "dirbs", FIG, 0)])
    stats = store.stats()
    assert stats.counts == {"imei/black/police": 1, "class/grey/duplicate": 1}
    assert stats.per_list() == {"black": 1}
    assert stats.per_table() == {"imei": 1, "class": 1}
    assert stats.per_class() == {"duplicate": 1}
    assert stats.digest != before.digest
    _write(store, [])
    assert store.stats().digest == before.digest  # an empty class table: the digest of before


def test_export_keeps_lists_and_classes_apart(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(f"{A1}\n", source="police"), Mode.ADD, [(ListName.BLACK, "police")])
    _write(store, [ClassRow(A2, "dirbs", FIG, 0)])
    assert [(r.table, r.imei) for r in store.export()] == [(Table.IMEI, A1)]
    assert [(r.table, r.imei) for r in store.export(classes=True)] == [(Table.CLASS, A2)]


def test_a_list_source_named_like_the_class_is_its_own(store: ListStore, batch_of: BatchOf) -> None:
    _write(store, [ClassRow(A1, "dirbs", FIG, 0)])
    grey = ListName.GREY
    s = store.apply(
        batch_of(f"{A2}\n", list=grey, source="duplicate"), Mode.REPLACE, [(grey, "duplicate")]
    )
    assert (s.added, s.removed) == (1, 0)
    assert [r.imei for r in class_rows(store, DUP)] == [A1]
    s = store.apply(
        batch_of("imei\n", list=grey, source="duplicate"), Mode.REPLACE, [(grey, "duplicate")]
    )
    assert (s.added, s.removed) == (0, 1)  # the list source emptied, the class kept
    assert [r.imei for r in class_rows(store, DUP)] == [A1]
    _write(store, [])
    assert store.lookup(A2, None).imei == ()


def test_a_class_replace_leaves_the_lists(store: ListStore, batch_of: BatchOf) -> None:
    grey = ListName.GREY
    store.apply(batch_of(f"{A1}\n", list=grey, source="duplicate"), Mode.ADD, [(grey, "duplicate")])
    _write(store, [ClassRow(A2, "dirbs", FIG, 0)])
    assert store.lookup(A1, None).imei[0].entry.source == "duplicate"
    assert store.stats().counts == {"imei/grey/duplicate": 1, "class/grey/duplicate": 1}


def test_bad_rows_are_refused() -> None:
    with pytest.raises(StoreError, match="not a 14-digit IMEI"):
        class_batch(DUP, [ClassRow("123", "dirbs", "{}", 0)])
    with pytest.raises(StoreError, match="figures longer than 255 octets"):
        class_batch(DUP, [ClassRow(A1, "dirbs", "x" * 256, 0)])


def test_first_row_of_an_imei_wins() -> None:
    batch = class_batch(DUP, [ClassRow(A1, "dirbs", "{}", 0), ClassRow(A1, "peru", "{}", 0)])
    (group,) = batch.groups
    assert group.keys == [A1.encode()] and group.fields == [("dirbs", "{}", 0)]


def test_a_store_older_than_the_class_table(tmp_path: Path) -> None:
    path = tmp_path / "old"
    env = lmdb.open(str(path), max_dbs=8)
    for name in ("imei", "range", "pair", "meta"):
        db = env.open_db(name.encode())
        if name == "meta":
            with env.begin(write=True) as txn:
                txn.put(b"generation", b"1", db=db)
    env.close()
    store = LmdbStore(path, create=False)
    try:
        assert store.lookup(A1, None).classes == ()
        assert class_rows(store, DUP) == []
        _write(store, [ClassRow(A1, "dirbs", FIG, 0)])
        assert [r.imei for r in class_rows(store, DUP)] == [A1]
    finally:
        store.close()


def test_the_lmdb_lookup_sees_a_new_class(tmp_path: Path) -> None:
    """The in-memory class index is renewed with the read snapshot when the table changes."""
    store = LmdbStore(tmp_path / "db", map_size_mb=16, read_snapshot_ms=0)
    try:
        assert store.lookup(A1, None).classes == ()
        _write(store, [ClassRow(A1, "dirbs", FIG, 0)])
        assert store.lookup(A1, None).classes[0].entry.reason == "dirbs"
        _write(store, [ClassRow(A2, "dirbs", FIG, 0)])
        assert store.lookup(A1, None).classes == ()
        assert store.lookup(A2, None).classes[0].key == A2
    finally:
        store.close()
