"""What the simulator sends and expects: request kinds, the mix, probes and outcomes."""

from __future__ import annotations

from typing import NamedTuple

from eir.model import STATUS_WORDS
from eir.sigtran.checkimei import STATUS_NAMES as MAP_STATUS_NAMES
from sim.groups import GROUPS

#: request kinds a mix is made of. ``unknown``: valid IMEIs on no list; ``pair``: an IMEI+IMSI
#: pair entry with its IMSI; ``anomaly``: IMEIs the policy's anomaly rules judge (bad check
#: digit, one digit repeated, zero TAC); ``malformed``: requests a conformant EIR must refuse;
#: the groups of an identities scenario (`sim.identities.GROUPS`): its IMEI+IMSI pairs;
#: with a device database (`sim.device_kinds`), ``unallocated`` (a TAC not in it) and
#: ``unapproved`` (a TAC in it whose model is not approved), and ``rule:NAME`` (`RULE`).
KINDS = (
    "black",
    "grey",
    "white",
    "unknown",
    "pair",
    "anomaly",
    "malformed",
    "unallocated",
    "unapproved",
    *GROUPS,
)
#: ``rule:NAME``: an IMEI whose device matches the ``[[policy.device_rules]]`` named NAME
RULE = "rule:"
#: the mix when lists are given; kinds the lists cannot supply are left out and the rest of the
#: share is ``unknown``
DEFAULT_MIX = {
    "black": 0.1,
    "grey": 0.05,
    "white": 0.05,
    "pair": 0.02,
    "anomaly": 0.02,
    "malformed": 0.01,
}
#: MAP EquipmentStatus names (``whiteListed``) -> the status words of `eir.model.STATUS_WORDS`
MAP_STATUS = {name: STATUS_WORDS[status] for status, name in MAP_STATUS_NAMES.items()}


class MixError(ValueError):
    pass


def parse_mix(text: str) -> dict[str, float]:
    """``black=0.1,grey=0.05,...``: shares of the requests by kind; the rest is ``unknown``."""
    mix: dict[str, float] = {}
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not known_kind(name):
            raise MixError(
                f"{part!r}: expected KIND=SHARE with KIND one of {', '.join(KINDS)} or {RULE}NAME"
            )
        try:
            share = float(value)
        except ValueError:
            raise MixError(f"{part!r}: the share must be a number") from None
        if not 0 <= share <= 1:
            raise MixError(f"{part!r}: a share is between 0 and 1")
        mix[name] = share
    return check_mix(mix)


def known_kind(name: str) -> bool:
    """One of `KINDS`, or ``rule:NAME`` with a name."""
    return name in KINDS or (name.startswith(RULE) and len(name) > len(RULE))


def rule_name(kind: str) -> str | None:
    """NAME of a ``rule:NAME`` kind; None for the other kinds."""
    return kind[len(RULE) :] if kind.startswith(RULE) else None


def check_mix(mix: dict[str, float]) -> dict[str, float]:
    for name, share in mix.items():
        if not known_kind(name):
            raise MixError(
                f"unknown kind {name!r} in the mix (kinds: {', '.join(KINDS)}, {RULE}NAME)"
            )
        if not 0 <= share <= 1:
            raise MixError(f"{name}={share}: a share is between 0 and 1")
    total = sum(mix.values())
    if total > 1 + 1e-9:
        raise MixError(f"the shares add up to {total:g}, more than 1")
    out = dict(mix)
    out["unknown"] = out.get("unknown", 0.0) + max(0.0, 1 - total)
    return out


class Outcome(NamedTuple):
    """One answer reduced to what is checked.

    ``result``: the Diameter Result-Code or Experimental-Result-Code (``"2001"``, ``"5422"``,
    ``"5004"``), or for MAP the TCAP/MAP outcome (``"result"``, ``"error:unknownEquipment"``,
    ``"reject:invoke:mistypedArgument"``, ``"p-abort:..."``). ``status``: ``white``, ``black``,
    ``grey`` or None.
    """

    result: str
    status: str | None = None

    def __str__(self) -> str:
        return self.result if self.status is None else f"{self.result} {self.status}"


_INTERNED: dict[Outcome, Outcome] = {}


def intern(outcome: Outcome) -> Outcome:
    """One object per distinct outcome, so that the hot path compares identities first."""
    return _INTERNED.setdefault(outcome, outcome)


class Probe(NamedTuple):
    """One distinct request: its kind, the identities as sent and the answer expected."""

    kind: str
    imei: str
    imsi: str | None
    expected: Outcome
    note: str = ""

    def describe(self) -> str:
        imsi = f" imsi {self.imsi}" if self.imsi else ""
        note = f" ({self.note})" if self.note else ""
        return f"{self.kind}{note}: imei {self.imei}{imsi}"
