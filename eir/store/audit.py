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
from eir.store.key_history import KeyChanges

#: every history record's ``action`` (docs/audit.md)
ACTIONS = (
    "load", "block", "unblock", "devices", "approved", "grandfather", "class", "case-open",
    "case-block", "case-recover", "purge", "rollback", "snapshot",
)  # fmt: skip


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
    restores: int = 0,
) -> HandsetChange:
    """The audit of a change made here from the command line (origin "cli"): ``by`` the
    operator (the login name when empty), ``config_node`` this node's name
    (:func:`eir.host.node_name`), ``restores`` the version a rollback restores."""
    return HandsetChange(
        action,
        tuple(imeis),
        by or login(),
        reason,
        reference,
        origin="cli",
        node=config_node,
        case=case,
        restores=restores,
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
    #: the versions that made the entries the IMEI holds now or whose kept change sets
    #: changed its entries (added, changed or removed them)
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
        return record.seq in self.makers or names_imei(record, self.imei)


def select(records: Iterable[HistoryRecord], wanted: AuditFilter) -> list[HistoryRecord]:
    """The records ``wanted`` selects, oldest first (newest last)."""
    return sorted((r for r in records if wanted.matches(r)), key=lambda r: r.seq)


def maker(
    entry: Entry,
    records: Sequence[HistoryRecord],
    key: str = "",
    changes: KeyChanges | None = None,
) -> HistoryRecord | None:
    """The history record that made ``entry``, found at the IMEI ``key`` whose kept change
    sets are ``changes`` (:func:`eir.store.key_history.key_changes`):

    * the newest kept version whose change set wrote ``entry`` (not there before, there
      after): exact, whatever the entry's ``added`` says (a list file's ``added`` cell);
    * else a record of the entry's ``added`` time (a change stamps the entries it writes with
      its own time) that wrote entries, the best fitting first: one naming ``key`` among its
      IMEIs or whose change set holds it, then one of the entry's list and source (a record
      of a single-handset action naming other IMEIs did not write it), the newest of equals;
    * else the newest record of its list and source before it.

    None when the history has none (an entry older than the history)."""
    changes = changes or {}
    wrote = [v for v, (old, new) in changes.items() if entry in new and entry not in old]
    by_version = {r.seq: r for r in records}
    for version in sorted(wrote, reverse=True):
        if version in by_version:
            return by_version[version]
    fits = [(_fit(r, entry, key, changes), r.seq, r) for r in records]
    same_time = [f for f in fits if f[2].time == entry.added and _lists(f[2]) and _wrote(f[2])]
    if same_time:
        return max(same_time, key=lambda f: f[:2])[2]
    before = [f for f in fits if f[2].time < entry.added and f[0] > 0]
    return max(before, key=lambda f: f[:2])[2] if before else None


def _fit(record: HistoryRecord, entry: Entry, key: str, changes: KeyChanges) -> int:
    """How well ``record`` fits as the maker of ``entry`` at ``key``: 2 it names the key or
    its change set holds it, 1 it wrote the entry's list and source (and names no other IMEI
    only), 0 it did not write it."""
    if record.seq in changes or (key and names_imei(record, key)):
        return 2
    if record.imeis and key:
        return 0
    return 1 if _writes(record, entry) else 0


def names_imei(record: HistoryRecord, key: str) -> bool:
    """Whether ``record`` (a single-handset action's) names the IMEI ``key`` (14 digits
    compared: a check digit does not matter)."""
    return any(i[:14] == key[:14] for i in record.imeis)


def _wrote(record: HistoryRecord) -> bool:
    return bool(record.added + record.updated)


def _writes(record: HistoryRecord, entry: Entry) -> bool:
    """Whether ``record`` names the list and source of ``entry`` (a record naming no source
    wrote several)."""
    return record.list == entry.list.value and (not record.source or record.source == entry.source)


def _lists(record: HistoryRecord) -> bool:
    """Whether ``record`` wrote the list store's entries (not the device database: its
    records name no list; a rollback names none either, and writes any)."""
    return bool(record.list) or record.action == "rollback"


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
