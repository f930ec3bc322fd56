"""Theft cases: the record the ``case`` table keeps of one (its reference, state, IMEIs, IMSIs,
reason, who opened it and when, and every state change) and the state machine its commands
follow. Pure: the CLI (:mod:`eir.cli.cases`) reads and writes the records through the store,
in the same transaction as the case's entries and its history record.

The states: ``pending`` (opened: the police verify ownership) -> ``blocked`` -> ``recovered``.
A pending case may be recovered too (withdrawn: the owner found the phone, or the claim did not
hold). A recovered case is closed: it is never blocked or recovered again, and its reference is
not reused.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass

from eir.errors import EirError

#: a case reference: 1 to 64 of letters, digits and ``._-/``
REFERENCE_RE = re.compile(r"[A-Za-z0-9._/-]{1,64}")


class CaseError(EirError):
    """A case command that cannot be done (a wrong transition, an unknown or a reused
    reference): nothing was changed."""


class CaseState(enum.StrEnum):
    PENDING = "pending"
    BLOCKED = "blocked"
    RECOVERED = "recovered"


#: the state each case action leads to, and the history action (``case-<verb>``) naming it
ACTIONS = {
    "open": CaseState.PENDING,
    "block": CaseState.BLOCKED,
    "recover": CaseState.RECOVERED,
}
#: the states each state may go to
_NEXT = {
    CaseState.PENDING: (CaseState.BLOCKED, CaseState.RECOVERED),
    CaseState.BLOCKED: (CaseState.RECOVERED,),
    CaseState.RECOVERED: (),
}


@dataclass(frozen=True, slots=True)
class Step:
    """One state change of a case: the state it went to, when, by whom, and a note."""

    state: CaseState
    time: int
    by: str
    note: str = ""
    #: the version (history record) that made it
    version: int = 0


@dataclass(frozen=True, slots=True)
class CaseImei:
    """One IMEI of a case: as written (digits only), its 14-digit key, and the check digit
    it was written with (:data:`eir.store.records.NO_DIGIT` for 14 digits)."""

    written: str
    key: str
    digit: int


@dataclass(frozen=True, slots=True)
class Case:
    reference: str
    state: CaseState
    imeis: tuple[CaseImei, ...]
    imsis: tuple[str, ...]
    reason: str
    by: str
    opened: int
    steps: tuple[Step, ...]

    def json(self) -> dict[str, object]:
        """The case as ``eir case show --json`` prints it and the table keeps it."""
        return {
            "reference": self.reference,
            "state": self.state.value,
            "imeis": [i.written for i in self.imeis],
            "keys": [i.key for i in self.imeis],
            "digits": [i.digit for i in self.imeis],
            "imsis": list(self.imsis),
            "reason": self.reason,
            "by": self.by,
            "opened": self.opened,
            "history": [
                {
                    "state": s.state.value,
                    "time": s.time,
                    "by": s.by,
                    "note": s.note,
                    "version": s.version,
                }
                for s in self.steps
            ],
        }

    def previous(self, state: CaseState) -> CaseState | None:
        """The state the case was in before it last went to ``state`` (None: it was opened
        in it)."""
        for index in range(len(self.steps) - 1, 0, -1):
            if self.steps[index].state is state:
                return self.steps[index - 1].state
        return None


def case_key(reference: str) -> bytes:
    return reference.encode()


def pack_case(case: Case) -> bytes:
    return json.dumps(case.json(), sort_keys=True).encode()


def unpack_case(raw: bytes) -> Case:
    data = json.loads(raw)
    return Case(
        reference=data["reference"],
        state=CaseState(data["state"]),
        imeis=tuple(
            CaseImei(w, k, d)
            for w, k, d in zip(data["imeis"], data["keys"], data["digits"], strict=True)
        ),
        imsis=tuple(data["imsis"]),
        reason=data["reason"],
        by=data["by"],
        opened=data["opened"],
        steps=tuple(
            Step(CaseState(s["state"]), s["time"], s["by"], s["note"], s.get("version", 0))
            for s in data["history"]
        ),
    )


def check_reference(text: str) -> str:
    if not REFERENCE_RE.fullmatch(text):
        raise CaseError(
            f"case reference {text!r} is not valid: 1 to 64 of letters, digits and ._-/"
        )
    return text


def opened(
    reference: str,
    imeis: tuple[CaseImei, ...],
    imsis: tuple[str, ...],
    reason: str,
    by: str,
    note: str,
    now: int,
) -> Case:
    """A new case, pending."""
    step = Step(CaseState.PENDING, now, by, note)
    return Case(reference, CaseState.PENDING, imeis, imsis, reason, by, now, (step,))


def moved(case: Case, state: CaseState, by: str, note: str, now: int) -> Case:
    """``case`` gone to ``state``; a transition the machine does not allow is a
    :class:`CaseError` naming the case's state."""
    if state not in _NEXT[case.state]:
        raise CaseError(f"case {case.reference} is {case.state.value}: {_refusal(case, state)}")
    step = Step(state, now, by, note)
    return Case(
        case.reference,
        state,
        case.imeis,
        case.imsis,
        case.reason,
        case.by,
        case.opened,
        (*case.steps, step),
    )


def stamped(case: Case, version: int) -> Case:
    """``case`` with its last step naming the version that made it."""
    last = case.steps[-1]
    step = Step(last.state, last.time, last.by, last.note, version)
    return Case(
        case.reference,
        case.state,
        case.imeis,
        case.imsis,
        case.reason,
        case.by,
        case.opened,
        (*case.steps[:-1], step),
    )


def _refusal(case: Case, state: CaseState) -> str:
    if case.state is state:
        return f"it is {state.value} already; nothing was changed"
    if case.state is CaseState.RECOVERED:
        return f"a recovered case is closed, it cannot be {state.value}; nothing was changed"
    return f"it cannot go back to {state.value}; nothing was changed"
