"""`eir lookup`'s explanation of an IMEI's entries: for the deciding entry and every other one
the IMEI holds, its state at the time asked (:func:`eir.model.entry_state`), due date and expiry,
the theft case it belongs to and the audit record (history record) that made it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence

from eir import lifecycle
from eir.cli.audit import where_made
from eir.config import Config
from eir.errors import ConfigError, IdentityError
from eir.model import CheckResult, Entry, Hits, Level, Match, entry_state, utc_text
from eir.store.api import HistoryRecord
from eir.store.audit import maker
from eir.store.key_history import KeyChanges, key_changes, table_key
from eir.store.lmdb_store import LmdbStore
from eir.store.records import CASES
from eir.store.times import option_time

#: the case a reference names: its state, else None (no case table, or no such case)
CaseState = Callable[[str], str | None]


def no_cases(reference: str) -> str | None:
    """The case lookup of a store without cases: none known."""
    return None


def case_lookup(store: LmdbStore) -> CaseState:
    """The state of a theft case by its reference, from the store's ``case`` table (a record
    keyed by the reference whose ``state`` is the case's, :mod:`eir.store.cases`): None when
    the table holds no such case."""

    def state(reference: str) -> str | None:
        snapshot = store.snapshot()
        try:
            raw = snapshot.get(CASES, reference.encode())
        finally:
            snapshot.release()
        if raw is None:
            return None
        with contextlib.suppress(ValueError, AttributeError):
            said = json.loads(raw).get("state")
            return said if isinstance(said, str) else None
        return None

    return state


def change_lookup(store: LmdbStore) -> Callable[[Match], KeyChanges]:
    """The kept change sets of the key a match was found at, read from ``store``."""

    def changes(match: Match) -> KeyChanges:
        place = table_key(match)
        if place is None:
            return {}
        snapshot = store.snapshot()
        try:
            return key_changes(snapshot, *place)
        finally:
            snapshot.release()

    return changes


def at_time(text: str | None, config: Config) -> float:
    """``--at`` (:func:`eir.store.times.option_time`), else now by the lifecycle's clock
    (:func:`eir.lifecycle.now`: the clock the daemon answers by)."""
    if text is None:
        return lifecycle.now(config)
    try:
        return option_time(text, "--at")
    except IdentityError as exc:
        raise ConfigError(str(exc)) from None


class Explainer:
    """What `eir lookup` adds to an answer: built once per command (the history read once,
    when an IMEI has an entry)."""

    def __init__(
        self,
        config: Config,
        history: Callable[[], Sequence[HistoryRecord]],
        at: float,
        case_state: CaseState = no_cases,
        changes: Callable[[Match], KeyChanges] = lambda match: {},
    ) -> None:
        self.case_source = config.cases.source
        self.read_history = history
        self._history: Sequence[HistoryRecord] | None = None
        self.at = at
        self.case_state = case_state
        #: the kept change sets of the key a match was found at
        self.changes = changes

    @property
    def history(self) -> Sequence[HistoryRecord]:
        """The store's history, read when an entry first needs its maker."""
        if self._history is None:
            self._history = self.read_history()
        return self._history

    def clock(self) -> float:
        """The time the lookup is judged at (``decide``'s clock)."""
        return self.at

    def entry_fields(self, match: Match) -> dict[str, object]:
        """An entry's state, times, case and maker, as the JSON shows them."""
        entry = match.entry
        made = maker(entry, self.history, match.key, self.changes(match))
        return {
            "effective": utc_text(entry.effective) if entry.effective else None,
            "expires": utc_text(entry.expires) if entry.expires else None,
            "state": entry_state(entry, self.at).value,
            "case": self._case(entry),
            "made_by": None if made is None else made_by(made),
        }

    def _case(self, entry: Entry) -> dict[str, object] | None:
        if entry.source != self.case_source or not entry.reference:
            return None
        return {"reference": entry.reference, "state": self.case_state(entry.reference)}

    def explain(self, result: CheckResult, hits: Hits) -> dict[str, object]:
        """The explanation's fields of the lookup's JSON: the time judged at, whether the
        answer is a notice answer, and every list entry of the IMEI (the deciding one
        marked)."""
        entries = []
        for match in (*hits.pair, *hits.imei, *hits.ranges):
            entries.append(
                match_dict(match) | self.entry_fields(match) | {"decided": match == result.match}
            )
        return {"at": utc_text(self.at), "notice": result.notice, "entries": entries}


def made_by(record: HistoryRecord) -> dict[str, object]:
    """The audit record that made an entry, in short: which version, when, what, who, from
    where, why (reason, reference) and its case."""
    return {
        "version": record.seq,
        "time": utc_text(record.time),
        "action": record.action,
        "by": record.by,
        "origin": record.origin,
        "node": record.node,
        "reason": record.reason,
        "reference": record.reference,
        "case": record.case,
    }


def match_dict(match: Match) -> dict[str, object]:
    """Where an entry sits and what it says (as the lookup's ``entry``)."""
    entry = match.entry
    return {
        "level": match.level.value,
        "imei": match.key,
        "imei_last": match.last,
        "imsi": match.imsi,
        "list": entry.list.value,
        "source": entry.source,
        "reason": entry.reason,
        "reference": entry.reference,
        "added": utc_text(entry.added),
    }


def explanation_lines(data: dict[str, object]) -> list[str]:
    """The explanation for a reader: the deciding entry's state, times, case and maker, then
    each other entry in one line."""
    entries = data.get("entries")
    if not isinstance(entries, list):
        return []
    lines: list[str] = []
    for entry in entries:
        if entry["decided"]:
            lines += _decided_lines(entry)
    for entry in entries:
        if not entry["decided"]:
            lines.append(f"  also: {_where(entry)}, {_short(entry)}")
    return lines


def _decided_lines(entry: dict[str, object]) -> list[str]:
    lines = []
    if entry["effective"] or entry["expires"] or entry["state"] != "in-force":
        lines.append(f"  state: {_state(entry)}")
    case = entry["case"]
    if isinstance(case, dict):
        state = f" ({case['state']})" if case["state"] else ""
        lines.append(f"  case: {case['reference']}{state}")
    made = entry["made_by"]
    if isinstance(made, dict):
        lines.append(f"  made: {_made(made)}")
    return lines


def _state(entry: dict[str, object]) -> str:
    said = [str(entry["state"])]
    if entry["effective"]:
        said.append(f"due {entry['effective']}")
    if entry["expires"]:
        said.append(f"expires {entry['expires']}")
    return ", ".join(said)


def _made(made: dict[str, object]) -> str:
    where = where_made(str(made["origin"]), str(made["node"]))
    why = [f"{name} {made[name]}" for name in ("reason", "reference") if made.get(name)]
    said = f": {', '.join(why)}" if why else ""
    return (
        f"v{made['version']} {made['action']} {made['time']} by {made['by'] or '?'} ({where}){said}"
    )


def _where(entry: dict[str, object]) -> str:
    level = entry["level"]
    if level == Level.RANGE:
        place = f"range {entry['imei']}-{entry['imei_last']}"
    elif level == Level.PAIR:
        place = f"pair {entry['imei']}+{entry['imsi']}"
    else:
        place = f"imei {entry['imei']}"
    return f"{place} on {entry['list']} from {entry['source']}"


def _short(entry: dict[str, object]) -> str:
    said = [_state(entry)]
    case = entry["case"]
    if isinstance(case, dict):
        said.append(f"case {case['reference']}" + (f" ({case['state']})" if case["state"] else ""))
    made = entry["made_by"]
    if isinstance(made, dict):
        said.append(f"made {_made(made)}")
    return ", ".join(said)
