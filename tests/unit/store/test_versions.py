"""Versions: each change's change set in the ``change`` table, versions.keep, the changes
between two versions, and a rollback that makes an earlier version's content again."""

from __future__ import annotations

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
    for old, new in ((None, b"\x01ab"), (b"\x02c", None), (b"x" * 300, b"yz"), (b"", b"")):
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
        with pytest.raises(VersionError, match="version 3's changes are no longer kept"):
            rollback_changes(view, 2, keep=3)
        assert [key for _, key, _ in rollback_changes(view, 3)] == imeis(4, 5, 6)
    finally:
        view.release()
