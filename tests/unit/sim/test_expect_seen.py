"""The simulator's expectation of a device rule's exemption: when each IMEI was first seen in
the ``--observations`` deltas (`sim.expect.first_seen_in`), asked by eir's policy."""

from __future__ import annotations

from eir.config import parse_config
from eir.devices.record import Device, DeviceIndex
from eir.identity import Imei
from eir.model import NO_HITS, CheckRequest, EquipmentStatus
from eir.observations.record import Observed, PairRecord
from sim.expect import decided, first_seen_in

X, Y = "49015420323751", "49015420323752"


def _observed(imei: str, imsi: str, node: str, first: int) -> Observed:
    return Observed(imei, imsi, node, PairRecord(first, first + 10, (first // 86_400,), 1))


def test_first_seen_is_the_earliest_of_every_imsi_and_node() -> None:
    records = [
        _observed(X, "001010000000001", "n1", 5_000_000),
        _observed(X, "001010000000002", "n2", 3_000_000),
        _observed(X, "001010000000001", "n2", 4_000_000),
        _observed(Y, "001010000000001", "n1", 1_000_000),
    ]
    assert first_seen_in(records) == {X: 3_000_000, Y: 1_000_000}
    assert first_seen_in([]) == {}


def test_an_imei_seen_before_the_cut_off_is_expected_exempt() -> None:
    old = Device("35111100", "Acme", "Brick", radio_interface="GSM")
    devices = DeviceIndex({old.tac: old}, frozenset())
    rule = {
        "name": "2g-only",
        "action": "black",
        "radio_lacks": ["UMTS", "LTE", "NR"],
        "exempt_seen_before": "2024-03-01",
    }
    settings = parse_config({"policy": {"device_rules": [rule]}}).policy
    before, after = "35111100176148", "35111100176149"
    seen = first_seen_in(
        [
            _observed(before, "001010000000001", "n1", 1_700_000_000),  # 2023-11-14
            _observed(after, "001010000000001", "n1", 1_720_000_000),  # 2024-07-03
        ]
    ).get

    def answer(imei14: str) -> EquipmentStatus | None:
        request = CheckRequest(Imei.trusted(imei14))
        return decided(request, lambda k, s: NO_HITS, settings, devices, seen).status

    assert answer(before) == EquipmentStatus.WHITELISTED
    assert answer(after) == EquipmentStatus.BLACKLISTED
    assert (
        decided(CheckRequest(Imei.trusted(before)), lambda k, s: NO_HITS, settings, devices).status
        == EquipmentStatus.BLACKLISTED
    )  # without observations: no exemption
