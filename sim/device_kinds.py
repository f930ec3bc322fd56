"""The device kinds of a mix: which TACs ``unallocated``, ``unapproved`` and ``rule:NAME`` draw
from, out of the device database and approved-models list the EIR under test holds.

``unallocated``: a TAC under a real reporting body that the database does not hold;
``unapproved``: a TAC of the database whose model is not on the approved-models list;
``rule:NAME``: a TAC of the database whose IMEIs the policy puts in the class NAME (the
``[[policy.device_rules]]`` of that name), asked of the policy's own class function
(`sim.expect.classes_of`, which names a matching rule ``rule:NAME``), so that the simulator
never matches rules by code of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from eir.devices.record import DeviceIndex
from sim.probes import RULE, rule_name

#: kinds that need a device database
DEVICE_KINDS = ("unallocated", "unapproved")
#: how many TACs of a rule `DeviceKinds.matching` finds at most (its draws pick among them)
RULE_SAMPLE = 1000
#: the serial number the rule's classes are asked with: device rules look at the TAC's device
_PROBE_SERIAL = "123456"

ClassesOf = Callable[[str], Collection[str]]


class DeviceKinds:
    """The TACs of each device kind, worked out once per run (a rule's only when asked)."""

    def __init__(
        self,
        tacs: Sequence[str],
        index: DeviceIndex,
        rules: Collection[str],
        classes_of: ClassesOf,
    ) -> None:
        self.tacs = list(tacs)
        self.index = index
        self.rules = rules
        self.classes_of = classes_of
        self._unapproved: list[str] | None = None
        self._by_rule: dict[str, list[str]] = {}

    def unapproved(self) -> list[str]:
        """The database's TACs whose model is not approved (none without an approved list)."""
        if self._unapproved is None:
            has = self.index.has_approved
            self._unapproved = [t for t in self.tacs if has and not self.index.approved(t)]
        return self._unapproved

    def matching(self, rule: str) -> list[str]:
        """Up to `RULE_SAMPLE` of the database's TACs whose IMEIs the policy puts in the class
        ``rule``, looked for in an order of their own (the same every run): asking the policy
        costs some microseconds a TAC, and a rule that matches a quarter of 200,000 TACs is
        found in a few thousand."""
        if rule not in self._by_rule:
            order = np.random.default_rng(len(self.tacs)).permutation(len(self.tacs))
            found: list[str] = []
            for at in order.tolist():
                tac = self.tacs[at]
                if RULE + rule in self.classes_of(tac + _PROBE_SERIAL):
                    found.append(tac)
                    if len(found) == RULE_SAMPLE:
                        break
            self._by_rule[rule] = sorted(found)
        return self._by_rule[rule]

    def why_not(self, kind: str) -> str | None:
        """Why ``kind`` cannot be drawn (the end of "the mix asks for KIND but ..."), or None."""
        rule = rule_name(kind)
        if rule is not None:
            if rule not in self.rules:
                return f"--policy-config has no [[policy.device_rules]] named {rule!r}"
            if not self.matching(rule):
                return f"no device of the database matches the rule {rule!r}"
            return None
        if kind == "unapproved":
            if not self.index.has_approved:
                return "no approved-models list is given (give it with --approved)"
            if not self.unapproved():
                return "every device of the database is approved"
        return None

    def tac(self, kind: str, rng: np.random.Generator) -> str:
        """A TAC of ``kind`` (which `why_not` allowed)."""
        if kind == "unallocated":
            return unallocated_tac(self.index, rng)
        rule = rule_name(kind)
        pool = self.unapproved() if rule is None else self.matching(rule)
        return pool[int(rng.integers(0, len(pool)))]


def unallocated_tac(index: DeviceIndex | None, rng: np.random.Generator) -> str:
    """A TAC under a real reporting body (35, 86, 01...) that ``index`` does not hold."""
    from sim.workload import REPORTING_BODIES

    for _ in range(10_000):
        body = REPORTING_BODIES[int(rng.integers(0, len(REPORTING_BODIES)))]
        tac = body + str(int(rng.integers(0, 10**6))).zfill(6)
        if index is None or index.device(tac) is None:
            return tac
    raise ValueError("the device database holds nearly every TAC: no unallocated one found")


def why_not_without_devices(kind: str) -> str | None:
    """Why a device kind cannot be drawn when no device database is given, or None for the
    kinds that do not need one."""
    if kind in DEVICE_KINDS or rule_name(kind) is not None:
        return "no device database is given (give it with --devices)"
    return None
