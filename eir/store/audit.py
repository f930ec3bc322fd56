"""The audit trail's pure parts: the audit of a local change (who, why, from where), the filters
`eir audit` selects history records with, and the history record that made an entry (what
`eir lookup` explains an entry with). The records themselves are the store's history: one per
committed change, append-only (nothing deletes them)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eir.model import Entry
from eir.store.api import HandsetChange, HistoryRecord


def login() -> str:
    """Who runs the command: the login name, else the user id."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no LOGNAME/USER and no passwd entry (a bare container)
        return f"uid {os.getuid()}"


def local_change(
    action: str,
    by: str,
    reason: str,
    reference: str,
    imeis: Iterable[str] = (),
    case: str = "",
    config_node: str = "",
) -> HandsetChange:
    """The audit of a change made here from the command line (origin "cli"): ``by`` the
    operator (the login name when empty), ``config_node`` this node's name
    (:func:`eir.host.node_name`)."""
    return HandsetChange(
        action,
        tuple(imeis),
        by or login(),
        reason,
        reference,
        origin="cli",
        node=config_node,
        case=case,
    )


def daemon_change(action: str, node: str, reason: str = "", reference: str = "") -> HandsetChange:
    """The audit of a change the daemon makes itself (a purge, the aggregator's class updates):
    by the node, from the node."""
    return HandsetChange(action, (), node, reason, reference, origin="daemon", node=node)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What `eir audit` selects: every field empty or 0 selects all. ``since``/``until`` are
    epoch seconds (inclusive); ``since_version``/``until_version`` versions (inclusive)."""

    imei: str = ""
    by: str = ""
    action: str = ""
    case: str = ""
    since: int = 0
    until: int = 0
    since_version: int = 0
    until_version: int = 0
    #: the history records that made the entries the IMEI holds now (their versions)
    makers: frozenset[int] = frozenset()

    def matches(self, record: HistoryRecord) -> bool:
        """Whether ``record`` passes every filter given."""
        return (
            self._in_range(record)
            and (not self.by or record.by == self.by)
            and (not self.action or record.action == self.action)
            and (not self.case or record.case == self.case)
            and (not self.imei or self._names_imei(record))
        )

    def _in_range(self, record: HistoryRecord) -> bool:
        if self.since and record.time < self.since:
            return False
        if self.until and record.time > self.until:
            return False
        if self.since_version and record.seq < self.since_version:
            return False
        return not (self.until_version and record.seq > self.until_version)

    def _names_imei(self, record: HistoryRecord) -> bool:
        key = self.imei[:14]
        return record.seq in self.makers or any(i[:14] == key for i in record.imeis)


def select(records: Iterable[HistoryRecord], wanted: AuditFilter) -> list[HistoryRecord]:
    """The records ``wanted`` selects, oldest first (newest last)."""
    return sorted((r for r in records if wanted.matches(r)), key=lambda r: r.seq)


def maker(entry: Entry, records: Sequence[HistoryRecord]) -> HistoryRecord | None:
    """The history record that made ``entry``: a change stamps the entries it writes with its
    own time, so a record of the entry's ``added`` time that wrote entries (of the entry's
    list and source first: a record names only the first list and source of a file that holds
    several), else the newest record of its list and source before it. None when the history
    has none (an entry older than the history)."""
    same_time = [r for r in records if r.time == entry.added and _lists(r) and r.added + r.updated]
    if same_time:
        return max(same_time, key=lambda r: (_writes(r, entry), r.seq))
    before = [r for r in records if r.time < entry.added and _writes(r, entry)]
    return max(before, key=lambda r: r.seq) if before else None


def _writes(record: HistoryRecord, entry: Entry) -> bool:
    """Whether ``record`` names the list and source of ``entry`` (a record naming no source
    wrote several)."""
    return record.list == entry.list.value and (not record.source or record.source == entry.source)


def _lists(record: HistoryRecord) -> bool:
    """Whether ``record`` wrote the list store's entries (not the device database: its
    records name no list)."""
    return bool(record.list)


def audit_fields(change: HandsetChange) -> dict[str, object]:
    """The fields ``change`` adds to the history record of its version (its audit record)."""
    return {
        "action": change.action,
        "imeis": list(change.imeis),
        "by": change.by,
        "reason": change.reason,
        "reference": change.reference,
        "origin": change.origin,
        "node": change.node,
        "case": change.case,
        "update": change.update,
        "restores": change.restores,
    }
