"""A node's session with the MQTT broker: publishes its status and its events and, on the
process that follows the lists, fetches and applies list updates as `ListFollower` says.

The session keeps one connection and re-makes it with exponential backoff and jitter whenever
it is lost. Nothing here is on the answer path: checks only reach the :class:`EventQueue`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiomqtt

from eir.config import Broker, MqttConfig
from eir.errors import EirError, MapGrowthNeededError
from eir.events import EventQueue, dropped_message, iso_time, message_of
from eir.publish.apply_update import apply_snapshot, apply_update
from eir.publish.broker import Backoff, credentials, make_client
from eir.publish.lists import (
    Action,
    Apply,
    ListFollower,
    Subscribe,
    Unsubscribe,
    Version,
    Warn,
    decode_version,
    node_topic,
    version_key,
)
from eir.publish.update import UpdateError, UpdateMeta
from eir.store.api import LoadSummary
from eir.store.devices import DEVICE
from eir.store.lmdb_store import LmdbStore

log = logging.getLogger("eir.mqtt")


@dataclass
class SessionStats:
    connected: bool = False
    connections: int = 0
    updates_applied: int = 0
    update_failures: int = 0
    version: Version = field(default_factory=Version)


ListApplied = Callable[[UpdateMeta, LoadSummary], None]
EVENT_BATCH = 64


class SessionPart(Protocol):
    """Work that rides on the session's connection (the observation deltas, the aggregator):
    ``serve`` runs while connected; messages on ``topics`` (MQTT filters it subscribes) go to
    ``received``."""

    topics: tuple[str, ...]

    async def serve(self, client: aiomqtt.Client) -> None: ...

    async def received(self, topic: str, payload: bytes) -> None: ...


def _what(meta: UpdateMeta) -> str:
    """What an update replaces, as its log line says: ``replace black/police``, ``devices
    gsma17`` (the device database, from a gsma17 file) or ``approved`` (the approved list)."""
    if meta.action in ("rollback", "snapshot"):
        return f"{meta.action} to #{meta.restores}" if meta.restores else meta.action
    if meta.devices == DEVICE:
        return f"devices {meta.device_kind}".rstrip()
    if meta.devices:
        return meta.devices
    return f"{meta.mode} {meta.list}/{meta.source}"


class BrokerSession:
    """One process's MQTT client: publishes its events; with a store, follows list updates."""

    def __init__(
        self,
        config: MqttConfig,
        broker: Broker,
        queue: EventQueue,
        *,
        mask_imsi: bool,
        store: LmdbStore | None,
        fetch_timeout: float,
        name: str,
        client_id: str,
        on_applied: ListApplied | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.config = config
        self.broker = broker
        self.queue = queue
        self.mask = mask_imsi
        self.store = store
        self.name = name
        self.client_id = client_id
        self.prefix = config.prefix
        self.environ = environ
        self.on_applied = on_applied
        self.stats = SessionStats()
        self._wake = asyncio.Event()
        queue.wakeup = self._wake.set
        self.follower: ListFollower | None = None
        if store is not None:
            self.stats.version = decode_version(store.meta_value(version_key(self.prefix)))
            self.follower = ListFollower(self.prefix, self.stats.version.seq, fetch_timeout)
        self._client: aiomqtt.Client | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: other work on this connection (`SessionPart`)
        self.parts: list[SessionPart] = []
        credentials(config, environ)  # unreadable credential files fail at start

    def _status(self, online: bool) -> bytes:
        v = self.stats.version
        return json.dumps(
            {
                "node": self.name,
                "client": self.client_id,
                "state": "online" if online else "offline",
                "version": v.seq if self.follower else None,
                "id": v.id if self.follower else None,
                "time": iso_time(time.time()),
            }
        ).encode()

    async def run(self) -> None:
        """Connect, serve the connection, reconnect with backoff; until cancelled. Updates
        still being applied then are cancelled and waited for (their thread ends its
        transaction)."""
        try:
            await self._connected()
        finally:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connected(self) -> None:
        backoff = Backoff(self.config.reconnect_min_s, self.config.reconnect_max_s)
        topic = node_topic(self.prefix, self.client_id)
        while True:
            will = aiomqtt.Will(topic, self._status(False), qos=1, retain=True)
            try:
                client = make_client(
                    self.config,
                    self.broker,
                    self.client_id,
                    will,
                    self.environ,
                    persistent=any(part.topics for part in self.parts),
                )
                # aiomqtt logs a warning per publish while more than this many are unconfirmed;
                # a batch of events is that many on purpose
                client.pending_calls_threshold = 4 * EVENT_BATCH
                async with client:
                    self._client = client
                    self.stats.connected = True
                    self.stats.connections += 1
                    backoff.reset()
                    log.info("mqtt: connected to %s as %s", self.broker, self.client_id)
                    try:
                        await self._serve(client)
                    except asyncio.CancelledError:
                        await self._goodbye(client)
                        raise
            except* aiomqtt.MqttError as group:
                log.warning("mqtt: %s: %s", self.broker, group.exceptions[0])
            except* Exception:  # our bug: logged, and the connection is made again
                log.exception("mqtt: the connection to %s failed", self.broker)
            finally:
                self._client = None
                self.stats.connected = False
            delay = backoff.delay()
            log.info("mqtt: reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _goodbye(self, client: aiomqtt.Client, within: float = 1.0) -> None:
        """On shutdown: the events still queued (for up to ``within`` s), then "offline"."""
        deadline = time.monotonic() + within
        with contextlib.suppress(Exception):
            while len(self.queue) and time.monotonic() < deadline:
                for event in self.queue.take(256):
                    topic, body = message_of(event, self.name, self.mask)
                    await client.publish(f"{self.prefix}/{topic}", json.dumps(body), qos=0)
                    self.queue.published += 1
            await asyncio.wait_for(
                client.publish(
                    node_topic(self.prefix, self.client_id), self._status(False), qos=1, retain=True
                ),
                max(0.1, deadline - time.monotonic()),
            )

    async def _serve(self, client: aiomqtt.Client) -> None:
        await client.publish(
            node_topic(self.prefix, self.client_id), self._status(True), qos=1, retain=True
        )
        if self.queue.unreported:
            await self._report_dropped(client)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._drain(client))
            for part in self.parts:
                for topic in part.topics:
                    await client.subscribe(topic, qos=1)
                group.create_task(part.serve(client))
            if self.follower is not None:
                await self._act(client, self.follower.connected(time.monotonic()))
                group.create_task(self._tick(client))
            if self.follower is not None or any(p.topics for p in self.parts):
                group.create_task(self._listen(client))

    async def _report_dropped(self, client: aiomqtt.Client) -> None:
        count = self.queue.unreported
        topic, body = dropped_message(self.name, count, self.queue.dropped, time.time())
        await client.publish(f"{self.prefix}/{topic}", json.dumps(body), qos=1)
        self.queue.unreported -= count
        log.info("mqtt: %d events were dropped while the broker was away or slow", count)

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Publish queued events in batches. Each aiomqtt publish waits for the event loop to
        write it, so a batch is published concurrently: one loop turn sends all of it. A
        batch is small (64): paho costs about 70 us a message here, and a turn of the loop
        spent publishing is a turn not spent answering."""
        queue, prefix, name, mask = self.queue, self.prefix, self.name, self.mask
        dumps = json.dumps
        while True:
            if not len(queue):
                self._wake.clear()
                await self._wake.wait()
            batch = queue.take(EVENT_BATCH)
            calls = []
            for event in batch:
                topic, body = message_of(event, name, mask)
                calls.append(
                    client.publish(
                        f"{prefix}/{topic}", dumps(body), qos=0 if topic.startswith("check/") else 1
                    )
                )
            results = await asyncio.gather(*calls, return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            queue.published += len(results) - len(failed)
            if failed:
                queue.dropped += len(failed)
                queue.unreported += len(failed)
                raise failed[0]
            if queue.unreported:
                await self._report_dropped(client)

    async def _listen(self, client: aiomqtt.Client) -> None:
        follower = self.follower
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            part = next((p for p in self.parts if any(map(message.topic.matches, p.topics))), None)
            if part is not None:
                await part.received(message.topic.value, payload)
            elif follower is not None:
                await self._act(
                    client, follower.message(message.topic.value, payload, time.monotonic())
                )

    async def _tick(self, client: aiomqtt.Client) -> None:
        follower = self.follower
        assert follower is not None
        while True:
            await asyncio.sleep(0.5)
            await self._act(client, follower.timer(time.monotonic()))

    async def _act(self, client: aiomqtt.Client, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Subscribe):
                await client.subscribe(action.topic, qos=1)
            elif isinstance(action, Unsubscribe):
                await client.unsubscribe(action.topic)
            elif isinstance(action, Warn):
                log.warning("lists: %s", action.text)
            elif isinstance(action, Apply):
                task = asyncio.get_running_loop().create_task(self._apply(action))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _apply(self, action: Apply) -> None:
        """Apply in a thread (the loop keeps answering), then tell the follower."""
        store, follower = self.store, self.follower
        assert store is not None and follower is not None
        started = time.perf_counter()
        actions: list[Action]
        try:
            while True:
                try:
                    apply = apply_snapshot if action.snapshot else apply_update
                    meta, summary = await asyncio.to_thread(
                        apply, store, self.prefix, action.seq, action.blob
                    )
                    break
                except MapGrowthNeededError:
                    store.grow_map()  # here, in the loop's thread, between lookups
        except (UpdateError, EirError) as exc:
            self.stats.update_failures += 1
            actions = follower.failed(action.seq, str(exc), time.monotonic())
        except Exception as exc:  # our bug: keep serving, try again later
            log.exception("lists: applying update #%d failed", action.seq)
            self.stats.update_failures += 1
            actions = follower.failed(action.seq, repr(exc), time.monotonic())
        else:
            self.stats.version = decode_version(store.meta_value(version_key(self.prefix)))
            if summary is not None:
                self.stats.updates_applied += 1
                log.info(
                    "lists: applied update #%d (%s): %s in %.2f s",
                    action.seq,
                    _what(meta),
                    summary.line().split(";")[0],
                    time.perf_counter() - started,
                )
                if self.on_applied is not None:
                    self.on_applied(meta, summary)
            actions = follower.applied_ok(action.seq, time.monotonic())
            client = self._client
            if client is not None:
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.publish(
                        node_topic(self.prefix, self.client_id),
                        self._status(True),
                        qos=1,
                        retain=True,
                    )
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._act(client, actions)
