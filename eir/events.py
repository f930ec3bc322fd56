"""Events the EIR publishes: what each one holds, and the bounded queue they wait in.

Publishing never touches the answer path. A check only passes a filter (a string compare and,
with sampling, one random number) and appends a tuple to a bounded queue; a full queue drops
the event and counts it. The JSON is built later, by the publisher's task, from plain values.

Topics (under the configured prefix):

* ``check/<status>``: one check; status is white, grey, black or unknown
* ``events/peer``: a Diameter peer or an M3UA association up or down
* ``events/lists``: the lists changed (a local load, or an applied update)
* ``events/duplicate``: the aggregating node found an IMEI used by more SIMs than one handset
* ``events/dropped``: how many events were dropped while the broker was away or slow
* ``events/pairing``: a subscriber seen with a new handset, or a handset with a new SIM
  (``events.pairing``; `eir.observations.writer` offers them)
* ``events/case``: a theft case opened, blocked or recovered on this node (``events.cases``;
  `eir.observe.list_watch` offers them)

Layer 0: standard library only.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from eir.model import (
    STATUS_WORDS,
    UNKNOWN_WORD,
    CheckRequest,
    CheckResult,
    Entry,
    EntryState,
    entry_state,
)

CHECK_STATUSES = ("white", "grey", "black", "unknown")


def status_name(result: CheckResult) -> str:
    """white, grey, black or unknown: the list words operators use (topics, labels)."""
    return UNKNOWN_WORD if result.status is None else STATUS_WORDS[result.status]


def iso_time(stamp: float) -> str:
    """UTC, milliseconds, ``Z``: 2026-11-23T10:00:00.123Z."""
    text = datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def mask_imsi(digits: str) -> str:
    """Keep the home network (MCC + MNC, the first 5 digits); hide the subscriber."""
    return digits[:5] + "*" * max(0, len(digits) - 5)


class CheckFilter:
    """Which checks become events: ``all``, ``non-white`` or ``none``, then a sample share."""

    def __init__(self, checks: str, sample: float, rng: Callable[[], float] | None = None) -> None:
        if checks not in ("all", "non-white", "none"):
            raise ValueError(f"checks: {checks!r} is not all, non-white or none")
        self.none = checks == "none" or sample <= 0
        self.non_white = checks == "non-white"
        self.sample = sample
        self._random = rng or random.random

    def wanted(self, result: CheckResult) -> bool:
        if self.none:
            return False
        if self.non_white and result.status == 0:  # EquipmentStatus.WHITELISTED
            return False
        return self.sample >= 1.0 or self._random() < self.sample


class CheckEvent(NamedTuple):
    """A check as queued: the request, the decision and when (seconds since the epoch, the
    wall clock); ``judged``: the lifecycle clock the answer was judged by (the wall clock
    plus ``lifecycle.clock_offset_s``; 0: ``time``), what the entry's state is told at."""

    request: CheckRequest
    result: CheckResult
    time: float
    judged: float = 0.0


class PeerChange(NamedTuple):
    protocol: str  # diameter or m3ua
    peer: str  # Origin-Host, or the association's address
    up: bool
    detail: str
    time: float


class ListsChanged(NamedTuple):
    generation: int
    entries: dict[str, int]  # per list
    cause: str  # "update <prefix> #<seq>" or "load"
    time: float
    version: int  # the last applied update's sequence number (0: none)


class DuplicateFound(NamedTuple):
    """A duplicate rule newly matching an IMEI (`eir.observations.duplicate`)."""

    imei: str
    imsis: tuple[str, ...]
    rule: str
    figures: dict[str, float]
    time: float  # the observation clock


class PairingChanged(NamedTuple):
    """A pair seen for the first time whose IMSI or IMEI was seen before with another:
    ``kind`` "handset" (the IMSI has a new handset; ``others``: its previous IMEIs) or "sim"
    (the IMEI has a new SIM; ``others``: its previous IMSIs)."""

    kind: str
    imei: str
    imsi: str
    others: tuple[str, ...]
    time: float


class CaseChanged(NamedTuple):
    """A theft case that changed state on this node (`eir case`): ``previous`` None when it
    was opened."""

    case: str
    state: str
    previous: str | None
    imeis: tuple[str, ...]
    imsis: tuple[str, ...]
    reason: str
    by: str
    version: int
    time: float  # when the change was committed


Event = CheckEvent | PeerChange | ListsChanged | DuplicateFound | PairingChanged | CaseChanged


class EventQueue:
    """A bounded FIFO: ``offer`` never blocks and never grows past ``size``; drops are counted.

    ``dropped`` counts every drop since start; ``unreported`` those not yet published as an
    ``events/dropped`` event (the publisher resets it once it has said so).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: deque[Event] = deque()
        self.dropped = 0
        self.unreported = 0
        self.offered = 0
        self.published = 0
        self.wakeup: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, event: Event) -> bool:
        self.offered += 1
        if len(self._items) >= self.size:
            self.dropped += 1
            self.unreported += 1
            return False
        self._items.append(event)
        if len(self._items) == 1 and self.wakeup is not None:
            self.wakeup()
        return True

    def take(self, most: int) -> list[Event]:
        items = self._items
        count = min(most, len(items))
        return [items.popleft() for _ in range(count)]


def check_fields(request: CheckRequest, result: CheckResult, mask: bool) -> dict[str, Any]:
    """What a check event and a check log line (`eir.check_log`) both say of a check: imei,
    imsi (masked with ``mask``), protocol, map_version, peer, answer (white, grey, black,
    unknown) and why (a pair's IMSI masked too)."""
    imsi = None if request.imsi is None else request.imsi.digits
    why = result.explain()
    if mask:
        if imsi is not None:
            imsi = mask_imsi(imsi)
        pair = result.match.imsi if result.match is not None else None
        if pair:
            why = why.replace(pair, mask_imsi(pair))
    return {
        "imei": str(request.imei),
        "imsi": imsi,
        "protocol": request.protocol,
        "map_version": request.version,
        "peer": request.peer,
        "answer": status_name(result),
        "why": why,
    }


def decided_by(result: CheckResult) -> str | None:
    """The class (``duplicate``), the validity class (``check-digit``) or the device rule
    (its name) that decided, as ``why`` names it after the rule; None when a list entry or the
    unknown answer decided."""
    if result.decided_by_class is not None:
        return result.decided_by_class
    if result.decided_by_rule is not None:
        return result.decided_by_rule
    anomaly = result.decided_by_anomaly
    return None if anomaly is None else anomaly.value


def check_message(event: CheckEvent, node: str, mask: bool) -> tuple[str, dict[str, Any]]:
    """(topic under the prefix, JSON object) of one check."""
    request, result = event.request, event.result
    said = check_fields(request, result, mask)
    status = said["answer"]
    match = result.match
    body: dict[str, Any] = {
        "type": "check",
        "time": iso_time(event.time),
        "node": node,
        "protocol": said["protocol"],
        "map_version": said["map_version"],
        "peer": said["peer"],
        "imei": said["imei"],
        "imsi": said["imsi"],
        "status": status,
        "rule": result.rule.value,
        "why": said["why"],
        "anomalies": sorted(a.value for a in result.anomalies),
        #: every class of the IMEI: validity (``tac-unallocated``) and learnt (``duplicate``),
        #: whether one decided or not
        "classes": sorted(
            {m.entry.source for m in result.classes} | {a.value for a in result.anomalies}
        ),
        #: the device rules that matched (an exempt one too), in the configured order
        "rules": [f.name for f in result.findings if f.rule],
        #: the class or anomaly that decided, named as in ``why``; None for a list entry
        "decided_by": decided_by(result),
        "entry": None
        if match is None
        else {
            "level": match.level.value,
            "imei": match.key,
            "imei_last": match.last,
            "imsi": (mask_imsi(match.imsi) if mask else match.imsi) if match.imsi else None,
            "list": match.entry.list.value,
            "source": match.entry.source,
            "reason": match.entry.reason,
            "reference": match.entry.reference,
            "added": iso_time(match.entry.added),
            **entry_times(match.entry, event.judged or event.time, result.notice),
        },
    }
    return f"check/{status}", body


def entry_times(entry: Entry, now: float, notice: bool) -> dict[str, Any]:
    """The deciding entry's lifecycle in a check event: its due date (``effective``) and
    expiry (ISO, null when none), its state at the check's time and whether the answer was its
    notice answer (a black entry before its due date)."""
    return {
        "effective": iso_time(entry.effective) if entry.effective else None,
        "expires": iso_time(entry.expires) if entry.expires else None,
        # the answer's own word first: a check judged at another clock (lifecycle.clock_offset_s)
        "state": EntryState.NOTICE.value if notice else entry_state(entry, now).value,
        "notice": notice,
    }


def peer_message(event: PeerChange, node: str) -> tuple[str, dict[str, Any]]:
    return "events/peer", {
        "type": "peer",
        "time": iso_time(event.time),
        "node": node,
        "protocol": event.protocol,
        "peer": event.peer,
        "state": "up" if event.up else "down",
        "detail": event.detail,
    }


def lists_message(event: ListsChanged, node: str) -> tuple[str, dict[str, Any]]:
    return "events/lists", {
        "type": "lists",
        "time": iso_time(event.time),
        "node": node,
        "generation": event.generation,
        "entries": event.entries,
        "cause": event.cause,
        "version": event.version,
    }


def dropped_message(node: str, dropped: int, total: int, now: float) -> tuple[str, dict[str, Any]]:
    return "events/dropped", {
        "type": "dropped",
        "time": iso_time(now),
        "node": node,
        "dropped": dropped,
        "total": total,
    }


def duplicate_message(event: DuplicateFound, node: str, mask: bool) -> tuple[str, dict[str, Any]]:
    return "events/duplicate", {
        "type": "duplicate",
        "time": iso_time(event.time),
        "node": node,
        "imei": event.imei,
        "imsis": [mask_imsi(i) if mask else i for i in event.imsis],
        "rule": event.rule,
        "figures": event.figures,
    }


def pairing_message(event: PairingChanged, node: str, mask: bool) -> tuple[str, dict[str, Any]]:
    """``imsi`` masked with ``mask``; ``others`` are IMEIs (kind handset) or IMSIs, masked too
    (kind sim)."""
    hide = mask_imsi if mask else str
    others = list(event.others) if event.kind == "handset" else [hide(o) for o in event.others]
    return "events/pairing", {
        "type": "pairing",
        "time": iso_time(event.time),
        "node": node,
        "kind": event.kind,
        "imei": event.imei,
        "imsi": hide(event.imsi),
        "others": others,
    }


def case_message(event: CaseChanged, node: str, mask: bool) -> tuple[str, dict[str, Any]]:
    """``events/case``: the owner's IMSIs masked with ``mask``."""
    return "events/case", {
        "type": "case",
        "time": iso_time(event.time),
        "node": node,
        "case": event.case,
        "state": event.state,
        "previous": event.previous,
        "imeis": list(event.imeis),
        "imsis": [mask_imsi(i) if mask else i for i in event.imsis],
        "reason": event.reason,
        "by": event.by,
        "version": event.version,
    }


def message_of(event: Event, node: str, mask: bool) -> tuple[str, dict[str, Any]]:
    if isinstance(event, CheckEvent):
        return check_message(event, node, mask)
    if isinstance(event, PeerChange):
        return peer_message(event, node)
    if isinstance(event, DuplicateFound):
        return duplicate_message(event, node, mask)
    if isinstance(event, PairingChanged):
        return pairing_message(event, node, mask)
    if isinstance(event, CaseChanged):
        return case_message(event, node, mask)
    return lists_message(event, node)
