"""``eir publish``: read the retained head, publish the next update's parts and then the new
head, and wait for nodes to say they applied it (see `eir.publish.lists` for the design).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import aiomqtt

from eir.config import Broker, MqttConfig
from eir.model import ListName
from eir.publish.broker import BrokerError, connect, make_client
from eir.publish.lists import Head, decode_head, head_topic, part_topic
from eir.publish.update import (
    DeviceUpdate,
    UpdateMeta,
    encode_device_update,
    encode_update,
    scope_items,
    split_parts,
)
from eir.store.api import Mode
from eir.store.batch import Batch


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
                found = decode_head(payload)
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
class Audit:
    """Who publishes an update and why, as every node records it (:class:`UpdateMeta`)."""

    by: str = ""
    reason: str = ""
    reference: str = ""
    #: the publisher's node name (``node.name``)
    node: str = ""
    action: str = "load"

    def on(self, meta: UpdateMeta) -> UpdateMeta:
        """``meta`` carrying this audit, ``by`` the login name when not given."""
        by = self.by or os.environ.get("USER", "") or "?"
        return replace(
            meta,
            by=by,
            reason=self.reason,
            reference=self.reference,
            node=self.node,
            action=self.action,
        )


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
    devices: tuple[DeviceUpdate, str] | None = None,
    audit: Audit | None = None,
) -> Published:
    """Publish ``batch`` as the next update; wait for ``wait_nodes`` nodes to apply it.
    With ``devices`` (a device table and the kind of file it was read from) the update is
    that table instead (``batch`` gives only its files and counts)."""
    started = time.monotonic()
    deadline = started + timeout
    identifier = f"eir-publish-{secrets.token_hex(4)}"
    client = await connect(
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
            devices,
            audit or Audit(),
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
    devices: tuple[DeviceUpdate, str] | None = None,
    audit: Audit | None = None,
) -> Published:
    current = await read_head(client, prefix, identifier)
    seq = (current.seq if current else 0) + 1
    update_id = secrets.token_hex(16)
    meta = (audit or Audit()).on(
        UpdateMeta(
            seq=seq,
            id=update_id,
            time=int(time.time()),
            mode=mode.value,
            list=list_name.value,
            source=source,
            scope=scope_items(scope),
            remove_any_source=remove_any_source,
            files=[os.path.basename(f) for f in batch.files],
            rows=batch.rows,
            invalid=batch.invalid,
            duplicates=batch.duplicates,
            publisher=f"{os.environ.get('USER', '?')}@{socket.gethostname()}",
            devices="" if devices is None else devices[0].table,
            device_kind="" if devices is None else devices[1],
        )
    )
    if devices is None:
        blob = await asyncio.to_thread(encode_update, batch, meta)
        entries = sum(len(g.keys) for g in batch.groups)
    else:
        blob = await asyncio.to_thread(encode_device_update, devices[0], meta)
        entries = len(devices[0].items)
    parts = split_parts(blob, seq, bytes.fromhex(update_id))
    for index, part in enumerate(parts):
        await _confirmed(
            client.publish(part_topic(prefix, seq, index), part, qos=1, retain=True), deadline
        )
    return await publish_head(
        client,
        prefix,
        identifier,
        head_of(current, seq, update_id, len(parts), meta.time, entries),
        deadline,
        wait_nodes,
        started,
        len(blob),
    )


def head_of(
    current: Head | None, seq: int, update_id: str, parts: int, stamp: int, entries: int
) -> Head:
    """The new head of update ``seq``: it keeps the snapshot the current head names."""
    if current is None:
        return Head(seq, update_id, parts, stamp, entries)
    return Head(
        seq,
        update_id,
        parts,
        stamp,
        entries,
        current.snapshot,
        current.snapshot_id,
        current.snapshot_parts,
    )


async def publish_head(
    client: aiomqtt.Client,
    prefix: str,
    identifier: str,
    head: Head,
    deadline: float,
    wait_nodes: int,
    started: float,
    size: int,
    before: int | None = None,
) -> Published:
    """Publish ``head`` (its update's parts are out) unless another publisher moved the head
    meanwhile (``before``: the seq the head must still have, else it must be below
    ``head.seq``); wait for ``wait_nodes`` nodes to reach it."""
    seq = head.seq
    latest = await read_head(client, prefix, identifier)
    moved = (
        (latest.seq if latest else 0) != before
        if before is not None
        else (latest is not None and latest.seq >= seq)
    )
    if moved:
        raise BrokerError(
            f"another publisher took version #{latest.seq if latest else 0} meanwhile; "
            "nothing was published as the head: run eir publish again"
        )
    applied: list[str] = []
    if wait_nodes:
        await client.subscribe(f"{prefix}/nodes/+", qos=1)
    await _confirmed(
        client.publish(head_topic(prefix), head.payload(), qos=1, retain=True), deadline
    )
    if wait_nodes:
        applied = await _wait_applied(client, seq, wait_nodes, deadline)
    return Published(head, size, time.monotonic() - started, applied)


async def confirmed(call: Awaitable[None], deadline: float) -> None:
    """Wait for the broker to confirm ``call`` (a QoS 1 publish) until ``deadline``."""
    await _confirmed(call, deadline)


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
