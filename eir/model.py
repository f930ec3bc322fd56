"""Protocol-neutral values of the EIR: lists, entries, check requests and results.

Layer 0: standard library only.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import NamedTuple

from eir.identity import Anomaly, Imei, Imsi


class EquipmentStatus(enum.IntEnum):
    """Equipment-Status (TS 29.272 clause 7.3.51) and MAP EquipmentStatus (TS 29.002)."""

    WHITELISTED = 0
    BLACKLISTED = 1
    GREYLISTED = 2


class ListName(enum.StrEnum):
    WHITE = "white"
    GREY = "grey"
    BLACK = "black"

    @property
    def status(self) -> EquipmentStatus:
        return _STATUS_OF[self]

    @property
    def code(self) -> bytes:
        """One byte that stands for the list in the store's records."""
        return _CODE_OF[self]


_STATUS_OF = {
    ListName.WHITE: EquipmentStatus.WHITELISTED,
    ListName.GREY: EquipmentStatus.GREYLISTED,
    ListName.BLACK: EquipmentStatus.BLACKLISTED,
}
_CODE_OF = {ListName.WHITE: b"W", ListName.GREY: b"G", ListName.BLACK: b"B"}
#: each Equipment-Status by the list word operators use (``white``, ``black``, ``grey``):
#: event topics, metrics labels and eir-sim's outcomes; the one definition of those words
STATUS_WORDS: dict[int, str] = {int(status): str(name) for name, status in _STATUS_OF.items()}
#: the word of "no status" (unknown equipment)
UNKNOWN_WORD = "unknown"


class Level(enum.StrEnum):
    """Where an entry sits; the policy's precedence runs pair, then exact IMEI, then (with the
    anomalies) class, then range."""

    PAIR = "pair"
    IMEI = "imei"
    RANGE = "range"
    #: a class eir learnt about the IMEI (the list store's ``class`` table): the entry's
    #: ``source`` is the class, ``reason`` the rule that found it, ``reference`` its figures
    CLASS = "class"


# Entry, Match and Hits are built on every listed lookup: NamedTuples are immutable like frozen
# dataclasses and three times cheaper to build.


class Entry(NamedTuple):
    """One list entry: which list, who put it there, why, and when (seconds since the epoch).

    ``digit`` is the check digit its IMEI was written with in the list file (kept even when
    wrong, so an export writes the IMEI as it was loaded); None when it had 14 digits.

    ``effective`` and ``expires`` (seconds since the epoch, 0: none) bound when the entry
    holds (:func:`entry_state`): before ``effective`` a black entry is in its notice period
    (a grace period: it answers the notice answer, grey by default, and black from its due
    date on) and a white or grey one does not match yet; from ``expires`` on it matches no
    more and waits for the purge. Unlike ``added`` they are content: the digest covers them.
    """

    list: ListName
    source: str
    reason: str = ""
    reference: str = ""
    added: int = 0
    digit: int | None = None
    effective: int = 0
    expires: int = 0


def utc_text(stamp: float) -> str:
    """``2026-12-15T00:00:00Z``: a time (seconds since the epoch) as eir writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


class EntryState(enum.StrEnum):
    """Where an entry stands at a given time (:func:`entry_state`)."""

    #: it holds: no times, or past ``effective`` and before ``expires``
    IN_FORCE = "in-force"
    #: a black entry before its due date (``effective``): it answers the notice answer
    NOTICE = "notice"
    #: a white or grey entry before ``effective``: it does not match yet
    PENDING = "pending"
    #: ``expires`` is past: it matches no more (``eir purge`` deletes it)
    EXPIRED = "expired"


def is_expired(expires: int, now: float) -> bool:
    """The one expiry test: an entry whose ``expires`` (0: none) is ``now`` or before matches
    no more (the answer path, ``eir lookup``, the purge, and the load and block refusing
    entries that would never match)."""
    return bool(expires) and now >= expires


def entry_state(entry: Entry, now: float) -> EntryState:
    """The state of ``entry`` at ``now`` (seconds since the epoch)."""
    if is_expired(entry.expires, now):
        return EntryState.EXPIRED
    if entry.effective and now < entry.effective:
        return EntryState.NOTICE if entry.list is ListName.BLACK else EntryState.PENDING
    return EntryState.IN_FORCE


class Match(NamedTuple):
    """An entry together with where it was found.

    ``key`` is the 14-digit IMEI for ``imei`` and ``pair`` (``imsi`` set for a pair), and the
    first IMEI of the range for ``range`` (``last`` set).
    """

    level: Level
    key: str
    entry: Entry
    last: str | None = None
    imsi: str | None = None

    @property
    def width(self) -> int:
        """How many IMEIs the entry covers (1 but for ranges)."""
        return 1 if self.last is None else int(self.last) - int(self.key) + 1

    def describe(self) -> str:
        if self.level is Level.RANGE:
            where = f"range {self.key}-{self.last}"
        elif self.level is Level.PAIR:
            where = f"pair {self.key}+{self.imsi}"
        elif self.level is Level.CLASS:
            entry = self.entry
            return f"{entry.source} ({entry.reason}: {entry.reference})"
        else:
            where = f"imei {self.key}"
        return f"{where} on {self.entry.list} from {self.entry.source}"


class Hits(NamedTuple):
    """What the store holds for one IMEI (and IMSI): every entry at each level.

    ``ranges`` holds only the narrowest ranges that contain the IMEI (several when equally wide);
    ``classes`` the IMEI's classes (:class:`StoreClass`, one match per class).
    """

    pair: tuple[Match, ...] = ()
    imei: tuple[Match, ...] = ()
    ranges: tuple[Match, ...] = ()
    classes: tuple[Match, ...] = ()


NO_HITS = Hits()


class CheckRequest(NamedTuple):
    """One question to the EIR, protocol-neutral. A NamedTuple: one is made per request."""

    imei: Imei
    imsi: Imsi | None = None
    protocol: str = "cli"
    peer: str = ""
    #: the MAP dialogue's version (1 to 3); None for the other protocols
    version: int | None = None


class StoreClass(enum.StrEnum):
    """A class an IMEI gets from what eir learnt about it (not from its digits, unlike an
    :class:`~eir.identity.Anomaly`): held in the list store's ``class`` table, distributed
    like the lists, its answer set by ``policy.classes``."""

    #: the IMEI is used by more SIMs than one handset can be (``[[observations.duplicate_rules]]``)
    DUPLICATE = "duplicate"


#: the radio technologies a device's radio interface is named by (eir.devices.record.radios),
#: and the only names ``policy.device_rules`` match on
RADIO_TECHNOLOGIES: tuple[str, ...] = ("GSM", "UMTS", "LTE", "NR", "CDMA", "NB-IOT")


class Rule(enum.StrEnum):
    """Which rule decided."""

    PAIR = "pair"
    IMEI = "imei"
    ANOMALY = "anomaly"
    CLASS = "class"
    #: a ``[[policy.device_rules]]`` rule on the device behind the TAC
    DEVICE_RULE = "device-rule"
    RANGE = "range"
    UNKNOWN = "unknown"


class Finding(NamedTuple):
    """A validity class of the device database (``tac-unallocated``, ``not-approved``,
    ``malformed``) or a device rule that matched the IMEI, with what it saw."""

    #: the class (an :class:`~eir.identity.Anomaly` value) or the rule's name
    name: str
    #: its configured action: ignore, white, grey, black or unknown
    action: str
    #: what matched: "TAC 35209900 not in the device database"
    detail: str
    #: True for a device rule, False for a class
    rule: bool = False
    #: why it does not act although it matched ("first seen 2023-05-01, before 2024-03-01");
    #: "" when it acts
    exempt: str = ""


class CheckResult(NamedTuple):
    """The decision. ``status`` None means "unknown equipment" (Diameter 5422, MAP error 7).

    A NamedTuple (immutable) because one is made for every request on the answer path.
    """

    status: EquipmentStatus | None
    rule: Rule
    match: Match | None = None
    anomalies: frozenset[Anomaly] = frozenset()
    decided_by_anomaly: Anomaly | None = None
    #: every class of the IMEI (:attr:`Hits.classes`), whether it decided or not
    classes: tuple[Match, ...] = ()
    #: the class that decided (then ``rule`` is :attr:`Rule.CLASS` and ``match`` its entry)
    decided_by_class: str | None = None
    #: the device database's classes and the device rules that matched, acting or not
    findings: tuple[Finding, ...] = ()
    #: the device rule that decided (then ``rule`` is :attr:`Rule.DEVICE_RULE`)
    decided_by_rule: str | None = None
    #: the deciding entry (``match``) is in its notice period (a black entry before its due
    #: date, :attr:`EntryState.NOTICE`): ``status`` is the notice answer, not its list's
    notice: bool = False

    @property
    def answer(self) -> str:
        return "unknown" if self.status is None else self.status.name.lower()

    def explain(self) -> str:
        if self.match is not None:
            if self.notice:
                due = utc_text(self.match.entry.effective)
                return f"{self.rule}: {self.match.describe()}, notice: black from {due}"
            return f"{self.rule}: {self.match.describe()}"
        if self.decided_by_rule is not None:
            found = self.finding(self.decided_by_rule, rule=True)
            return f"rule {self.decided_by_rule}: {'' if found is None else found.detail}"
        if self.decided_by_anomaly is not None:
            found = self.finding(self.decided_by_anomaly.value)
            if found is not None:
                return f"class: {found.name} ({found.detail})"
            return f"anomaly: {self.decided_by_anomaly}"
        return f"{self.rule}: on no list"

    def finding(self, name: str, *, rule: bool = False) -> Finding | None:
        """The finding of the class or rule ``name`` (None when it did not match)."""
        return next((f for f in self.findings if f.name == name and f.rule is rule), None)


#: what answers a CheckRequest: the policy over the store, as the protocol cores receive it
Decide = Callable[[CheckRequest], CheckResult]
