"""Issue 18's distribution, sans-IO and against LMDB: the audit an update carries, restore
updates (EIRR1) checked whole on decode, and the follower's two paths around a snapshot."""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from eir.model import ListName
from eir.publish.apply_update import apply_snapshot, apply_update
from eir.publish.lists import (
    Apply,
    Head,
    ListFollower,
    Subscribe,
    Unsubscribe,
    decode_head,
    head_topic,
    log_filter,
    part_topic,
    snapshot_filter,
    snapshot_topic,
)
from eir.publish.restore_publish import Records, in_order, whole_content
from eir.publish.restore_update import (
    MAGIC_RESTORE,
    RestoreUpdate,
    decode_blob,
    encode_restore,
)
from eir.publish.update import UpdateError, decode_update, encode_update, split_parts
from eir.store.api import Mode
from eir.store.lmdb_store import LmdbStore
from eir.store.records import Table, pack_entry
from tests.unit.publish.test_distribution import PREFIX, batch_of, meta

UID = "cd" * 16


def record(reason: str = "stolen") -> bytes:
    return pack_entry(ListName.BLACK, "police", reason, "PR-1", 5)


def test_an_update_carries_its_audit_and_an_older_one_reads_with_defaults(
    tmp_path: Path,
) -> None:
    audited = meta(by="bob", reason="batch", reference="T-7", node="hq", action="load")
    decoded, _ = decode_update(encode_update(batch_of(tmp_path), audited))
    assert (decoded.by, decoded.reason, decoded.reference, decoded.node) == (
        "bob",
        "batch",
        "T-7",
        "hq",
    )
    # an update written before the audit fields has none of them in its description
    plain = encode_update(batch_of(tmp_path), meta())
    described = zlib.decompress(plain).split(b"\n")[1]
    assert b'"by"' not in described and b'"restores"' not in described
    older, _ = decode_update(plain)
    assert (older.by, older.action, older.restores) == ("", "", 0)


def test_a_bad_audit_field_refuses_the_update(tmp_path: Path) -> None:
    with pytest.raises(UpdateError, match="by must be text"):
        decode_update(encode_update(batch_of(tmp_path), meta(by="x" * 300)))


def restore_of(*records: tuple[str, bytes, bytes | None], snapshot: bool = False) -> bytes:
    return encode_restore(
        RestoreUpdate(list(records), snapshot), meta(2, action="rollback", restores=1)
    )


def test_a_restore_update_survives_encoding_and_decoding() -> None:
    records = [
        ("imei", b"35693803564380", record()),
        ("imei", b"49015420323751", None),
        ("device", b"35693803", None),
    ]
    decoded_meta, content = decode_blob(restore_of(*records))
    assert isinstance(content, RestoreUpdate) and not content.snapshot
    assert content.records == records
    assert (decoded_meta.action, decoded_meta.restores) == ("rollback", 1)


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([("imei", b"3569380356438", record())], "not a imei key"),
        ([("imei", b"35693803564380", b"\x01\x02")], "a damaged record"),
        ([("imei", b"49015420323751", record()), ("imei", b"35693803564380", None)], "sorted"),
        ([("device", b"35693803", b"junk")], "a damaged record"),
    ],
)
def test_a_damaged_restore_is_refused_whole(
    records: list[tuple[str, bytes, bytes | None]], message: str
) -> None:
    with pytest.raises(UpdateError, match=message):
        decode_blob(restore_of(*records))


def test_a_snapshot_holds_no_deletion_and_no_unknown_table() -> None:
    with pytest.raises(UpdateError, match="deletion marker"):
        decode_blob(restore_of(("imei", b"35693803564380", None), snapshot=True))
    head = json.dumps(
        asdict(meta(2)) | {"groups": [{"table": "meta", "count": 1}], "snapshot": False}
    )
    forged = zlib.compress(MAGIC_RESTORE + head.encode() + b"\n")
    with pytest.raises(UpdateError, match="not a valid group description"):
        decode_blob(forged)


# -- the follower around a snapshot -----------------------------------------------------------


def snapshot_parts(seq: int, records: list[tuple[str, bytes, bytes | None]]) -> list[bytes]:
    blob = encode_restore(RestoreUpdate(records, True), meta(seq, id=UID, action="snapshot"))
    return split_parts(blob, seq, bytes.fromhex(UID), part_size=64)


def snapshot_head(seq: int, snapshot: int, parts: int) -> bytes:
    return Head(seq, "ab" * 16, 1, 1, 0, snapshot, UID, parts).payload()


def test_a_node_behind_the_snapshot_loads_it_then_follows_the_log() -> None:
    f = ListFollower(PREFIX, applied=0, fetch_timeout=10)
    parts = snapshot_parts(3, [("imei", b"35693803564380", record())])
    assert f.message(head_topic(PREFIX), snapshot_head(4, 3, len(parts)), 0) == [
        Subscribe(snapshot_filter(PREFIX))
    ]
    # a part of an older snapshot (another id) is ignored
    stale = split_parts(b"x", 3, bytes.fromhex("ef" * 16))[0]
    assert f.message(snapshot_topic(PREFIX, 0), stale, 0) == []
    out: list[object] = []
    for index, part in enumerate(parts):
        out = list(f.message(snapshot_topic(PREFIX, index), part, 0))
    assert out[0] == Unsubscribe(snapshot_filter(PREFIX))
    applying = out[1]
    assert isinstance(applying, Apply) and applying.snapshot and applying.seq == 3
    # loaded: the log goes on from #4
    assert f.applied_ok(3, 1) == [Subscribe(log_filter(PREFIX, 4))]


def test_a_node_at_or_past_the_snapshot_keeps_replaying_the_log() -> None:
    f = ListFollower(PREFIX, applied=3, fetch_timeout=10)
    assert f.message(head_topic(PREFIX), snapshot_head(5, 3, 2), 0) == [
        Subscribe(log_filter(PREFIX, 4))
    ]
    assert f.message(part_topic(PREFIX, 4, 0), b"", 0) == []


def test_a_head_names_its_snapshot_and_an_older_head_reads_without() -> None:
    head = decode_head(snapshot_head(5, 3, 2))
    assert (head.snapshot, head.snapshot_id, head.snapshot_parts) == (3, UID, 2)
    assert decode_head(Head(5, "ab" * 16, 1, 1).payload()).snapshot == 0
    assert b"snapshot" not in Head(5, "ab" * 16, 1, 1).payload()
    with pytest.raises(UpdateError, match="snapshot out of range"):
        decode_head(snapshot_head(2, 3, 1))


# -- applied into LMDB ------------------------------------------------------------------------


def test_a_snapshot_loaded_makes_the_same_content_and_history(tmp_path: Path) -> None:
    source = LmdbStore(tmp_path / "source", map_size_mb=8)
    fresh = LmdbStore(tmp_path / "fresh", map_size_mb=8)
    stale = LmdbStore(tmp_path / "stale", map_size_mb=8)
    try:
        source.apply(batch_of(tmp_path), Mode.ADD, [(ListName.BLACK, "police")], now=7)
        # a node with other entries and an older version: replaced whole
        stale.apply(
            batch_of(tmp_path, "imei\n861234561234561\n"),
            Mode.ADD,
            [(ListName.BLACK, "police")],
            now=7,
        )
        view = source.snapshot()
        try:
            records = whole_content(view)
        finally:
            view.release()
        blob = encode_restore(RestoreUpdate(records, True), meta(3, action="snapshot", by="c"))
        for store in (fresh, stale):
            applied_meta, summary = apply_snapshot(store, PREFIX, 3, blob)
            assert summary is not None and applied_meta.seq == 3
            stats = store.stats()
            assert stats.digest == source.stats().digest
            assert stats.counts == source.stats().counts
            last = stats.history[-1]
            assert (last.action, last.origin, last.by, last.update) == (
                "snapshot",
                "update",
                "c",
                3,
            )
        # again: the store is at #3 already, nothing changes
        assert apply_snapshot(fresh, PREFIX, 3, blob)[1] is None
        # a snapshot is not an update of the log
        with pytest.raises(UpdateError, match="is a snapshot"):
            apply_update(fresh, PREFIX, 4, replace_seq(blob, 4))
    finally:
        for store in (source, fresh, stale):
            store.close()


def replace_seq(blob: bytes, seq: int) -> bytes:
    _, content = decode_blob(blob)
    assert isinstance(content, RestoreUpdate)
    return encode_restore(content, replace(meta(seq), action="snapshot"))


def test_a_restore_update_applies_after_the_version_before_it(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "db", map_size_mb=8)
    try:
        first = encode_update(batch_of(tmp_path), meta(1))
        assert apply_update(store, PREFIX, 1, first)[1] is not None
        before = store.stats().digest
        view = store.snapshot()
        try:
            keys: Records = [(t, k, None) for t, k, _ in whole_content(view) if t == Table.IMEI]
        finally:
            view.release()
        blob = encode_restore(RestoreUpdate(in_order(keys)), meta(2, action="rollback"))
        _, summary = apply_update(store, PREFIX, 2, blob)
        assert summary is not None and summary.removed == len(keys)
        assert store.stats().digest != before
        assert store.stats().history[-1].action == "rollback"
    finally:
        store.close()
