"""The expected answer and classes of a request, by eir's own policy code: `eir.policy.decide`
with the device database the EIR under test holds, and the policy's class function. The one
place the simulator calls them, so that its expectation is the policy's by construction.

What the EIR has seen is what the simulator was given: with ``--observations``, ``seen`` is
when each IMEI was first seen in those deltas (`first_seen_in`), as the observation store they
are imported into answers a device rule's ``exempt_seen_before``; without, None (no IMEI is
grandfathered by an observation cut-off).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from eir.config import PolicyConfig
from eir.devices.record import DeviceIndex
from eir.identity import Imei
from eir.model import CheckRequest, CheckResult
from eir.observations.record import Observed
from eir.policy import Lookup, Seen, decide, validity_classes


def first_seen_in(records: Iterable[Observed]) -> dict[str, int]:
    """When each IMEI was first seen: the earliest first-seen time of its records, every IMSI
    and node (the store merges one node's record of a pair by the earliest first; its
    ``first_seen`` is the earliest of them all)."""
    first: dict[str, int] = {}
    for observed in records:
        known = first.get(observed.imei)
        if known is None or observed.record.first < known:
            first[observed.imei] = observed.record.first
    return first


def decided(
    request: CheckRequest,
    lookup: Lookup,
    policy: PolicyConfig,
    devices: DeviceIndex | None,
    seen: Seen | None = None,
) -> CheckResult:
    """What eir's policy answers ``request`` with these lists, devices and sightings, entries
    with times judged at the wall clock (the EIR under test runs with
    ``lifecycle.clock_offset_s`` 0)."""
    return decide(request, lookup, policy, devices=devices, seen=seen, clock=time.time)


def classes_of(imei14: str, policy: PolicyConfig, devices: DeviceIndex | None) -> frozenset[str]:
    """The validity classes of an IMEI (``tac-unallocated``, ``not-approved``...) and, as
    ``rule:NAME``, the device rules that match it, by `eir.policy.validity_classes`."""
    found = validity_classes(Imei.trusted(imei14), policy, devices)
    names = {a.value for a in found.anomalies}
    names.update(f"rule:{f.name}" if f.rule else f.name for f in found.findings)
    return frozenset(names)
