"""Watching the store's lists while serving: once a second, whether they changed (a local
``eir load`` or an applied update); entry counts and update time for the metrics, and an
``events/lists`` event for the broker; and an ``events/case`` event for each theft case state
change committed on this node (`eir case`) since the last look.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from eir.events import CaseChanged, EventQueue, ListsChanged
from eir.store.api import HistoryRecord, history_of
from eir.store.cases import ACTIONS, case_key, unpack_case
from eir.store.lmdb_store import LmdbStore
from eir.store.records import CASES
from eir.store.versions import HISTORY_IMPORTED

if TYPE_CHECKING:  # a broker session is made only when a broker is configured
    from eir.publish.session import BrokerSession

log = logging.getLogger("eir.service")

#: where a case change must have been made to be told here (an applied update is the
#: publisher's to tell)
_LOCAL = ("cli", "api")
#: the most history records read in one look (a burst of changes is told up to this)
_MOST = 1000


class ListWatch:
    """Notices list changes (a local `eir load` or an applied update) once a second: entry
    counts and update time for the metrics, and an `events/lists` event."""

    def __init__(
        self,
        store: LmdbStore,
        queue: EventQueue | None,
        mqtt: BrokerSession | None,
        prefix: str,
        cases: EventQueue | None = None,
    ) -> None:
        self.store = store
        #: where the case events go (``events.cases``), None: not told
        self.cases = cases
        #: the last history record looked at for case changes (-1: not yet)
        self.history_seq = -1
        self.queue = queue
        self.mqtt = mqtt
        self.prefix = prefix
        self.generation = -1
        self.entries: dict[str, int] = {}
        self.changed_at = 0.0

    def poll(self) -> None:
        if self.cases is not None:
            self.poll_cases(self.cases)
        stats = self.store.stats(history_size=1, digest=False)
        if stats.generation == self.generation:
            return
        first = self.generation < 0
        self.generation = stats.generation
        self.entries = stats.per_list()
        last = stats.history[-1] if stats.history else None
        self.changed_at = float(last.time) if last is not None else 0.0
        if first or self.queue is None:
            return
        version = self.mqtt.stats.version.seq if self.mqtt is not None else 0
        cause = "load"
        if last is not None and last.files and last.files[0].startswith("update "):
            cause = last.files[0]
        self.queue.offer(
            ListsChanged(stats.generation, dict(self.entries), cause, time.time(), version)
        )

    def poll_cases(self, queue: EventQueue) -> None:
        """One ``events/case`` event per case change committed here since the last look."""
        raw = self.store.meta_value(b"history-seq")
        top = int(raw) if raw else 0
        first, self.history_seq = self.history_seq, top
        if first < 0:
            return
        raw = self.store.meta_value(HISTORY_IMPORTED)  # a snapshot's: made elsewhere
        first = max(first, int(raw) if raw else 0)
        for seq in range(max(first + 1, top - _MOST + 1), top + 1):
            raw = self.store.meta_value(b"history\x00%012d" % seq)
            if raw is None:
                continue
            record = history_of(raw)
            if record.action.startswith("case-") and record.origin in _LOCAL:
                queue.offer(self.case_event(record))

    def case_event(self, record: HistoryRecord) -> CaseChanged:
        """The event of a case change: the case's IMSIs and previous state from its record."""
        state = ACTIONS.get(record.action.removeprefix("case-"))
        raw = self.store.table_value(CASES, case_key(record.case))
        found = None if raw is None else unpack_case(raw)
        previous = None if found is None or state is None else found.previous(state)
        return CaseChanged(
            record.case,
            "" if state is None else state.value,
            None if previous is None else previous.value,
            tuple(record.imeis),
            () if found is None else found.imsis,
            record.reason,
            record.by,
            record.seq,
            float(record.time),
        )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.poll()
            except Exception:  # a store error must not stop the watch
                log.exception("cannot read the store's counters")
