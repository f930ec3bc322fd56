"""List updates as they travel (eir.publish.update) and the follower that applies them in
order (eir.publish.lists), in memory; applying into a real LMDB store (eir.publish.apply_update)."""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict
from pathlib import Path

import pytest

from eir.errors import MapGrowthNeededError
from eir.model import ListName
from eir.publish.apply_update import apply_update
from eir.publish.broker import Backoff, credentials
from eir.publish.lists import (
    Apply,
    Head,
    ListFollower,
    Subscribe,
    Unsubscribe,
    Warn,
    head_topic,
    log_filter,
    part_topic,
    version_key,
)
from eir.publish.update import (
    MAGIC,
    UpdateError,
    UpdateMeta,
    decode_part,
    decode_update,
    encode_update,
    join_parts,
    split_parts,
)
from eir.store.api import Mode
from eir.store.batch import Batch
from eir.store.lmdb_store import LmdbStore
from eir.store.loader import LoadOptions, parse_files
from eir.store.memory import MemoryStore
from tests.support.diameter import DEMO

MIXED = """imei,imei_last,imsi,list,source,reason,reference,added
490154203237518,,,black,police,stolen,PR-1,2025-01-02T03:04:05Z
356938035643809,,,black,police,vol à l'arraché,PR-2,
35693803564380,35693803564399,,grey,lab,range,,
353456789012348,,001010123456789,white,demo,pair,,
"""


def batch_of(
    tmp_path: Path, text: str = MIXED, list_name: ListName = ListName.BLACK, source: str = "police"
) -> Batch:
    path = tmp_path / "list.csv"
    path.write_text(text)
    return parse_files([str(path)], LoadOptions(list=list_name, source=source), lambda _m: None)


def meta(seq: int = 1, **kw: object) -> UpdateMeta:
    base: dict[str, object] = dict(
        seq=seq,
        id="ab" * 16,
        time=1_700_000_000,
        mode="add",
        list="black",
        source="police",
        scope=[("black", "police")],
        remove_any_source=False,
        files=["list.csv"],
        rows=4,
        invalid=0,
        duplicates=0,
    )
    return UpdateMeta(**(base | kw))  # type: ignore[arg-type]


def groups(batch: Batch) -> list[tuple[str, str, str, list[bytes], list[bytes]]]:
    return [
        (g.table, g.list, g.source, list(g.keys), list(g.values(1))) for g in batch.groups if g.keys
    ]


def test_an_update_survives_encoding_parts_and_decoding(tmp_path: Path) -> None:
    batch = batch_of(tmp_path)
    blob = encode_update(batch, meta())
    parts = split_parts(blob, 1, bytes.fromhex("ab" * 16), part_size=64)
    assert len(parts) > 3
    parsed = [decode_part(p) for p in reversed(parts)]  # any order
    decoded_meta, decoded = decode_update(join_parts(parsed))
    assert decoded_meta.seq == 1 and decoded_meta.entries == 4
    assert groups(decoded) == groups(batch)
    # stored, both give the same digest as `eir load` would
    stores = []
    for b in (batch, decoded):
        store = MemoryStore()
        store.apply(b, Mode.ADD, [(ListName.BLACK, "police")], now=5)
        stores.append(store)
    assert stores[0].stats().digest == stores[1].stats().digest


def test_parts_that_do_not_belong_together_are_refused(tmp_path: Path) -> None:
    blob = encode_update(batch_of(tmp_path), meta())
    parts = [decode_part(p) for p in split_parts(blob, 1, b"\x01" * 16, part_size=100)]
    with pytest.raises(UpdateError, match="parts"):
        join_parts(parts[:-1])
    other = [decode_part(p) for p in split_parts(blob + b"x", 1, b"\x02" * 16, part_size=100)]
    with pytest.raises(UpdateError, match="mixed"):
        join_parts([*parts[:-1], other[len(parts) - 1]])
    damaged = decode_part(split_parts(blob, 1, b"\x01" * 16)[0])
    flipped = bytes([damaged.data[0] ^ 1]) + damaged.data[1:]
    with pytest.raises(UpdateError, match="digest"):
        join_parts([type(damaged)(1, 0, 1, damaged.id, damaged.digest, flipped)])
    with pytest.raises(UpdateError, match="magic"):
        decode_part(b"XXXX" + bytes(80))


def _blob(head: dict[str, object], body: bytes) -> bytes:
    return zlib.compress(MAGIC + json.dumps(head).encode() + b"\n" + body)


def _group(**kw: object) -> dict[str, object]:
    return {
        "table": "imei",
        "list": "black",
        "source": "x",
        "count": 2,
        "key_width": 14,
        "tail_width": 2,
        "added": False,
    } | kw


@pytest.mark.parametrize(
    ("group", "body", "message"),
    [
        (_group(), b"49015420323751" * 2 + b"\x00" * 4, "sorted"),
        (_group(), b"4901542032375A49015420323752" + b"\x00" * 4, "key"),
        (
            _group(table="range", key_width=28, count=1),
            b"4901542032375949015420323750" + b"\x00" * 2,
            "ends before",
        ),
        (_group(tail_width=3), b"4901542032375149015420323752" + b"\x00" * 6, "add up"),
        (_group(tail_width=3), b"4901542032375149015420323752" + b"\x02a\x00" * 2, "truncated"),
        (_group(tail_width=3), b"4901542032375149015420323752" + b"\x01\xff\x00" * 2, "UTF-8"),
        (_group(), b"4901542032375149015420323752" + b"\x00" * 4 + b"!", "after the last"),
        (_group(count=3), b"4901542032375149015420323752" + b"\x00" * 4, "shorter"),
        (_group(list="purple"), b"", "group description"),
    ],
)
def test_forged_or_damaged_updates_are_refused_whole(
    group: dict[str, object], body: bytes, message: str
) -> None:
    head = asdict(meta()) | {"groups": [group]}
    with pytest.raises(UpdateError, match=message):
        decode_update(_blob(head, body))


def test_bad_descriptions_and_streams_are_refused() -> None:
    for change in (
        {"seq": 0},
        {"mode": "merge"},
        {"id": "x"},
        {"source": "bad source!"},
        {"scope": [["black", "bad source!"]]},
        {"rows": True},
    ):
        with pytest.raises(UpdateError, match="description"):
            decode_update(_blob(asdict(meta()) | change, b""))
    with pytest.raises(UpdateError, match="decompress"):
        decode_update(b"not zlib")
    with pytest.raises(UpdateError, match="truncated"):
        decode_update(zlib.compress(MAGIC + b"{}\n")[:-3])
    with pytest.raises(UpdateError, match="magic"):
        decode_update(zlib.compress(b"EIRU9\n{}\n"))


# -- the follower -----------------------------------------------------------------------------

PREFIX = "net1"


def parts_of(
    tmp_path: Path, seq: int, update_id: str = "ab" * 16, part_size: int = 100
) -> list[bytes]:
    blob = encode_update(batch_of(tmp_path), meta(seq, id=update_id))
    return split_parts(blob, seq, bytes.fromhex(update_id), part_size)


def head(seq: int, parts: int) -> bytes:
    return Head(seq, "ab" * 16, parts, 1).payload()


def test_the_follower_fetches_missed_updates_one_by_one_in_order(tmp_path: Path) -> None:
    f = ListFollower(PREFIX, applied=1, fetch_timeout=10)
    assert f.connected(0) == [Subscribe(head_topic(PREFIX))]
    second, third = parts_of(tmp_path, 2), parts_of(tmp_path, 3)
    # the head says #3 while this node has #1: fetch #2 first
    assert f.message(head_topic(PREFIX), head(3, len(third)), 0) == [
        Subscribe(log_filter(PREFIX, 2))
    ]
    # a part of another update (an old retained message) is ignored
    assert f.message(part_topic(PREFIX, 3, 0), third[0], 0) == []
    out = []
    for index, part in enumerate(second):
        out = f.message(part_topic(PREFIX, 2, index), part, 0)
    assert out[0] == Unsubscribe(log_filter(PREFIX, 2)) and isinstance(out[1], Apply)
    assert out[1].seq == 2 and f.applying == 2
    # nothing more until #2 is applied
    assert f.message(head_topic(PREFIX), head(3, len(third)), 0) == []
    assert f.applied_ok(2, 1) == [Subscribe(log_filter(PREFIX, 3))]
    for index, part in enumerate(third):
        out = f.message(part_topic(PREFIX, 3, index), part, 1)
    assert isinstance(out[1], Apply) and out[1].seq == 3
    assert f.applied_ok(3, 2) == [] and f.applied == 3
    # a repeated head changes nothing
    assert f.message(head_topic(PREFIX), head(3, len(third)), 3) == []


def test_the_follower_retries_incomplete_or_failed_updates(tmp_path: Path) -> None:
    f = ListFollower(PREFIX, applied=0, fetch_timeout=5, retry_min=2)
    parts = parts_of(tmp_path, 1)
    assert f.message(head_topic(PREFIX), head(1, len(parts)), 0) == [
        Subscribe(log_filter(PREFIX, 1))
    ]
    f.message(part_topic(PREFIX, 1, 0), parts[0], 0)
    assert f.timer(4) == []
    out = f.timer(5)
    assert out[0] == Unsubscribe(log_filter(PREFIX, 1)) and isinstance(out[1], Warn)
    assert f"1 of {len(parts)} parts" in out[1].text
    assert f.timer(6) == []  # backing off
    assert f.timer(7) == [Subscribe(log_filter(PREFIX, 1))]
    # reconnected while fetching: subscribe again
    assert f.connected(8) == [Subscribe(head_topic(PREFIX)), Subscribe(log_filter(PREFIX, 1))]
    for index, part in enumerate(parts):
        out = f.message(part_topic(PREFIX, 1, index), part, 8)
    assert isinstance(out[1], Apply)
    failed = f.failed(1, "disk full", 9)
    assert isinstance(failed[0], Warn) and "disk full" in failed[0].text
    assert f.timer(9.5) == [] and f.timer(13) == [Subscribe(log_filter(PREFIX, 1))]


def test_the_follower_warns_about_a_head_behind_it_and_bad_messages() -> None:
    f = ListFollower(PREFIX, applied=5, fetch_timeout=5)
    out = f.message(head_topic(PREFIX), head(3, 1), 0)
    assert len(out) == 1 and isinstance(out[0], Warn) and "behind" in out[0].text
    assert isinstance(f.message(head_topic(PREFIX), b"{nope", 0)[0], Warn)
    assert f.message(head_topic(PREFIX), b"", 0) == []
    assert f.message(f"{PREFIX}/lists/sync/x", b"token", 0) == []


# -- applying into LMDB -----------------------------------------------------------------------


def test_apply_update_is_once_and_in_order(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "db", map_size_mb=8)
    try:
        first = encode_update(batch_of(tmp_path), meta(1))
        second = encode_update(
            batch_of(tmp_path, "356938035643809\n", source="lab"),
            meta(2, source="lab", scope=[("black", "lab")]),
        )
        with pytest.raises(UpdateError, match="cannot follow"):
            apply_update(store, PREFIX, 2, second)
        applied_meta, summary = apply_update(store, PREFIX, 1, first, clock=lambda: 42.0)
        assert summary is not None and summary.added == 4 and applied_meta.seq == 1
        assert apply_update(store, PREFIX, 1, first)[1] is None  # a repeat changes nothing
        with pytest.raises(UpdateError, match="hold update #1"):
            apply_update(store, PREFIX, 3, first)
        assert apply_update(store, PREFIX, 2, second)[1] is not None
        version = json.loads(store.meta_value(version_key(PREFIX)) or b"")
        assert version["seq"] == 2 and version["time"] == 1_700_000_000
        history = store.stats().history
        assert history[-1].files == ["update net1 #2 (list.csv)"]
        # every entry carries the publisher's time, so nodes agree to the second
        rows = list(store.export())
        assert {r.entry.added for r in rows if r.entry.source == "lab"} == {1_700_000_000}
    finally:
        store.close()


def test_a_full_map_is_left_to_the_caller_to_grow(tmp_path: Path) -> None:
    lines = "".join(f"35{i:012d}\n" for i in range(40000))
    rows = tmp_path / "many.csv"
    rows.write_text(lines)
    batch = parse_files(
        [str(rows)],
        LoadOptions(list=ListName.BLACK, source="x", skip_invalid=True),
        lambda _m: None,
    )
    blob = encode_update(batch, meta(1, source="x", scope=[("black", "x")]))
    store = LmdbStore(tmp_path / "db", map_size_mb=1)
    try:
        with pytest.raises(MapGrowthNeededError):
            apply_update(store, PREFIX, 1, blob)
        while True:
            store.grow_map()
            try:
                _meta, summary = apply_update(store, PREFIX, 1, blob)
                break
            except MapGrowthNeededError:
                continue
        assert summary is not None and summary.added == len(batch.groups[0].keys)
    finally:
        store.close()


def test_credentials_come_from_files_or_the_environment(tmp_path: Path) -> None:
    from dataclasses import replace

    from eir.config import MqttConfig
    from eir.errors import ConfigError

    config = MqttConfig()
    assert credentials(config, {}) == (None, None)
    assert credentials(config, {"EIR_MQTT_USERNAME": "u", "EIR_MQTT_PASSWORD": "p"}) == ("u", "p")
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    with_file = replace(config, password_file=str(secret))
    assert credentials(with_file, {"EIR_MQTT_USERNAME": "u", "EIR_MQTT_PASSWORD": "p"}) == (
        "u",
        "from-file",
    )
    with pytest.raises(ConfigError, match="without a username"):
        credentials(with_file, {})
    with pytest.raises(ConfigError, match="password_file"):
        credentials(replace(config, password_file=str(tmp_path / "none")), {})


def test_backoff_doubles_with_jitter_and_resets() -> None:
    backoff = Backoff(1, 8, rng=lambda: 1.0)
    assert [backoff.delay() for _ in range(5)] == [1, 2, 4, 8, 8]
    backoff.reset()
    assert Backoff(1, 8, rng=lambda: 0.0).delay() == 0.5
    assert backoff.delay() == 1


def test_the_demo_lists_travel_whole(tmp_path: Path) -> None:
    batch = parse_files(
        [str(DEMO)], LoadOptions(list=ListName.BLACK, source="demo"), lambda _m: None
    )
    _meta, decoded = decode_update(
        encode_update(batch, meta(source="demo", scope=[("black", "demo")]))
    )
    store = MemoryStore()
    store.apply(decoded, Mode.ADD, [(ListName.BLACK, "demo")], now=1)
    reference = MemoryStore()
    reference.apply(batch, Mode.ADD, [(ListName.BLACK, "demo")], now=2)
    # the digest leaves out the added time: the same entries loaded at 1 and at 2
    assert store.stats().digest == reference.stats().digest
