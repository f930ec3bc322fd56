"""A device database update: encoded and decoded whole, refused when damaged, and never read
as a list update (its own magic)."""

from __future__ import annotations

import json
import zlib

import pytest

from eir.devices.packing import Approved, pack_approved, pack_device
from eir.devices.record import Device
from eir.publish.update import (
    MAGIC,
    DeviceUpdate,
    UpdateError,
    UpdateMeta,
    decode_any,
    decode_update,
    encode_device_update,
)
from eir.store.devices import APPROVED, DEVICE

ITEMS = sorted(
    pack_device(Device(tac, "Acme", f"X{tac[-2:]}", radio_interface="GSM"))
    for tac in ("35000001", "35000002", "86000003")
)


def _meta(devices: str = DEVICE) -> UpdateMeta:
    return UpdateMeta(
        seq=1,
        id="0" * 32,
        time=1_780_000_000,
        mode="replace",
        list="white",
        source=devices,
        scope=[],
        remove_any_source=False,
        files=["sample.txt"],
        rows=3,
        invalid=0,
        duplicates=0,
        devices=devices,
        device_kind="gsma17",
    )


def test_round_trip() -> None:
    blob = encode_device_update(DeviceUpdate(DEVICE, ITEMS), _meta())
    meta, content = decode_any(blob)
    assert content == DeviceUpdate(DEVICE, ITEMS)
    assert (meta.devices, meta.device_kind) == (DEVICE, "gsma17")
    approved = sorted(map(pack_approved, (Approved(tac="35000001"), Approved("", "A", "B"))))
    _, content = decode_any(encode_device_update(DeviceUpdate(APPROVED, approved), _meta(APPROVED)))
    assert content == DeviceUpdate(APPROVED, approved)
    _, empty = decode_any(encode_device_update(DeviceUpdate(DEVICE, []), _meta()))
    assert empty == DeviceUpdate(DEVICE, [])


def test_not_a_list_update() -> None:
    blob = encode_device_update(DeviceUpdate(DEVICE, ITEMS), _meta())
    with pytest.raises(UpdateError, match="a device database update, not a list update"):
        decode_update(blob)
    # a node that predates device updates knows only the list magics: it refuses by magic
    assert not zlib.decompress(blob).startswith(MAGIC[:4] + b"1")


def _forged(items: list[tuple[bytes, bytes]], devices: str = DEVICE) -> bytes:
    head = json.loads(zlib.decompress(encode_device_update(DeviceUpdate(devices, []), _meta()))[6:])
    head["groups"] = [{"table": devices, "count": len(items), "key_width": 0, "value_width": 0}]
    from array import array

    body = b"".join(
        array("H", [len(x[i]) for x in items]).tobytes() + b"".join(x[i] for x in items)
        for i in (0, 1)
    )
    return zlib.compress(b"EIRD1\n" + json.dumps(head).encode() + b"\n" + body)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([(b"3500000X", ITEMS[0][1])], "is not a TAC"),
        ([(b"35000001", b"2garbage")], "damaged device record"),
        ([ITEMS[1], ITEMS[0]], "not sorted and unique"),
    ],
)
def test_a_damaged_table_is_refused(items: list[tuple[bytes, bytes]], message: str) -> None:
    with pytest.raises(UpdateError, match=message):
        decode_any(_forged(items))
