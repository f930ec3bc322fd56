"""The device and approved tables in both stores: replace semantics, the summary, the history,
the digest, and ``device_index`` rebuilt per generation (the same object until then)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eir.devices.packing import Approved, pack_approved, pack_device
from eir.devices.record import Device
from eir.store.devices import APPROVED, DEVICE
from eir.store.lmdb_store import LmdbStore
from eir.store.memory import MemoryStore

A = Device("35000001", "Acme", "X1", device_type="Smartphone", radio_interface="LTE")
B = Device("35000002", "Tern", "F1", device_type="Feature Phone", radio_interface="GSM")
C = Device("86000003", "Orbit", "M3", device_type="Module", radio_interface="NB-IoT")


@pytest.fixture(params=["lmdb", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LmdbStore | MemoryStore]:
    made: LmdbStore | MemoryStore = (
        LmdbStore(tmp_path / "db", map_size_mb=16, read_snapshot_ms=0)
        if request.param == "lmdb"
        else MemoryStore()
    )
    yield made
    made.close()


def _items(*devices: Device) -> list[tuple[bytes, bytes]]:
    return sorted(map(pack_device, devices))


def test_replace_counts_and_swaps_the_index(store: LmdbStore | MemoryStore) -> None:
    empty = store.device_index()
    assert not empty.has_devices and store.device_stats().digest == ""
    first = store.replace_devices(DEVICE, _items(A, B), source="lab a.csv", files=["a.csv"])
    assert (first.added, first.updated, first.removed, first.unchanged) == (2, 0, 0, 0)
    index = store.device_index()
    assert index.device("35000001") == A and index.size == 2
    assert store.device_index() is index  # cached until the tables change
    changed = B._replace(radio_interface="GSM,LTE")
    second = store.replace_devices(DEVICE, _items(changed, C), source="lab b.csv", files=["b"])
    assert (second.added, second.updated, second.removed, second.unchanged) == (1, 1, 1, 0)
    index = store.device_index()
    assert index.device("35000001") is None and index.device("35000002") == changed
    stats = store.device_stats()
    assert (stats.devices, stats.device_source, stats.device_generation) == (2, "lab b.csv", 2)
    history = store.stats().history
    assert [h.action for h in history] == ["devices", "devices"]
    assert store.stats().counts == {}  # the list tables' counters are not the devices'


def test_approved_and_digest(store: LmdbStore | MemoryStore) -> None:
    store.replace_devices(DEVICE, _items(A, B, C), source="lab", files=[])
    before = store.device_stats().digest
    items = sorted(pack_approved(e) for e in (Approved(tac=A.tac), Approved("", "tern", "f1")))
    summary = store.replace_devices(APPROVED, items, source="approved x", files=[])
    assert summary.added == 2
    index = store.device_index()
    assert index.has_approved and index.approved(A.tac) and index.approved(B.tac)
    assert not index.approved(C.tac)
    assert store.device_stats().digest != before
    dry = store.replace_devices(APPROVED, [], source="approved y", files=[], dry_run=True)
    assert dry.removed == 2 and store.device_stats().approved == 2


def test_both_stores_have_the_same_digest(tmp_path: Path) -> None:
    lmdb_store, memory = LmdbStore(tmp_path / "db", map_size_mb=16), MemoryStore()
    try:
        for made in (lmdb_store, memory):
            made.replace_devices(DEVICE, _items(A, B, C), source="lab", files=[])
        assert lmdb_store.device_stats().digest == memory.device_stats().digest
    finally:
        lmdb_store.close()
