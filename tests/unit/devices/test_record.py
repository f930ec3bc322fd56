"""The device record, its radio technologies, the in-memory index and its packing."""

from __future__ import annotations

import pytest

from eir.devices.packing import (
    Approved,
    build_index,
    pack_approved,
    pack_device,
    unpack_approved,
    unpack_device,
)
from eir.devices.record import Device, DeviceIndex, radios

PHONE = Device("35000001", "Acme", "X100", radio_interface="GSM,WCDMA,LTE,NR", source="lab")
OLD = Device("35000002", "Tern", "F1 Mini", radio_interface="GSM", source="gsma17")


@pytest.mark.parametrize(
    ("written", "found"),
    [
        ("GSM,LTE", {"GSM", "LTE"}),
        ("NONE", set()),
        ("", set()),
        ("2G;3G;4G;5G", {"GSM", "UMTS", "LTE", "NR"}),
        ("GSM 900, WCDMA FDD Band I, LTE FDD BAND 3", {"GSM", "UMTS", "LTE"}),
        ("LTE-M,NB-IoT", {"LTE", "NB-IOT"}),
        ("CDMA2000/EVDO", {"CDMA"}),
        ("TD-SCDMA", {"UMTS"}),
        ("NR 5G", {"NR"}),
        ("satellite", {"SATELLITE"}),
    ],
)
def test_radios_are_normalised(written: str, found: set[str]) -> None:
    assert radios(Device("35000001", radio_interface=written)) == found


def test_a_device_packs_and_unpacks() -> None:
    for device in (PHONE, OLD, Device("01000000")):
        assert unpack_device(*pack_device(device)) == device


def test_approved_by_tac_or_model() -> None:
    entries = [Approved(tac="35000001"), Approved(brand="TERN", model="f1  mini")]
    items = sorted(pack_approved(e) for e in entries)
    assert sorted(unpack_approved(*i) for i in items) == sorted(entries)
    index = build_index(sorted(map(pack_device, (PHONE, OLD))), items)
    assert index.has_devices and index.has_approved and index.size == 2
    assert index.device("350000019999999") == PHONE
    assert index.device("99999999") is None
    assert index.approved("35000001") and index.approved(OLD) and index.approved("3500000212")
    assert not index.approved("35000003")
    assert index.approved(Device("77777777", "tern", "F1 MINI"))  # not in the index: by model
    empty = DeviceIndex()
    assert not empty.has_devices and not empty.has_approved and empty.size == 0
