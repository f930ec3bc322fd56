"""The observation writer: the task that moves the answer path's sightings into the
observation store, off the answer path.

Every ``observations.flush_interval_s`` it drains the buffer (`eir.observations.buffer`) and
writes the batch with :meth:`ObservationStore.observe` in one transaction, in a thread of its
own (never on the event loop: an answer never waits for LMDB). Retention runs in the same
thread, at start and once per day of the store's clock (the newest sighting, never the wall
clock): :meth:`ObservationStore.purge_step` from ``day - retention_days + 1``, one step of
:data:`PURGE_STEP` records per flush, so that a big store's purge never holds the buffer back.
A write that fails (the disk full, the store unopenable) is logged once, counted, and its
sightings are counted lost; the next flush tries again. Pairs first seen with another IMEI or IMSI
(:class:`PairingChange`) go to ``on_changes`` on the loop.

:meth:`ObservationWriter.close` flushes what is left and closes the store: a clean stop loses
nothing.

Layer 2: asyncio and the LMDB store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, TypeVar

from eir.errors import EirError
from eir.events import EventQueue, PairingChanged
from eir.observations.buffer import Row, SightingBuffer
from eir.observations.record import day_of
from eir.observations.store import PURGE_STEP, ObservationStore, PairingChange

log = logging.getLogger("eir.observations")

T = TypeVar("T")


class Purge(NamedTuple):
    """A retention purge under way: from which day records are kept, where the next step
    starts, and what the steps so far did."""

    first_day: int
    start: bytes
    deleted: int
    trimmed: int


class ObservationWriter:
    """Drains ``buffer`` into the store ``opener`` opens (see the module's docstring)."""

    def __init__(
        self,
        opener: Callable[[], ObservationStore],
        buffer: SightingBuffer,
        node: str,
        *,
        interval: float,
        retention_days: int,
        purge: bool = True,
        publish: bool = True,
        on_changes: Callable[[Sequence[PairingChange]], None] | None = None,
    ) -> None:
        self.opener = opener
        self.buffer = buffer
        self.node = node
        self.interval = interval
        self.retention_days = retention_days
        #: whether this process enforces retention (one process of a supervisor's workers)
        self.purges = purge
        #: whether the records written are marked for publishing (a broker is configured)
        self.publish = publish
        self.on_changes = on_changes
        #: the open store (None until opened, or while it cannot be)
        self.store: ObservationStore | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="eir-observations")
        self._purged_day: int | None = None
        #: a purge under way, and the records each of its steps reads
        self._purging: Purge | None = None
        self.purge_step = PURGE_STEP
        self._failing = False
        #: sightings written, write failures, sightings lost to them, flushes done
        self.written = 0
        self.failures = 0
        self.lost = 0
        self.flushes = 0
        #: the last flush: its sightings and how long it took (seconds)
        self.last_batch = 0
        self.last_seconds = 0.0
        #: records in the store after the last flush
        self.records = 0

    async def _off_loop(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    async def start(self) -> None:
        """Open the store and enforce retention once (failures are logged, not raised)."""
        await self._off_loop(self._start)

    async def run(self) -> None:
        """:meth:`start`, then flush every ``interval`` until cancelled."""
        await self.start()
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self, retain: bool = True) -> int:
        """Write what the buffer holds now, then (``retain``) one step of retention; the
        sightings written."""
        rows = self.buffer.drain()
        if rows:
            changes = await asyncio.shield(self._off_loop(lambda: self._write(rows)))
            if changes and self.on_changes is not None:
                self.on_changes(changes)
        if retain and self.purges and self.store is not None:
            await asyncio.shield(self._off_loop(self._retain))
        return len(rows)

    async def close(self) -> None:
        """Flush what is left, then close the store."""
        try:
            await self.flush(retain=False)
        finally:
            await self._off_loop(self._close)
            self._thread.shutdown(wait=True)

    # -- in the writer's thread -----------------------------------------------------------

    def _start(self) -> None:
        if self._open() is not None:
            self._retain()

    def _open(self) -> ObservationStore | None:
        if self.store is None:
            try:
                self.store = self.opener()
            except EirError as exc:
                self._failed(f"cannot open the observation store: {exc}")
        return self.store

    def _write(self, rows: list[Row]) -> tuple[PairingChange, ...]:
        started = time.perf_counter()
        store = self._open()
        if store is None:
            self.lost += len(rows)
            return ()
        try:
            result = store.observe(self.node, rows, publish=self.publish)
            self.records = store.stats().records
        except EirError as exc:
            self.lost += len(rows)
            self._failed(f"cannot write {len(rows)} observations: {exc}")
            return ()
        self.written += len(rows)
        self.flushes += 1
        self.last_batch = len(rows)
        self.last_seconds = time.perf_counter() - started
        if self._failing:
            self._failing = False
            log.info("observations: written again")
        return result.changes

    def _retain(self) -> None:
        """Retention, once per day of the store's clock: a purge begins, then goes on one step
        (:data:`PURGE_STEP` records, one transaction) per call, between the flushes."""
        store = self.store
        if not self.purges or store is None:
            return
        try:
            clock = store.clock()
            day = day_of(clock)
            if clock and day != self._purged_day and self._purging is None:
                self._purged_day = day
                self._purging = Purge(day - self.retention_days + 1, b"", 0, 0)
            if self._purging is not None:
                self._purge_step(store, self._purging)
        except EirError as exc:
            self._purging = None
            self._failed(f"cannot enforce retention: {exc}")

    def _purge_step(self, store: ObservationStore, purge: Purge) -> None:
        step = store.purge_step(purge.first_day, purge.start, self.purge_step)
        deleted, trimmed = purge.deleted + step.deleted, purge.trimmed + step.trimmed
        if step.next is not None:
            self._purging = Purge(purge.first_day, step.next, deleted, trimmed)
            return
        self._purging = None
        if deleted or trimmed:
            log.info(
                "observations: retention of %d days: %d pairs deleted, %d trimmed",
                self.retention_days,
                deleted,
                trimmed,
            )

    def _failed(self, why: str) -> None:
        self.failures += 1
        if not self._failing:
            self._failing = True
            log.error("observations: %s (said once until a write succeeds)", why)

    def _close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


def pairing_events(queue: EventQueue) -> Callable[[Sequence[PairingChange]], None]:
    """What ``on_changes`` does with ``events.pairing``: each change offered as an event."""

    def offer(changes: Sequence[PairingChange]) -> None:
        for change in changes:
            queue.offer(PairingChanged(*change))

    return offer
