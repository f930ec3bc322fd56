"""A list update carries the form each IMEI was loaded in (``Group.digits``): ``EIRU2`` when
some group has digits, ``EIRU1`` (as before) when none has; both decode."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from eir.model import ListName
from eir.publish.update import MAGIC, MAGIC_DIGITS, UpdateError, decode_update, encode_update
from eir.store.api import Mode
from eir.store.memory import MemoryStore
from eir.store.records import NO_DIGIT
from tests.unit.publish.test_distribution import batch_of, groups, meta


def test_digits_travel(tmp_path: Path) -> None:
    batch = batch_of(tmp_path)
    for group in batch.groups:  # the first key of each group written with 15 digits
        group.digits = bytes([3] + [NO_DIGIT] * (len(group.keys) - 1))
    blob = encode_update(batch, meta())
    assert zlib.decompress(blob).startswith(MAGIC_DIGITS)
    _, decoded = decode_update(blob)
    assert [g.digits for g in decoded.groups] == [g.digits for g in batch.groups]
    assert groups(decoded) == groups(batch)
    digests = []
    for b in (batch, decoded):
        store = MemoryStore()
        store.apply(b, Mode.ADD, [(ListName.BLACK, "police")], now=5)
        digests.append(store.stats().digest)
    assert digests[0] == digests[1]


def test_without_digits_the_blob_is_as_before(tmp_path: Path) -> None:
    batch = batch_of(tmp_path)
    for group in batch.groups:  # every IMEI written with 14 digits
        group.digits = None
    blob = encode_update(batch, meta())
    data = zlib.decompress(blob)
    assert data.startswith(MAGIC)
    _, decoded = decode_update(blob)
    assert all(g.digits is None for g in decoded.groups)


def test_a_digit_out_of_range_is_refused(tmp_path: Path) -> None:
    batch = batch_of(tmp_path)
    first = batch.groups[0]
    first.digits = bytes([NO_DIGIT] * len(first.keys))
    data = zlib.decompress(encode_update(batch, meta()))
    head_end = data.index(b"\n", len(MAGIC_DIGITS))
    head = json.loads(data[len(MAGIC_DIGITS) : head_end])
    spec = head["groups"][0]
    # the digits follow the group's keys and tails: find them as the run of NO_DIGIT octets
    run = bytes([NO_DIGIT] * spec["count"])
    at = data.index(run, head_end)
    forged = data[:at] + bytes([11]) + data[at + 1 :]
    with pytest.raises(UpdateError, match="a check digit is not 0 to 9 or 10"):
        decode_update(zlib.compress(forged))
