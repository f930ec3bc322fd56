"""The list store as its users see it: the :class:`ListStore` protocol and the values it takes
and returns (:class:`Mode`, :class:`LoadSummary`, :class:`StoreStats`, :class:`HistoryRecord`,
:class:`HandsetChange`, :class:`ExportRow`). Both backends (:mod:`eir.store.lmdb_store`,
:mod:`eir.store.memory`) implement it; the policy, the CLI, the front-ends and the list
distribution use only it.
"""

from __future__ import annotations

import builtins
import enum
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol

from eir.model import Entry, Hits, ListName
from eir.store.records import Table

if TYPE_CHECKING:
    from eir.store.batch import Batch
    from eir.store.diff import Change
    from eir.store.guard import RemoveLimit


class Mode(enum.StrEnum):
    ADD = "add"  # add or update the listed entries
    REPLACE = "replace"  # the file becomes the whole of its (list, source) entries
    REMOVE = "remove"  # delete the listed entries


class ClassScope(NamedTuple):
    """One class in a replace's scope (:func:`eir.store.classes.class_scope`): it covers the
    ``class`` table's entries of that class and nothing else, where a plain (list, source)
    covers the list tables' entries only."""

    list: ListName
    source: str


@dataclass(slots=True)
class LoadSummary:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    invalid: int = 0
    duplicates: int = 0
    rows: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    #: a remove's keys that were not listed (on that list, from that source)
    missing: int = 0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def json(self) -> dict[str, object]:
        """The summary as `eir load --json` prints it: every field and the rate (rows/s)."""
        return asdict(self) | {"rate": round(self.rate, 1)}

    def line(self) -> str:
        prefix = "dry run, nothing changed: " if self.dry_run else ""
        return (
            f"{prefix}added {self.added}, updated {self.updated}, removed {self.removed}, "
            f"{f'not listed {self.missing}, ' if self.missing else ''}"
            f"unchanged {self.unchanged}, invalid {self.invalid}, duplicates {self.duplicates}; "
            f"{self.rows} rows in {self.seconds:.2f} s ({self.rate:,.0f} rows/s)"
        )


@dataclass(frozen=True, slots=True)
class HandsetChange:
    """Who made a change, why and from where: what the audit trail (the store's history, one
    record per version) keeps of it beside the counts. Named for its first use (single
    handsets listed or delisted by hand, `eir block`, `eir unblock`); every change carries one
    (:attr:`eir.store.batch.Batch.change`)."""

    #: what was done: "load", "block", "unblock", "grandfather", "case-open", "case-block",
    #: "case-recover", "purge", "rollback", "snapshot", "devices", "approved"...
    action: str
    #: the IMEIs as written (digits only), in command line order (single-handset actions)
    imeis: tuple[str, ...]
    #: the operator: ``--by``, else the login name; the API token's name; the node for the
    #: daemon's own changes (a purge)
    by: str
    reason: str
    reference: str
    #: where it was made: "cli", "api", "daemon", "update" (applied from the broker)
    origin: str = "cli"
    #: the node it was made on (for an applied update: the publisher's)
    node: str = ""
    #: the theft case it belongs to (``eir case``), else ""
    case: str = ""
    #: the update it was applied from (its sequence number), 0 for a local change
    update: int = 0
    #: the version it restores (``eir rollback``), 0 else
    restores: int = 0


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One committed change (a load, list update, block, unblock, case action, purge,
    rollback...) in the store's history: a version (``seq``) and its audit record. The
    fields from ``action`` on came later: a record written before them reads with their
    defaults."""

    seq: int
    time: int
    mode: str
    list: str
    source: str
    files: builtins.list[str]
    added: int
    updated: int
    removed: int
    unchanged: int
    invalid: int
    duplicates: int
    #: "load" (a list file or update), "block", "unblock"...: :attr:`HandsetChange.action`
    action: str = "load"
    imeis: builtins.list[str] = field(default_factory=builtins.list)
    by: str = ""
    reason: str = ""
    reference: str = ""
    missing: int = 0
    #: the rest of :class:`HandsetChange` (the audit trail's from where, case, update)
    origin: str = ""
    node: str = ""
    case: str = ""
    update: int = 0
    restores: int = 0

    @property
    def version(self) -> int:
        """The version this change made: every committed change is one, numbered as the
        history is."""
        return self.seq

    @property
    def restored(self) -> str:
        """The version a rollback restores, as a reader must take it: ``v3`` of this store;
        for a rollback applied from the broker, the publisher's (``node2's v3``, ``the
        publisher's v3`` when it named no node): versions are numbered per store. "" when
        it restores none."""
        if not self.restores:
            return ""
        if self.origin != "update":
            return f"v{self.restores}"
        return (
            f"{self.node}'s v{self.restores}" if self.node else f"the publisher's v{self.restores}"
        )


@dataclass(frozen=True, slots=True)
class StoreStats:
    #: entries per "table/list/source"
    counts: dict[str, int]
    generation: int
    size_bytes: int
    used_bytes: int
    digest: str
    history: list[HistoryRecord]

    def per_list(self) -> dict[str, int]:
        """Entries per list (the ``class`` table's, on no list, left out)."""
        out: Counter[str] = Counter()
        for name, count in self.counts.items():
            table, list_name = name.split("/")[:2]
            if table != Table.CLASS:
                out[list_name] += count
        return dict(out)

    def per_class(self) -> dict[str, int]:
        """IMEIs per class (the ``class`` table's counters, ``class/grey/<class>``)."""
        out: Counter[str] = Counter()
        for name, count in self.counts.items():
            table, _, source = name.split("/", 2)
            if table == Table.CLASS:
                out[source] += count
        return dict(out)

    def per_table(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for name, count in self.counts.items():
            out[name.split("/")[0]] += count
        return dict(out)


@dataclass(frozen=True, slots=True)
class ExportRow:
    table: Table
    imei: str
    last: str | None
    imsi: str | None
    entry: Entry


#: progress of a load: called with the rows done since the last call
Tick = Callable[[int], None]


class ListStore(Protocol):
    """The store as the policy, the CLI and the front-ends see it."""

    def lookup(self, imei14: str, imsi: str | None) -> Hits: ...
    def apply(
        self,
        batch: Batch,
        mode: Mode,
        scope: Iterable[tuple[ListName, str]],
        *,
        dry_run: bool = False,
        now: int | None = None,
        remove_any_source: bool = False,
        tick: Tick | None = None,
        max_remove: RemoveLimit | None = None,
        changes: dict[str, list[Change]] | None = None,
        max_pairs: int = 0,
    ) -> LoadSummary: ...
    def export(
        self, list_name: ListName | None = None, source: str | None = None, *, classes: bool = False
    ) -> Iterator[ExportRow]:
        """The list tables' entries; with ``classes``, the ``class`` table's instead."""
        ...

    def stats(self, history_size: int = 20, *, digest: bool = True) -> StoreStats: ...
    def close(self) -> None: ...


def history_of(raw: bytes) -> HistoryRecord:
    data = json.loads(raw)
    return HistoryRecord(**{k: data[k] for k in HistoryRecord.__dataclass_fields__ if k in data})


def history_dict(record: HistoryRecord) -> dict[str, object]:
    return asdict(record)
