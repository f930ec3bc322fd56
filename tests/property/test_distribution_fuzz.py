"""Any bytes from the broker give our UpdateError or a result, never a crash or a hang: list
update blobs, their parts, heads, whatever arrives on a followed topic, and HTTP requests to
the metrics endpoint."""

from __future__ import annotations

import zlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from eir.model import ListName
from eir.observe.endpoint import http_answer
from eir.publish.lists import ListFollower, head_topic, part_topic
from eir.publish.update import (
    MAGIC,
    UpdateError,
    UpdateMeta,
    decode_part,
    decode_update,
    encode_update,
    split_parts,
)
from eir.store.loader import LoadOptions, parse_files

DEMO = Path(__file__).resolve().parents[2] / "conf" / "lists" / "demo.csv"
_BATCH = parse_files([str(DEMO)], LoadOptions(list=ListName.BLACK, source="demo"), lambda _m: None)
_META = UpdateMeta(
    seq=1,
    id="cd" * 16,
    time=1,
    mode="add",
    list="black",
    source="demo",
    scope=[("black", "demo")],
    remove_any_source=False,
    files=["demo.csv"],
    rows=6,
    invalid=0,
    duplicates=0,
)
_BLOB = encode_update(_BATCH, _META)
_RAW = zlib.decompress(_BLOB)


def _decodes(blob: bytes) -> None:
    try:
        _meta, batch = decode_update(blob)
    except UpdateError:
        return
    for group in batch.groups:  # what is accepted is whole and sorted
        assert group.keys == sorted(set(group.keys))
        assert len(list(group.values(0))) == len(group.keys)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_blob(data: bytes) -> None:
    _decodes(data)
    _decodes(zlib.compress(data))
    _decodes(zlib.compress(MAGIC + data))


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(_RAW) - 1), st.integers(0, 255), st.integers(0, 3))
def test_one_changed_or_cut_byte_of_a_real_update(at: int, value: int, how: int) -> None:
    if how == 0:
        mutated = _RAW[:at] + bytes([value]) + _RAW[at + 1 :]
    elif how == 1:
        mutated = _RAW[:at]
    elif how == 2:
        mutated = _RAW[:at] + bytes([value]) + _RAW[at:]
    else:
        mutated = _RAW[:at] + _RAW[at + 1 :]
    _decodes(zlib.compress(mutated))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_part(data: bytes) -> None:
    try:
        part = decode_part(data)
    except UpdateError:
        return
    assert 0 <= part.index < part.count


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["head", "part", "other"]), st.binary(max_size=120), st.booleans()
        ),
        max_size=12,
    )
)
def test_the_follower_takes_any_messages(messages: list[tuple[str, bytes, bool]]) -> None:
    follower = ListFollower("eir", applied=0, fetch_timeout=5)
    follower.connected(0)
    real = split_parts(_BLOB, 1, bytes.fromhex("cd" * 16), part_size=64)
    now = 0.0
    for kind, raw, use_real in messages:
        now += 1
        payload = raw
        if kind == "head":
            topic = head_topic("eir")
            if use_real:
                payload = b'{"seq": 1, "id": "x", "parts": %d, "time": 1}' % len(real)
        elif kind == "part":
            topic = part_topic("eir", 1, 0)
            if use_real:
                payload = real[len(raw) % len(real)]
        else:
            topic = "eir/lists/sync/x"
        follower.message(topic, payload, now)
        follower.timer(now)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_http_request(data: bytes) -> None:
    answer = http_answer(data + b"\r\n\r\n", lambda: b"m 1\n")
    assert answer.split(b" ", 2)[1] in (b"200", b"400", b"404", b"405")
