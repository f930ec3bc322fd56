"""MQTT with aiomqtt: a node's connection (events out, list updates in) and ``eir publish``.

A node keeps one connection and re-makes it with exponential backoff and jitter whenever it
is lost. Nothing here is on the answer path: checks only reach the :class:`EventQueue`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import secrets
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from eir.config import Broker, MqttConfig
from eir.errors import ConfigError, EirError, MapGrowthNeededError
from eir.events import EventQueue, dropped_message, iso_time, message_of
from eir.model import ListName
from eir.publish.lists import (
    Action,
    Apply,
    Head,
    ListFollower,
    Subscribe,
    Unsubscribe,
    Version,
    Warn,
    head_topic,
    node_topic,
    parse_head,
    parse_version,
    part_topic,
    version_key,
)
from eir.publish.update import UpdateError, UpdateMeta, decode_update, encode_update, split_parts
from eir.store.api import LoadSummary, Mode
from eir.store.batch import Batch
from eir.store.lmdb_store import LmdbStore
from eir.store.records import META
from eir.store.writes import WriteTxn

log = logging.getLogger("eir.mqtt")


class BrokerError(EirError):
    """The broker could not be reached, refused us, or did not confirm in time."""


# -- connecting ---------------------------------------------------------------------------------


def _read_secret(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise ConfigError(f"mqtt.{what}_file: {path}: {exc.strerror}") from None


def credentials(
    config: MqttConfig, environ: Mapping[str, str] = os.environ
) -> tuple[str | None, str | None]:
    """(username, password): each from its file when one is named, else its variable."""
    username = (
        _read_secret(config.username_file, "username")
        if config.username_file
        else environ.get(config.username_env) or None
    )
    password = (
        _read_secret(config.password_file, "password")
        if config.password_file
        else environ.get(config.password_env) or None
    )
    if password is not None and username is None:
        raise ConfigError("mqtt: a password without a username")
    return username, password


def tls_context(config: MqttConfig) -> ssl.SSLContext | None:
    if config.broker is None or not config.broker.tls:
        return None
    try:
        context = ssl.create_default_context(cafile=config.ca_file or None)
        if config.cert_file:
            context.load_cert_chain(config.cert_file, config.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"mqtt: TLS files: {exc}") from None
    if config.tls_insecure:
        context.check_hostname = False
    return context


def make_client(
    config: MqttConfig,
    broker: Broker,
    identifier: str,
    will: aiomqtt.Will | None = None,
    environ: Mapping[str, str] = os.environ,
) -> aiomqtt.Client:
    username, password = credentials(config, environ)
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=username,
        password=password,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        will=will,
        keepalive=config.keepalive_s,
        timeout=10,
        tls_context=tls_context(config),
        tls_insecure=config.tls_insecure if broker.tls else None,
    )


def node_name(config: MqttConfig) -> str:
    return config.node or socket.gethostname().split(".")[0] or "eir"


class Backoff:
    """Exponential reconnection delays with full jitter, reset by a good connection."""

    def __init__(self, low: float, high: float, rng: Callable[[], float] = random.random) -> None:
        self.low, self.high = low, high
        self._next = low
        self._random = rng

    def delay(self) -> float:
        value = self._next * (0.5 + self._random() / 2)
        self._next = min(self._next * 2, self.high)
        return value

    def reset(self) -> None:
        self._next = self.low


# -- applying an update (in a thread) -----------------------------------------------------------


class _StaleError(Exception):
    def __init__(self, version: Version) -> None:
        super().__init__(f"already at #{version.seq}")
        self.version = version


def apply_update(
    store: LmdbStore, prefix: str, seq: int, blob: bytes, clock: Callable[[], float] = time.time
) -> tuple[UpdateMeta, LoadSummary | None]:
    """Check and apply update ``seq`` with its version record in one transaction.

    Returns the summary, or None when the store holds ``seq`` already (a repeat). Raises
    :class:`UpdateError` for an update that cannot follow the stored version, and
    :class:`MapGrowthNeededError` when the caller must grow the map first.
    """
    meta, batch = decode_update(blob)
    if meta.seq != seq:
        raise UpdateError(f"the parts of #{seq} hold update #{meta.seq}")
    key = version_key(prefix)

    def inside(txn: WriteTxn) -> None:
        current = parse_version(txn.get(META, key))
        if current.seq >= seq:
            raise _StaleError(current)
        if current.seq != seq - 1:
            raise UpdateError(f"#{seq} cannot follow this store's #{current.seq}")
        txn.put(META, key, Version(seq, meta.id, meta.time, clock()).payload())

    names = ", ".join(meta.files) or "-"
    batch.files = [f"update {prefix} #{seq} ({names})"]
    scope = [(ListName(name), source) for name, source in meta.scope]
    try:
        summary = store.apply(
            batch,
            Mode(meta.mode),
            scope,
            now=meta.time,
            remove_any_source=meta.remove_any_source,
            inside=inside,
            may_grow=False,
        )
    except _StaleError:
        return meta, None
    return meta, summary


# -- a node's connection ------------------------------------------------------------------------


@dataclass
class MqttStats:
    connected: bool = False
    connections: int = 0
    updates_applied: int = 0
    update_failures: int = 0
    version: Version = field(default_factory=Version)


ListApplied = Callable[[UpdateMeta, LoadSummary], None]
EVENT_BATCH = 64


class MqttNode:
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
        self.stats = MqttStats()
        self._wake = asyncio.Event()
        queue.wakeup = self._wake.set
        self.follower: ListFollower | None = None
        if store is not None:
            self.stats.version = parse_version(store.meta_value(version_key(self.prefix)))
            self.follower = ListFollower(self.prefix, self.stats.version.seq, fetch_timeout)
        self._client: aiomqtt.Client | None = None
        self._tasks: set[asyncio.Task[None]] = set()
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
        """Connect, serve the connection, reconnect with backoff; until cancelled."""
        backoff = Backoff(self.config.reconnect_min_s, self.config.reconnect_max_s)
        topic = node_topic(self.prefix, self.client_id)
        while True:
            will = aiomqtt.Will(topic, self._status(False), qos=1, retain=True)
            try:
                client = make_client(self.config, self.broker, self.client_id, will, self.environ)
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
            if self.follower is not None:
                await self._act(client, self.follower.connected(time.monotonic()))
                group.create_task(self._listen(client))
                group.create_task(self._tick(client))

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
        assert follower is not None
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
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
                task = asyncio.create_task(self._apply(action))
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
                    meta, summary = await asyncio.to_thread(
                        apply_update, store, self.prefix, action.seq, action.blob
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
            self.stats.version = parse_version(store.meta_value(version_key(self.prefix)))
            if summary is not None:
                self.stats.updates_applied += 1
                log.info(
                    "lists: applied update #%d (%s %s/%s): %s in %.2f s",
                    action.seq,
                    meta.mode,
                    meta.list,
                    meta.source,
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


# -- eir publish ----------------------------------------------------------------------------


async def _connect(
    make: Callable[[], aiomqtt.Client], deadline: float, say: Callable[[str], None]
) -> aiomqtt.Client:
    """Enter a client's connection, retrying until ``deadline`` (monotonic)."""
    backoff = Backoff(0.2, 2.0)
    while True:
        client = make()
        try:
            await client.__aenter__()
            return client
        except aiomqtt.MqttError as exc:
            if time.monotonic() >= deadline:
                raise BrokerError(f"cannot reach the broker: {exc}") from None
            say(f"eir: broker not reachable ({exc}); retrying")
            await asyncio.sleep(min(backoff.delay(), max(0.0, deadline - time.monotonic())))


async def read_head(
    client: aiomqtt.Client, prefix: str, identifier: str, timeout: float = 10.0
) -> Head | None:
    """The retained head, or None when there is none: a sentinel we publish after subscribing
    arrives after any retained message the subscription brings."""
    sentinel = f"{prefix}/lists/sync/{identifier}"
    head = head_topic(prefix)
    await client.subscribe(head, qos=1)
    await client.subscribe(sentinel, qos=1)
    token = secrets.token_hex(8).encode()
    await client.publish(sentinel, token, qos=1)
    found: Head | None = None

    async def wait() -> Head | None:
        nonlocal found
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if message.topic.value == head and payload:
                found = parse_head(payload)
            elif message.topic.value == sentinel and payload == token:
                return found
        return found  # pragma: no cover - the iterator ends only by raising

    try:
        result = await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise BrokerError(
            "the broker did not echo our sentinel: may this user publish and "
            f"subscribe to {prefix}/lists/#?"
        ) from None
    await client.unsubscribe(head)
    await client.unsubscribe(sentinel)
    return result


@dataclass(frozen=True, slots=True)
class Published:
    head: Head
    bytes: int
    seconds: float
    applied_on: list[str]


async def publish_update(
    config: MqttConfig,
    broker: Broker,
    batch: Batch,
    *,
    mode: Mode,
    list_name: ListName,
    source: str,
    scope: list[tuple[ListName, str]],
    remove_any_source: bool,
    timeout: float,
    wait_nodes: int,
    say: Callable[[str], None],
    environ: Mapping[str, str] = os.environ,
) -> Published:
    """Publish ``batch`` as the next update; wait for ``wait_nodes`` nodes to apply it."""
    started = time.monotonic()
    deadline = started + timeout
    identifier = f"eir-publish-{secrets.token_hex(4)}"
    client = await _connect(
        lambda: make_client(config, broker, identifier, environ=environ), deadline, say
    )
    try:
        return await _publish(
            client,
            config.prefix,
            identifier,
            batch,
            mode,
            list_name,
            source,
            scope,
            remove_any_source,
            deadline,
            wait_nodes,
            started,
        )
    except aiomqtt.MqttError as exc:
        raise BrokerError(f"the broker: {exc}") from None
    finally:
        with contextlib.suppress(Exception):
            await client.__aexit__(None, None, None)


async def _publish(
    client: aiomqtt.Client,
    prefix: str,
    identifier: str,
    batch: Batch,
    mode: Mode,
    list_name: ListName,
    source: str,
    scope: list[tuple[ListName, str]],
    remove_any_source: bool,
    deadline: float,
    wait_nodes: int,
    started: float,
) -> Published:
    current = await read_head(client, prefix, identifier)
    seq = (current.seq if current else 0) + 1
    update_id = secrets.token_hex(16)
    meta = UpdateMeta(
        seq=seq,
        id=update_id,
        time=int(time.time()),
        mode=mode.value,
        list=list_name.value,
        source=source,
        scope=[(n.value, s) for n, s in scope],
        remove_any_source=remove_any_source,
        files=[os.path.basename(f) for f in batch.files],
        rows=batch.rows,
        invalid=batch.invalid,
        duplicates=batch.duplicates,
        publisher=f"{os.environ.get('USER', '?')}@{socket.gethostname()}",
    )
    blob = await asyncio.to_thread(encode_update, batch, meta)
    parts = split_parts(blob, seq, bytes.fromhex(update_id))
    for index, part in enumerate(parts):
        await _confirmed(
            client.publish(part_topic(prefix, seq, index), part, qos=1, retain=True), deadline
        )
    latest = await read_head(client, prefix, identifier)
    if latest is not None and latest.seq >= seq:
        raise BrokerError(
            f"another publisher took version #{latest.seq} meanwhile; "
            "nothing was published as the head: run eir publish again"
        )
    entries = sum(len(g.keys) for g in batch.groups)
    head = Head(seq, update_id, len(parts), meta.time, entries)
    applied: list[str] = []
    if wait_nodes:
        await client.subscribe(f"{prefix}/nodes/+", qos=1)
    await _confirmed(
        client.publish(head_topic(prefix), head.payload(), qos=1, retain=True), deadline
    )
    if wait_nodes:
        applied = await _wait_applied(client, seq, wait_nodes, deadline)
    return Published(head, len(blob), time.monotonic() - started, applied)


async def _confirmed(call: Awaitable[None], deadline: float) -> None:
    try:
        await asyncio.wait_for(call, max(0.1, deadline - time.monotonic()))
    except TimeoutError:
        raise BrokerError("the broker did not confirm in time") from None


async def _wait_applied(client: aiomqtt.Client, seq: int, nodes: int, deadline: float) -> list[str]:
    done: dict[str, int] = {}

    async def wait() -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            try:
                data: dict[str, Any] = json.loads(payload) if payload else {}
            except ValueError:
                continue
            version = data.get("version")
            if data.get("state") == "online" and isinstance(version, int) and version >= seq:
                done[message.topic.value.rsplit("/", 1)[-1]] = version
                if len(done) >= nodes:
                    return

    try:
        await asyncio.wait_for(wait(), max(0.1, deadline - time.monotonic()))
    except TimeoutError:
        raise BrokerError(
            f"published as #{seq}, but only {len(done)} of {nodes} nodes "
            f"applied it in time ({', '.join(sorted(done)) or 'none'})"
        ) from None
    return sorted(done)
