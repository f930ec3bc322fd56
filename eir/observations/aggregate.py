"""The aggregating node: every node's deltas merged into one observation store, duplicates
found there, and the ``duplicate`` class sent to every node as an ordinary list update.

How it stays right whatever the network does: a delta carries each pair's *state* on its node
(`eir.observations.delta`), and :meth:`ObservationStore.merge` keeps, per (pair, node), the
merge of every state received (min first, max last, union of days, max count:
`eir.observations.record.merge`). That merge is idempotent, commutative and associative, so a
repeated delta, deltas in another order, or a delta lost and its records published again later
(they stay in the node's outbox until the broker confirmed them; and at its start the aggregator
asks every node, by a retained resync request, to publish all its records again) all leave the
same records, and :func:`eir.observations.duplicate.detect`, a function of those records and
the observation clock, gives the same findings.

:class:`Detector` (synchronous, in a thread) judges IMEIs and keeps the current findings;
:class:`Aggregator` (a `SessionPart` of the broker session) merges what arrives, and every
``observations.publish_interval_s`` re-judges the IMEIs that changed (and every IMEI with a
finding when the observation clock passes a day boundary: averages decay). When the set of
duplicate IMEIs or one's rule changed, the whole class goes out as one REPLACE update
(:class:`ClassSender`): published as `eir publish` does, or, without a broker, applied to the
local list store. Each IMEI newly found is an ``events/duplicate`` event.

Layer 2: asyncio, the observation store and the list store.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

from eir.config import Config
from eir.config.keys import DuplicateRuleConfig
from eir.errors import EirError
from eir.events import DuplicateFound, EventQueue
from eir.host import node_name
from eir.model import StoreClass
from eir.observations.delta import (
    decode_delta,
    encode_resync,
    observations_filter,
    resync_topic,
)
from eir.observations.duplicate import Finding, detect
from eir.observations.exchange import ExchangeStats
from eir.observations.record import DAY, ObservationError, Observed
from eir.observations.store import ObservationStore
from eir.store.api import HandsetChange, ListStore, Mode
from eir.store.audit import daemon_change
from eir.store.classes import ClassRow, class_batch, class_rows, class_scope

if TYPE_CHECKING:  # aiomqtt is imported when a broker is configured
    import aiomqtt

log = logging.getLogger("eir.observations")


class Judged(NamedTuple):
    """What one judgement changed: the IMEIs newly found (their first finding), those cleared,
    and whether the class must be sent again (the set or a rule changed)."""

    found: list[Finding]
    cleared: list[str]
    changed: bool


def finding_of(row: ClassRow) -> Finding:
    """A class row as the finding it came from (the IMSIs are not kept in the class)."""
    try:
        figures = json.loads(row.figures)
    except ValueError:
        figures = {}
    return Finding(row.imei, row.rule, figures if isinstance(figures, dict) else {}, (), row.added)


def findings_rows(findings: Iterable[Finding]) -> list[ClassRow]:
    """The class table's rows of ``findings`` (one per IMEI), by IMEI."""
    return [
        ClassRow(f.imei, f.rule, f.figures_json(), f.time)
        for f in sorted(findings, key=lambda f: f.imei)
    ]


def by_imei(records: Iterable[Observed]) -> Iterator[tuple[str, list[Observed]]]:
    """The records of a scan (sorted by IMEI) grouped per IMEI."""
    for imei, group in itertools.groupby(records, key=lambda o: o.imei):
        yield imei, list(group)


class Detector:
    """The current findings, one per IMEI (the first rule that matches), and their judgement
    against the observation store. Not thread-safe: one thread at a time."""

    def __init__(
        self,
        store: ObservationStore,
        rules: Sequence[DuplicateRuleConfig],
        known: Iterable[Finding] = (),
    ) -> None:
        self.store = store
        self.rules = tuple(rules)
        self.current: dict[str, Finding] = {f.imei: f for f in known}
        self.day = -1

    def judge(self, imeis: Iterable[str]) -> Judged:
        """Re-judge ``imeis`` (and every IMEI with a finding when the clock's day changed)."""
        now = self.store.clock()
        wanted = set(imeis)
        if now // DAY != self.day:
            self.day = now // DAY
            wanted.update(self.current)
        found: dict[str, Finding] = {}
        for imei in sorted(wanted):
            first = detect(self.store.pairs(imei), now, self.rules)
            if first:
                found[imei] = first[0]
        return self._update(wanted, found)

    def full_pass(self) -> Judged:
        """Judge every IMEI the store holds (``eir duplicates detect``, and at start)."""
        now = self.store.clock()
        self.day = now // DAY
        found: dict[str, Finding] = {}
        for imei, pairs in by_imei(self.store.scan()):
            first = detect(pairs, now, self.rules)
            if first:
                found[imei] = first[0]
        return self._update(set(self.current) | set(found), found)

    def _update(self, judged: set[str], found: dict[str, Finding]) -> Judged:
        new: list[Finding] = []
        cleared: list[str] = []
        changed = False
        for imei in sorted(judged):
            before, now = self.current.get(imei), found.get(imei)
            if now is None:
                if before is not None:
                    del self.current[imei]
                    cleared.append(imei)
                    changed = True
                continue
            if before is None:
                new.append(now)
                changed = True
            elif before.rule != now.rule:
                changed = True
            else:  # the same finding: keep when it was first made
                now = now._replace(time=before.time)
            self.current[imei] = now
        return Judged(new, cleared, changed)

    def rows(self) -> list[ClassRow]:
        return findings_rows(self.current.values())


Send = Callable[[list[ClassRow]], Awaitable[str]]


#: why a class update was made (its audit record's reason)
DUPLICATES_FOUND = "duplicates found"


class ClassSender:
    """Sends the whole ``duplicate`` class as one REPLACE update: published over MQTT as `eir
    publish` does (``publish``; its own short connection: reading the head needs a connection's
    messages to itself), or applied to the local list store."""

    def __init__(
        self,
        config: Config,
        lists: ListStore | None,
        *,
        publish: bool,
        timeout: float = 30.0,
        change: HandsetChange | None = None,
    ) -> None:
        self.config = config
        self.lists = lists
        self.publish = publish
        self.timeout = timeout
        #: the audit of the updates (None: the daemon's own, by and from its node)
        self.change = change or daemon_change("class", node_name(config.mqtt), DUPLICATES_FOUND)

    async def send(self, rows: list[ClassRow]) -> str:
        """Send; what was done, in words."""
        batch = class_batch(StoreClass.DUPLICATE, rows)
        batch.change = self.change
        scope = class_scope(StoreClass.DUPLICATE)
        broker = self.config.mqtt.broker
        if not self.publish or broker is None:
            lists = self.lists
            if lists is None:
                raise ObservationError("no broker and no list store to apply the class to")
            await asyncio.to_thread(lists.apply, batch, Mode.REPLACE, scope)
            return f"applied the duplicate class ({len(rows)} IMEIs) to the list store"
        from eir.publish.publisher import publish_update

        list_name, source = scope[0]
        published = await publish_update(
            self.config.mqtt,
            broker,
            batch,
            mode=Mode.REPLACE,
            list_name=list_name,
            source=source,
            scope=scope,
            remove_any_source=False,
            timeout=self.timeout,
            wait_nodes=0,
            say=log.info,
        )
        return (
            f"published the duplicate class ({len(rows)} IMEIs) as update "
            f"#{published.head.seq} under {self.config.mqtt.prefix}/lists/"
        )


def known_findings(lists: ListStore | None) -> list[Finding]:
    """The class as the list store holds it (what the last update sent), if there is one."""
    if lists is None:
        return []
    return [finding_of(row) for row in class_rows(lists, StoreClass.DUPLICATE)]


class Aggregator:
    """Merges every node's deltas and keeps the ``duplicate`` class up to date (see the
    module's docstring). A `SessionPart` for the deltas; :meth:`run` is its own task."""

    def __init__(
        self,
        detector: Detector,
        send: Send,
        *,
        prefix: str,
        node: str,
        interval: float,
        stats: ExchangeStats,
        queue: EventQueue | None = None,
    ) -> None:
        self.detector = detector
        self.store = detector.store
        self.send = send
        self.topics: tuple[str, ...] = (observations_filter(prefix),)
        self.resync = resync_topic(prefix)
        #: a resync request published (once a run: the broker keeps it, retained)
        self.asked = False
        self.node = node
        self.interval = interval
        self.stats = stats
        self.queue = queue
        self.dirty: set[str] = set()
        #: the class must be sent (a change not sent yet, or a send that failed)
        self.pending = False
        self.local = False

    async def received(self, topic: str, payload: bytes) -> None:
        """One delta: decoded against this node's clock and its topic (a bad one is refused,
        nothing of it merged), then merged. A resync request (this aggregator's own) is no
        delta."""
        if topic == self.resync:
            return
        self.stats.deltas_received += 1
        try:
            delta = decode_delta(payload, now=time.time())
            sender = topic.rsplit("/", 1)[-1]
            if delta.node != sender:
                raise ObservationError(f"its node {delta.node!r} is not the topic's {sender!r}")
        except ObservationError as exc:
            self.stats.deltas_refused += 1
            log.warning("observations: a delta on %s was refused: %s", topic, exc)
            return
        started = time.perf_counter()
        try:
            result = await asyncio.to_thread(self.store.merge, delta.pairs)
        except EirError as exc:  # the store full or damaged: told; its node's next state heals
            log.error("observations: a delta from %s could not be merged: %s", delta.node, exc)
            return
        self.stats.merge_seconds += time.perf_counter() - started
        self.stats.records_merged += result.changed
        self.dirty.update(result.imeis)
        if delta.node == self.node:  # this node's own records: already in the store
            self.dirty.update(o.imei for o in delta.pairs)

    async def serve(self, client: aiomqtt.Client) -> None:
        """On the first connection, the resync request: every node publishes all its records
        again (those published before this aggregator first subscribed would be missing).
        The deltas come to :meth:`received`."""
        if not self.asked:
            await client.publish(self.resync, encode_resync(time.time()), qos=1, retain=True)
            self.asked = True
            log.info(
                "observations: asked every node to publish its records again (%s)", self.resync
            )
        await asyncio.Event().wait()

    def take_local(self) -> None:
        """Without a broker, this node's own changes: its outbox, taken as if published."""
        rows = self.store.outbox(10_000)
        if rows:
            self.dirty.update(o.imei for o in rows)
            self.store.published(rows)

    async def run(self) -> None:
        """A full pass at start, then a judgement every interval, until cancelled."""
        started = False
        while True:
            try:
                if not started:
                    self._judged(await asyncio.to_thread(self.detector.full_pass))
                    started = True
                await self.step()
            except EirError as exc:  # the store: told, and tried again at the next interval
                log.error("duplicates: judging failed: %s", exc)
            await asyncio.sleep(self.interval)

    async def step(self) -> None:
        """Re-judge what changed and send the class when it must be."""
        if self.local:
            await asyncio.to_thread(self.take_local)
        dirty, self.dirty = self.dirty, set()
        judged = await asyncio.to_thread(self.detector.judge, dirty)
        self._judged(judged)
        if self.pending:
            await self._send()

    def _judged(self, judged: Judged) -> None:
        self.stats.duplicates = len(self.detector.current)
        self.pending = self.pending or judged.changed
        for finding in judged.found:
            log.info(
                "duplicates: %s found by rule %s: %s",
                finding.imei,
                finding.rule,
                finding.figures_json(),
            )
            if self.queue is not None:
                self.queue.offer(
                    DuplicateFound(
                        finding.imei, finding.imsis, finding.rule, finding.figures, finding.time
                    )
                )
        for imei in judged.cleared:
            log.info("duplicates: %s no longer matches a rule", imei)

    async def _send(self) -> None:
        rows = self.detector.rows()
        try:
            done = await self.send(rows)
        except (EirError, OSError) as exc:  # the broker (BrokerError), the store: retried later
            log.warning("duplicates: the class could not be sent (retried): %s", exc)
            return
        log.info("duplicates: %s", done)
        self.pending = False
        self.stats.class_updates += 1
