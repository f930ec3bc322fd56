"""A list update carries its entries' times (``Group.times``): ``EIRU4`` when some group has
them (a node that predates them refuses the update by its magic), checked when decoded."""

from __future__ import annotations

import json
import zlib
from array import array
from pathlib import Path

import pytest

from eir.model import ListName
from eir.publish.update import (
    MAGIC,
    MAGIC_DIGITS,
    MAGIC_TIMES,
    UpdateError,
    decode_update,
    encode_update,
)
from eir.store.api import Mode
from eir.store.batch import Batch
from eir.store.memory import MemoryStore
from tests.unit.publish.test_distribution import batch_of, groups, meta

DEC15, JAN1 = 1_797_292_800, 1_798_761_600


def _timed(tmp_path: Path, pairs: list[tuple[int, int]] | None = None) -> Batch:
    batch = batch_of(tmp_path)
    first = batch.groups[0]
    first.times = pairs or [(DEC15, 0)] + [(0, JAN1)] * (len(first.keys) - 1)
    return batch


def _forged(blob: bytes, pairs: list[tuple[int, int]]) -> bytes:
    """The blob with its first group's times section replaced by ``pairs``."""
    data = zlib.decompress(blob)
    head_end = data.index(b"\n", len(MAGIC_TIMES))
    spec = json.loads(data[len(MAGIC_TIMES) : head_end])["groups"][0]
    assert spec["times"] is True
    old = array("I", [DEC15, 0] + [0, JAN1] * (spec["count"] - 1)).tobytes()
    new = array("I", [t for pair in pairs for t in pair]).tobytes()
    return zlib.compress(data.replace(old, new, 1))


def test_times_travel(tmp_path: Path) -> None:
    batch = _timed(tmp_path)
    blob = encode_update(batch, meta())
    assert zlib.decompress(blob).startswith(MAGIC_TIMES)
    _, decoded = decode_update(blob)
    assert [g.times for g in decoded.groups] == [g.times for g in batch.groups]
    assert groups(decoded) == groups(batch)
    digests = []
    for b in (batch, decoded):
        store = MemoryStore()
        store.apply(b, Mode.ADD, [(ListName.BLACK, "police")], now=5)
        digests.append(store.stats().digest)
    assert digests[0] == digests[1]
    first = decoded.groups[0]
    entry = store.lookup(first.keys[0].decode(), None).imei[0].entry
    assert (entry.effective, entry.expires) == (DEC15, 0)


def test_without_times_the_blob_is_as_before(tmp_path: Path) -> None:
    batch = batch_of(tmp_path)
    data = zlib.decompress(encode_update(batch, meta()))
    assert data.startswith((MAGIC, MAGIC_DIGITS))
    assert b'"times"' not in data


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        (
            (JAN1, DEC15),
            "group 0: expires: 2026-12-15T00:00:00Z is not after effective 2027-01-01T00:00:00Z",
        ),
        (
            (DEC15, DEC15),
            "group 0: expires: 2026-12-15T00:00:00Z is not after effective 2026-12-15T00:00:00Z",
        ),
    ],
)
def test_bad_times_refused(tmp_path: Path, pair: tuple[int, int], message: str) -> None:
    batch = _timed(tmp_path)
    count = len(batch.groups[0].keys)
    forged = _forged(encode_update(batch, meta()), [pair] + [(0, JAN1)] * (count - 1))
    with pytest.raises(UpdateError, match=message):
        decode_update(forged)


def test_a_times_section_without_times_refused(tmp_path: Path) -> None:
    batch = _timed(tmp_path)
    count = len(batch.groups[0].keys)
    forged = _forged(encode_update(batch, meta()), [(0, 0)] * count)
    with pytest.raises(UpdateError, match="group 0: a group with times has none"):
        decode_update(forged)


def test_times_under_an_older_magic_refused(tmp_path: Path) -> None:
    data = zlib.decompress(encode_update(_timed(tmp_path), meta()))
    older = zlib.compress(MAGIC_DIGITS + data[len(MAGIC_TIMES) :])
    with pytest.raises(UpdateError, match=r"a group with times in an update without their magic"):
        decode_update(older)


def test_a_truncated_times_section_refused(tmp_path: Path) -> None:
    data = zlib.decompress(encode_update(_timed(tmp_path), meta()))
    with pytest.raises(UpdateError, match="shorter than its description"):
        decode_update(zlib.compress(data[:-4]))
