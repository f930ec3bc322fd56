"""`--mode replace` as a merge walk: atomic, retried on a full map, same answer at any size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from eir.errors import StoreError
from eir.model import ListName
from eir.store import replace as walk
from eir.store.api import ListStore, Mode
from eir.store.batch import Batch, Group
from eir.store.lmdb_store import LmdbStore
from eir.store.memory import MemoryStore
from eir.store.records import Table, pack_entry

B = ListName.BLACK
SCOPE = [(B, "police")]


def imeis(first: int, count: int, step: int = 1) -> list[bytes]:
    return [b"%014d" % (35_000_000_000_000 + first + i * step) for i in range(count)]


def batch(keys: list[bytes], source: str = "police") -> Batch:
    return Batch(groups=[Group(Table.IMEI, B, source, sorted(keys))], files=["f"], rows=len(keys))


def content(store: ListStore) -> list[tuple[str, str, str, int]]:
    return [(r.imei, r.entry.source, r.entry.reason, r.entry.added) for r in store.export()]


def test_a_full_map_is_grown_and_the_replace_retried(tmp_path: Path) -> None:
    lmdb_store = LmdbStore(tmp_path / "db", map_size_mb=1, max_map_size_mb=64, sync=False)
    memory = MemoryStore()
    old, new = imeis(0, 40_000, 3), imeis(1, 40_000, 2)  # half the new keys interleave
    try:
        for store in (lmdb_store, memory):
            store.apply(batch(old[:20_000]), Mode.ADD, SCOPE, now=1)
            store.apply(batch(old, source="other"), Mode.ADD, [(B, "other")], now=2)
        first = lmdb_store._env.info()["map_size"]
        summaries = [s.apply(batch(new), Mode.REPLACE, SCOPE, now=3) for s in (lmdb_store, memory)]
        assert lmdb_store._env.info()["map_size"] > first  # the replace grew it
        assert summaries[0].line().split(";")[0] == summaries[1].line().split(";")[0]
        assert content(lmdb_store) == content(memory)
        assert lmdb_store.stats().counts == memory.stats().counts
    finally:
        lmdb_store.close()


def raw(store: LmdbStore) -> dict[str, list[tuple[bytes, bytes]]]:
    with store._env.begin() as txn:
        return {name: list(txn.cursor(db=db)) for name, db in store._dbs.items()}


def test_a_damaged_record_fails_the_replace_and_changes_nothing(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "db", map_size_mb=16, sync=False)
    try:
        store.apply(batch(imeis(0, 5_000)), Mode.ADD, SCOPE, now=1)
        damaged = imeis(0, 1, 1)[0][:-1] + b"9"  # not in the batch below: the walk reads it
        with store._env.begin(write=True) as txn:
            two = pack_entry(B, "police", "", "", 1) + b"\xff\x00"
            txn.put(damaged, two, db=store._dbs[Table.IMEI])
        before = raw(store)
        with pytest.raises(StoreError, match="damaged record"):
            store.apply(batch(imeis(100, 5_000)), Mode.REPLACE, SCOPE, now=2)
        assert raw(store) == before
    finally:
        store.close()


@pytest.mark.parametrize("chunk", [7, 1 << 15])
def test_many_rows_against_the_memory_twin(
    tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More rows than a chunk: other sources on the same keys, reasons that change, keys gone
    and new, on both sides of the table's ends."""
    monkeypatch.setattr(walk, "CHUNK", chunk)
    lmdb_store = LmdbStore(tmp_path / "db", map_size_mb=64, sync=False)
    memory = MemoryStore()
    old = imeis(1_000, 3_000, 5)
    new = imeis(0, 4_000, 4)
    fields = [("stolen" if i % 3 else "", "", 0) for i in range(len(new))]
    replace = Batch(groups=[Group(Table.IMEI, B, "police", new, fields=fields)], files=["f"])
    try:
        for store in (lmdb_store, memory):
            store.apply(batch(old), Mode.ADD, SCOPE, now=1)
            store.apply(batch(old[::2], source="other"), Mode.ADD, [(B, "other")], now=1)
        results = [s.apply(replace, Mode.REPLACE, SCOPE, now=2) for s in (lmdb_store, memory)]
        counts = [(r.added, r.updated, r.removed, r.unchanged) for r in results]
        assert counts[0] == counts[1]
        assert sum(counts[0]) > 0 and counts[0][1] and counts[0][2] and counts[0][3]
        assert content(lmdb_store) == content(memory)
        assert lmdb_store.stats().counts == memory.stats().counts
    finally:
        lmdb_store.close()


def test_keys_as_numbers_only_when_all_digits_of_one_length() -> None:
    def strings(keys: list[bytes]) -> npt.NDArray[np.bytes_]:
        return np.array(keys, dtype=f"S{max(map(len, keys)) + 1}")

    same = [b"00000000000001", b"35000000000000", b"99999999999999"]
    numbers = walk.as_numbers(strings(same))
    assert numbers is not None and numbers.tolist() == [int(k) for k in same]
    assert walk.as_numbers(strings([b"123", b"12"])) is None  # a shorter key: NUL padded
    assert walk.as_numbers(strings([b"12a", b"123"])) is None
    assert walk.as_numbers(strings([b"1" * 19])) is None  # past int64's digits


@pytest.mark.parametrize("chunk", [3, 1 << 15])
def test_progress_counts_every_row(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walk, "CHUNK", chunk)
    store = MemoryStore()
    store.apply(batch(imeis(0, 50, 2)), Mode.ADD, SCOPE, now=1)
    groups = [
        Group(Table.IMEI, B, "police", imeis(0, 40, 3)),
        Group(Table.IMEI, B, "x", imeis(30, 40, 1)),
        Group(Table.IMEI, ListName.GREY, "police", imeis(200, 10)),
    ]
    ticks: list[int] = []
    store.apply(
        Batch(groups=groups, files=["f"]),
        Mode.REPLACE,
        [(B, "police"), (B, "x"), (ListName.GREY, "police")],
        tick=ticks.append,
    )
    assert sum(ticks) == 90 and min(ticks) >= 0
