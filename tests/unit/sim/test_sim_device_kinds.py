"""The device kinds of a mix (unallocated, unapproved, rule:NAME): each draws what it says,
and a kind the inputs cannot produce is refused with the reason."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pytest

from eir.devices.record import Device, DeviceIndex
from eir.identity import luhn_valid
from sim.device_kinds import RULE_SAMPLE, DeviceKinds
from sim.probes import MixError, parse_mix
from sim.workload import Lists, ListsError, draws, generate_imeis

TACS = ("35000001", "35000002", "86000003", "01000004")
DEVICES = {
    "35000001": Device(
        "35000001", "Acme", "Brick", device_type="Feature phone", radio_interface="GSM"
    ),
    "35000002": Device(
        "35000002", "Acme", "Slab", device_type="Smartphone", radio_interface="GSM,LTE"
    ),
    "86000003": Device("86000003", "Orb", "One", device_type="Module", radio_interface="LTE"),
    "01000004": Device("01000004", "Orb", "Two", device_type="Smartphone", radio_interface="NR"),
}


def _classes(imei14: str) -> Collection[str]:
    """A stand-in for the policy's class function: 2g-only is the GSM-only device."""
    device = DEVICES.get(imei14[:8])
    return ("rule:2g-only",) if device is not None and device.radio_interface == "GSM" else ()


def _kinds(approved: frozenset[str] = frozenset({"35000002", "01000004"})) -> DeviceKinds:
    index = DeviceIndex(DEVICES, approved_tacs=approved)
    return DeviceKinds(TACS, index, ("2g-only", "modules"), _classes)


def _lists(kinds: DeviceKinds | None) -> Lists:
    lists = Lists.empty()
    lists.devices = kinds
    return lists


def test_mix_parses_device_kinds() -> None:
    mix = parse_mix("unallocated=0.1,unapproved=0.2,rule:2g-only=0.3")
    assert mix == pytest.approx(
        {"unallocated": 0.1, "unapproved": 0.2, "rule:2g-only": 0.3, "unknown": 0.4}
    )
    with pytest.raises(MixError, match="or rule:NAME"):
        parse_mix("rule:=0.1")


def test_each_kind_draws_what_it_says() -> None:
    kinds = _kinds()
    mix = {"unallocated": 0.3, "unapproved": 0.3, "rule:2g-only": 0.4}
    drawn = draws(mix, 600, _lists(kinds), 5, ())
    by_kind: dict[str, set[str]] = {}
    for draw in drawn:
        assert len(draw.imei14) == 14 and draw.imei14.isdigit()
        by_kind.setdefault(draw.kind, set()).add(draw.imei14[:8])
    assert by_kind["unapproved"] == {"35000001", "86000003"}
    assert by_kind["rule:2g-only"] == {"35000001"}
    assert not by_kind["unallocated"] & set(TACS)
    assert all(t[:2] in ("35", "86", "01", "45", "49", "52") for t in by_kind["unallocated"])
    assert len(by_kind["unallocated"]) > 100


def test_unknown_imeis_are_of_the_databases_devices() -> None:
    drawn = draws({"unknown": 1.0}, 200, _lists(_kinds()), 4, ())
    assert {d.imei14[:8] for d in drawn} == set(TACS)


def test_draws_are_repeatable() -> None:
    mix = {"unallocated": 0.5, "unapproved": 0.5}
    assert draws(mix, 50, _lists(_kinds()), 3, ()) == draws(mix, 50, _lists(_kinds()), 3, ())


@pytest.mark.parametrize(
    ("kinds", "mix", "message"),
    [
        (
            None,
            "unallocated=0.1",
            "the mix asks for unallocated but no device database is given (give it with --devices)",
        ),
        (
            None,
            "rule:2g-only=0.1",
            "the mix asks for rule:2g-only but no device database is given "
            "(give it with --devices)",
        ),
        (
            _kinds(frozenset()),
            "unapproved=0.1",
            "the mix asks for unapproved but no approved-models list is given "
            "(give it with --approved)",
        ),
        (
            _kinds(frozenset(TACS)),
            "unapproved=0.1",
            "the mix asks for unapproved but every device of the database is approved",
        ),
        (
            _kinds(),
            "rule:5g=0.1",
            "the mix asks for rule:5g but --policy-config has no [[policy.device_rules]] "
            "named '5g'",
        ),
        (
            _kinds(),
            "rule:modules=0.1",
            "the mix asks for rule:modules but no device of the database matches the rule "
            "'modules'",
        ),
    ],
)
def test_a_kind_the_inputs_cannot_produce_is_refused(
    kinds: DeviceKinds | None, mix: str, message: str
) -> None:
    with pytest.raises(ListsError) as caught:
        draws(parse_mix(mix), 10, _lists(kinds), 1, ())
    assert str(caught.value) == message


def test_generation_draws_only_the_databases_tacs() -> None:
    imeis = generate_imeis(3000, seed=2, from_tacs=TACS).as_text()
    assert len(set(imeis)) == 3000
    assert {i[:8] for i in imeis} == set(TACS)
    assert all(luhn_valid(i) for i in imeis)
    counts = np.unique([i[:8] for i in imeis], return_counts=True)[1]
    assert counts.min() > 600  # uniform over the TACs: 750 each, give or take


def test_generation_refuses_more_imeis_than_the_tacs_hold() -> None:
    with pytest.raises(ValueError, match="1 TACs hold at most 500000 distinct IMEIs"):
        generate_imeis(500_001, from_tacs=["35000001"])


def test_a_rule_of_a_large_database_keeps_a_sample_of_its_tacs() -> None:
    many = {
        f"35{n:06d}": Device(f"35{n:06d}", radio_interface="GSM" if n % 2 else "LTE")
        for n in range(5000)
    }

    def gsm_only(imei14: str) -> Collection[str]:
        return ("rule:2g-only",) if many[imei14[:8]].radio_interface == "GSM" else ()

    kinds = DeviceKinds(sorted(many), DeviceIndex(many), ("2g-only",), gsm_only)
    found = kinds.matching("2g-only")
    assert len(found) == RULE_SAMPLE == len(set(found))
    assert all(many[t].radio_interface == "GSM" for t in found)
    assert (
        DeviceKinds(sorted(many), DeviceIndex(many), ("2g-only",), gsm_only).matching("2g-only")
        == found
    )
