"""The expected answer and classes of a request, by eir's own policy code: `eir.policy.decide`
with the device database the EIR under test holds, and the policy's class function. The one
place the simulator calls them, so that its expectation is the policy's by construction.

The simulator knows nothing of what the EIR has seen: ``seen`` is None (no IMEI is
grandfathered by an observation cut-off).
"""

from __future__ import annotations

from eir.config import PolicyConfig
from eir.devices.record import DeviceIndex
from eir.identity import Imei
from eir.model import CheckRequest, CheckResult
from eir.policy import Lookup, decide, validity_classes


def decided(
    request: CheckRequest, lookup: Lookup, policy: PolicyConfig, devices: DeviceIndex | None
) -> CheckResult:
    """What eir's policy answers ``request`` with these lists and devices."""
    return decide(request, lookup, policy, devices=devices)


def classes_of(imei14: str, policy: PolicyConfig, devices: DeviceIndex | None) -> frozenset[str]:
    """The validity classes of an IMEI (``tac-unallocated``, ``not-approved``...) and, as
    ``rule:NAME``, the device rules that match it, by `eir.policy.validity_classes`."""
    found = validity_classes(Imei.trusted(imei14), policy, devices)
    names = {a.value for a in found.anomalies}
    names.update(f"rule:{f.name}" if f.rule else f.name for f in found.findings)
    return frozenset(names)
