"""For any 14 digits, any small device database, approved list and device rules: the
simulator's classes are the policy's, its expected S13 and MAP answers are
`eir.policy.decide`'s, and each device kind of a mix draws IMEIs of its class."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eir.config import PolicyConfig
from eir.config.keys import DeviceRuleConfig
from eir.devices.record import Device, DeviceIndex
from eir.identity import Anomaly, Imei, Imsi
from eir.model import CheckRequest, Hits
from eir.policy import decide
from eir.sigtran import outcomes
from sim import expect
from sim import mme_role as s13_role
from sim import msc_role as map_role
from sim.device_kinds import DeviceKinds
from sim.workload import Draw, Lists, draws

ACTIONS = ("ignore", "white", "grey", "black", "unknown")
RADIOS = ("GSM", "GSM,UMTS", "GSM,LTE", "LTE", "NR", "GSM,UMTS,LTE,NR", "NONE", "")
TYPES = ("Smartphone", "Feature phone", "Module", "Tablet")
BRANDS = ("Acme", "Orb", "Zed")
DATES = ("", "2012-05-01", "2019-11-30", "2024-06-01")
NO_HITS = Hits()
tacs = st.text("0123456789", min_size=8, max_size=8)


@st.composite
def databases(draw: st.DrawFn) -> dict[str, Device]:
    chosen = draw(st.lists(tacs, min_size=1, max_size=6, unique=True))
    return {
        tac: Device(
            tac,
            brand=draw(st.sampled_from(BRANDS)),
            model=draw(st.sampled_from(("A", "B"))),
            device_type=draw(st.sampled_from(TYPES)),
            radio_interface=draw(st.sampled_from(RADIOS)),
            allocation_date=draw(st.sampled_from(DATES)),
            source="lab",
        )
        for tac in chosen
    }


@st.composite
def rules(draw: st.DrawFn) -> tuple[DeviceRuleConfig, ...]:
    out = []
    for number in range(draw(st.integers(0, 3))):
        keys = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "radio_lacks": st.lists(st.sampled_from(("LTE", "NR", "UMTS")), max_size=2),
                    "radio_has": st.lists(st.sampled_from(("GSM", "LTE")), max_size=1),
                    "device_type": st.sampled_from(TYPES),
                    "brand": st.sampled_from(BRANDS),
                    "allocated_before": st.sampled_from(DATES[1:]),
                    "not_approved": st.booleans(),
                },
            )
        )
        keys = {k: tuple(v) if isinstance(v, list) else v for k, v in keys.items()}
        if not any(keys.values()):
            keys["device_type"] = "Module"
        action = draw(st.sampled_from(ACTIONS))
        out.append(DeviceRuleConfig(name=f"rule-{number}", action=action, **keys))
    return tuple(out)


@st.composite
def policies(draw: st.DrawFn) -> PolicyConfig:
    base = PolicyConfig()
    anomalies = dict(base.anomalies)
    for anomaly in Anomaly:
        anomalies[anomaly] = draw(st.sampled_from(ACTIONS))
    return replace(base, anomalies=anomalies, device_rules=draw(rules()))


def index_of(database: dict[str, Device], approved: set[str], with_list: bool) -> DeviceIndex:
    if not with_list:
        return DeviceIndex(database)
    return DeviceIndex(database, approved_tacs=frozenset(approved))


def _lookup(imei14: str, imsi: str | None) -> Hits:
    return NO_HITS


@settings(max_examples=300, deadline=None)
@given(
    database=databases(),
    policy=policies(),
    serial=st.text("0123456789", min_size=6, max_size=6),
    data=st.data(),
)
def test_the_simulators_classes_and_answers_are_the_policys(
    database: dict[str, Device], policy: PolicyConfig, serial: str, data: st.DataObject
) -> None:
    approved = data.draw(st.sets(st.sampled_from(sorted(database))))
    index = index_of(database, approved, data.draw(st.booleans()))
    tac = data.draw(st.one_of(st.sampled_from(sorted(database)), tacs))
    imei14 = tac + serial
    imsi = "001010000000001"
    request = CheckRequest(Imei.trusted(imei14), Imsi.trusted(imsi), outcomes.PROTOCOL, version=2)
    decided = decide(request, _lookup, policy, devices=index)
    theirs = {a.value for a in decided.anomalies}
    theirs |= {f"rule:{f.name}" if f.rule else f.name for f in decided.findings}
    assert expect.classes_of(imei14, policy, index) == theirs
    status = None if decided.status is None else int(decided.status)
    s13, _ = s13_role.probe(Draw("unknown", imei14, imsi), policy, _lookup, index)
    assert s13.expected == s13_role.expected(status)
    options = map_role.MapOptions(version=2)
    made, _ = map_role.probe(Draw("unknown", imei14, imsi), options, policy, _lookup, index)
    assert made.expected == map_role.expected(status)


@settings(max_examples=100, deadline=None)
@given(database=databases(), policy=policies(), seed=st.integers(0, 2**16), data=st.data())
def test_each_device_kind_draws_its_class(
    database: dict[str, Device], policy: PolicyConfig, seed: int, data: st.DataObject
) -> None:
    approved = data.draw(st.sets(st.sampled_from(sorted(database))))
    index = index_of(database, approved, with_list=True)

    def classes_of(imei14: str) -> frozenset[str]:
        return expect.classes_of(imei14, policy, index)

    rule_names = tuple(r.name for r in policy.device_rules)
    kinds = DeviceKinds(sorted(database), index, rule_names, classes_of)
    wanted = ["unallocated", "unapproved", *(f"rule:{n}" for n in rule_names)]
    possible = [k for k in wanted if kinds.why_not(k) is None]
    lists = Lists.empty()
    lists.devices = kinds
    mix = {k: 1 / len(possible) for k in possible}
    for drawn in draws(mix, 40, lists, seed, ()):
        found = classes_of(drawn.imei14)
        if drawn.kind == "unallocated":
            assert "tac-unallocated" in found
        elif drawn.kind == "unapproved":
            assert "not-approved" in found
        else:
            assert drawn.kind in found
    assert np.all([len(d.imei14) == 14 for d in draws(mix, 5, lists, seed, ())])
