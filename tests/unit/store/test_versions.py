"""Versions: each change's change set in the ``change`` table, versions.keep, the changes
between two versions, and a rollback that makes an earlier version's content again."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from eir.model import ListName
from eir.store.api import HandsetChange, ListStore, Mode
from eir.store.batch import Batch, Group
from eir.store.diff import Change
from eir.store.lmdb_store import LmdbStore
from eir.store.memory import MemoryStore
from eir.store.records import CHANGES, Table
from eir.store.versions import (
    VersionError,
    VersionTxn,
    compose,
    folded,
    kept,
    pack_change,
    rollback_changes,
    unpack_change,
)

B, W = ListName.BLACK, ListName.WHITE
ROLLBACK = HandsetChange("rollback", (), "ana", "wrong file", "", restores=0)


def imeis(*numbers: int) -> list[bytes]:
    return [b"%014d" % (35_000_000_000_000 + n) for n in numbers]


def batch(keys: list[bytes], source: str = "police", list_name: ListName = B) -> Batch:
    group = Group(Table.IMEI, list_name, source, sorted(keys))
    return Batch(groups=[group], files=["f"], rows=len(keys))


@pytest.fixture(params=["lmdb", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LmdbStore | MemoryStore]:
    if request.param == "memory":
        yield MemoryStore(keep_versions=3)
        return
    lmdb_store = LmdbStore(tmp_path / "db", map_size_mb=16, sync=False, keep_versions=3)
    yield lmdb_store
    lmdb_store.close()


def snapshot(store: ListStore) -> tuple[str, dict[str, int]]:
    stats = store.stats()
    return stats.digest, stats.counts


def test_pack_change_round_trips() -> None:
    for old, new in ((None, b"\x01ab"), (b"\x02c", None), (b"x" * 300, b"yz"), (None, b"\xf3z")):
        assert unpack_change(pack_change(old, new)) == (old, new)


def test_folded_keeps_the_first_before_and_the_last_after() -> None:
    log: list[Change] = [
        (b"b", None, b"1"),
        (b"a", b"0", b"2"),
        (b"b", b"1", b"3"),
        (b"c", b"4", b"5"),
    ]
    log.append((b"c", b"5", b"4"))  # back as it was: no change
    assert folded(log) == [(b"a", b"0", b"2"), (b"b", None, b"3")]


def test_rollback_makes_the_content_of_the_version_again(
    store: LmdbStore | MemoryStore,
) -> None:
    store.apply(batch(imeis(1, 2, 3)), Mode.REPLACE, [(B, "police")], now=10)
    after_a = snapshot(store)
    store.apply(batch(imeis(2, 4)), Mode.REPLACE, [(B, "police")], now=20)
    store.apply(batch(imeis(9), "gsma", W), Mode.ADD, [(W, "gsma")], now=30)
    summary, version = store.restore(lambda txn: rollback_changes(txn, 1), ROLLBACK, now=40)
    assert version == 4
    assert (summary.added, summary.removed, summary.updated) == (2, 2, 0)
    assert snapshot(store) == after_a
    history = store.stats().history
    assert [h.action for h in history] == ["load", "load", "load", "rollback"]


def test_compose_and_keep(store: LmdbStore | MemoryStore) -> None:
    for n in range(1, 7):  # versions 1..6, each adding one IMEI
        store.apply(batch(imeis(n)), Mode.ADD, [(B, "police")], now=n)
    if isinstance(store, LmdbStore):
        with store._env.begin() as txn:  # keep 3: the change sets of 4, 5 and 6 are left
            versions = {
                bytes(k[:8]) for k in txn.cursor(db=store._dbs[CHANGES]).iternext(values=False)
            }
        assert versions == {v.to_bytes(8, "big") for v in (4, 5, 6)}
    view = store.snapshot()
    try:
        assert kept(view).first == 4
        changes = compose(view, 3, 6)
        assert [k for k, _, _ in changes["imei"]] == imeis(4, 5, 6)
        dropped = r"version 3's changes were dropped \(the oldest kept is 4; versions.keep = 3 now"
        with pytest.raises(VersionError, match=dropped):
            rollback_changes(view, 2, keep=3)
        assert [key for _, key, _ in rollback_changes(view, 3)] == imeis(4, 5, 6)
    finally:
        view.release()


def test_appends_and_other_writes_fold_in_the_order_made() -> None:
    inner = MemoryStore().snapshot()
    recording = VersionTxn(inner)
    recording.delete_many("imei", [b"1"], [b"r0"])  # gone, then appended again
    recording.append_sorted("imei", [b"1", b"2"], [b"a1", b"a2"])
    recording.put("imei", b"2", b"b2")  # appended, then changed
    recording.append_sorted("range", [b"5"], [b"r5"])
    assert recording.table_log("imei") == [
        (b"1", b"r0", None),
        (b"1", None, b"a1"),
        (b"2", None, b"a2"),
        (b"2", b"a2", b"b2"),
    ]
    prefix = b"v"
    keys, values = recording.packed("imei", prefix)
    assert keys == [b"v1", b"v2"]
    assert list(map(unpack_change, values)) == [(b"r0", b"a1"), (None, b"b2")]
    assert recording.packed("range", prefix) == ([b"v5"], [pack_change(None, b"r5")])


def test_appends_written_as_they_come_fold_with_later_writes(tmp_path: Path) -> None:
    """Two groups of one table in one load: the first appended (and written to the change
    table at once, on LMDB), the second merged into the same keys: the change sets of both
    stores are the same."""
    lmdb_store = LmdbStore(tmp_path / "db", map_size_mb=16, sync=False)
    memory = MemoryStore()
    groups = [
        Group(Table.IMEI, B, "police", imeis(1, 2)),
        Group(Table.IMEI, W, "gsma", imeis(2, 3)),
    ]
    try:
        sets = []
        for store in (lmdb_store, memory):
            store.apply(Batch(groups=groups, rows=4), Mode.ADD, [(B, "police")], now=2)
            view = store.snapshot()
            try:
                sets.append(compose(view, 0, 1))
                assert next(iter(view.items(CHANGES)))[0][:8] == (1).to_bytes(8, "big")
            finally:
                view.release()
            store.restore(lambda txn: rollback_changes(txn, 0), ROLLBACK, now=3)
            assert store.stats().digest == MemoryStore().stats().digest
        assert sets[0] == sets[1]
        assert [(k, old) for k, old, _ in sets[0]["imei"]] == [(k, None) for k in imeis(1, 2, 3)]
    finally:
        lmdb_store.close()


@pytest.mark.parametrize("seed", range(4))
def test_rollback_to_any_kept_version_gives_its_digest(
    store: LmdbStore | MemoryStore, seed: int
) -> None:
    """Random adds, replaces and removes of two sources: a rollback to a kept version gives
    that version's digest back, and rolling back the rollback the newest one's."""
    rng = random.Random(seed)
    digests = {0: store.stats().digest}
    for version in range(1, 6):
        source = rng.choice(["police", "gsma"])
        keys = imeis(*rng.sample(range(40), rng.randint(1, 15)))
        mode = rng.choice([Mode.ADD, Mode.REPLACE, Mode.REMOVE])
        store.apply(batch(keys, source), mode, [(B, source)], now=version)
        digests[version] = store.stats().digest
    base = rng.choice([2, 3, 4])  # keep 3: versions 3, 4 and 5 kept; 2 is the oldest base
    store.restore(lambda txn: rollback_changes(txn, base), ROLLBACK, now=9)
    assert store.stats().digest == digests[base]
    store.restore(lambda txn: rollback_changes(txn, 5), ROLLBACK, now=10)
    assert store.stats().digest == digests[5]
