"""Publishing a restore update (``eir rollback V --publish``) and a snapshot (``eir publish
--snapshot``), both read from a store that is at the broker's head (its applied version for the
prefix is the head's seq), and the log up to a snapshot deleted (empty retained payloads).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiomqtt

from eir.config import Broker, MqttConfig
from eir.publish.broker import BrokerError, connect, make_client
from eir.publish.lists import Head, decode_version, part_topic, snapshot_topic, version_key
from eir.publish.publisher import (
    Audit,
    Published,
    confirmed,
    head_of,
    publish_head,
    read_head,
)
from eir.publish.restore_update import (
    HISTORY,
    RESTORE_TABLES,
    SNAPSHOT_TABLES,
    RestoreUpdate,
    encode_restore,
)
from eir.publish.update import UpdateMeta, split_parts
from eir.store.lmdb_store import LmdbStore
from eir.store.records import META
from eir.store.writes import WriteTxn

R = TypeVar("R")
_HISTORY_PREFIX = b"history\x00"
#: the records of a restore read from a store's snapshot: (table, key, record or None)
Records = list[tuple[str, bytes, bytes | None]]


@dataclass(frozen=True, slots=True)
class Target:
    """Where to publish: the broker, its prefix, how long to try, how many nodes to wait for."""

    config: MqttConfig
    broker: Broker
    timeout: float
    wait_nodes: int
    say: Callable[[str], None]


def read_at_head(
    store: LmdbStore, prefix: str, read: Callable[[WriteTxn], Records]
) -> tuple[int, Records]:
    """The store's applied version for ``prefix`` and ``read``'s records, from one snapshot."""
    view = store.snapshot()
    try:
        version = decode_version(view.get("meta", version_key(prefix))).seq
        return version, read(view)
    finally:
        view.release()


def whole_content(txn: WriteTxn) -> Records:
    """Every record of the tables a snapshot holds, in table and key order, then the history
    records (the audit trail a new node starts with)."""
    records: Records = [
        (table, bytes(key), bytes(record))
        for table in SNAPSHOT_TABLES
        for key, record in txn.items(table)
    ]
    for key, record in txn.items(META, _HISTORY_PREFIX):
        if not bytes(key).startswith(_HISTORY_PREFIX):
            break
        records.append((HISTORY, bytes(key[len(_HISTORY_PREFIX) :]), bytes(record)))
    return records


def in_order(records: Records) -> Records:
    """Records sorted as a restore update holds them: by table, then key."""
    rank = {t: i for i, t in enumerate(RESTORE_TABLES)}
    return sorted(records, key=lambda r: (rank[r[0]], r[1]))


async def publish_restore(
    target: Target, store_version: int, records: Records, audit: Audit, restores: int
) -> Published:
    """Publish ``records`` as the next update (a restore of version ``restores``), refused
    unless the store they were read from is at the head."""
    return await _session(
        target, lambda c, i, d: _restore(c, i, d, target, store_version, records, audit, restores)
    )


async def publish_case(
    target: Target,
    store_version: int,
    records: Records,
    audit: Audit,
    source: str,
    event: Callable[[int], tuple[str, bytes]],
) -> Published:
    """Publish a case action's ``records`` (:mod:`eir.publish.case_update`) as the next
    update, then ``event(seq)``'s message (``events/case``) at QoS 1 on the same connection."""

    async def work(client: aiomqtt.Client, identifier: str, deadline: float) -> Published:
        published = await _restore(
            client, identifier, deadline, target, store_version, records, audit, 0, source
        )
        topic, body = event(published.head.seq)
        await confirmed(client.publish(f"{target.config.prefix}/{topic}", body, qos=1), deadline)
        return published

    return await _session(target, work)


async def publish_snapshot(
    target: Target, store_version: int, records: Records, audit: Audit
) -> tuple[Published, int]:
    """Publish ``records`` (a store's whole content at the head) as the log's snapshot, name
    it in the head and delete the log's updates up to it. Returns the head and how many log
    messages were deleted."""
    return await _session(
        target, lambda c, i, d: _snapshot(c, i, d, target, store_version, records, audit)
    )


async def _session(target: Target, work: Callable[[aiomqtt.Client, str, float], Awaitable[R]]) -> R:
    deadline = time.monotonic() + target.timeout
    identifier = f"eir-publish-{secrets.token_hex(4)}"
    client = await connect(
        lambda: make_client(target.config, target.broker, identifier),
        deadline,
        target.say,
    )
    try:
        return await work(client, identifier, deadline)
    except aiomqtt.MqttError as exc:
        raise BrokerError(f"the broker: {exc}") from None
    finally:
        with contextlib.suppress(Exception):
            await client.__aexit__(None, None, None)


def _at_head(head: Head | None, store_version: int) -> int:
    seq = head.seq if head else 0
    if seq == 0:
        raise BrokerError("nothing was published under this prefix: no head to start from")
    if store_version != seq:
        raise BrokerError(
            f"the store is at #{store_version}, the broker's head at #{seq}: "
            "use a store that has applied the head"
        )
    return seq


def _meta(seq: int, records: Records, audit: Audit, restores: int, source: str = "") -> UpdateMeta:
    meta = UpdateMeta(
        seq=seq,
        id=secrets.token_hex(16),
        time=int(time.time()),
        mode="replace",
        list="black",
        source=source or audit.action,
        scope=[],
        remove_any_source=False,
        files=[],
        rows=len(records),
        invalid=0,
        duplicates=0,
        restores=restores,
    )
    return audit.on(meta)


async def _restore(
    client: aiomqtt.Client,
    identifier: str,
    deadline: float,
    target: Target,
    store_version: int,
    records: Records,
    audit: Audit,
    restores: int,
    source: str = "",
) -> Published:
    started = time.monotonic()
    prefix = target.config.prefix
    current = await read_head(client, prefix, identifier)
    seq = _at_head(current, store_version) + 1
    meta = _meta(seq, records, audit, restores, source)
    blob = await asyncio.to_thread(encode_restore, RestoreUpdate(in_order(records)), meta)
    parts = split_parts(blob, seq, bytes.fromhex(meta.id))
    for index, part in enumerate(parts):
        await confirmed(
            client.publish(part_topic(prefix, seq, index), part, qos=1, retain=True), deadline
        )
    head = head_of(current, seq, meta.id, len(parts), meta.time, len(records))
    return await publish_head(
        client, prefix, identifier, head, deadline, target.wait_nodes, started, len(blob)
    )


async def _snapshot(
    client: aiomqtt.Client,
    identifier: str,
    deadline: float,
    target: Target,
    store_version: int,
    records: Records,
    audit: Audit,
) -> tuple[Published, int]:
    started = time.monotonic()
    prefix = target.config.prefix
    current = await read_head(client, prefix, identifier)
    seq = _at_head(current, store_version)
    assert current is not None
    meta = _meta(seq, records, audit, 0)
    blob = await asyncio.to_thread(encode_restore, RestoreUpdate(records, snapshot=True), meta)
    parts = split_parts(blob, seq, bytes.fromhex(meta.id))
    for index, part in enumerate(parts):
        await confirmed(
            client.publish(snapshot_topic(prefix, index), part, qos=1, retain=True), deadline
        )
    for index in range(len(parts), current.snapshot_parts):  # a longer older snapshot's rest
        await confirmed(
            client.publish(snapshot_topic(prefix, index), b"", qos=1, retain=True), deadline
        )
    head = Head(
        current.seq,
        current.id,
        current.parts,
        current.time,
        current.entries,
        seq,
        meta.id,
        len(parts),
    )
    published = await publish_head(
        client, prefix, identifier, head, deadline, 0, started, len(blob), before=seq
    )
    deleted = await _delete_log(client, prefix, identifier, seq, deadline)
    return published, deleted


async def _delete_log(
    client: aiomqtt.Client, prefix: str, identifier: str, upto: int, deadline: float
) -> int:
    """Clear the retained log messages of updates ``<= upto``: the ones the broker sends on
    a subscription to the log, until our sentinel comes back after them."""
    log_prefix = f"{prefix}/lists/log/"
    sentinel = f"{prefix}/lists/sync/{identifier}"
    token = secrets.token_hex(8).encode()
    await client.subscribe(f"{log_prefix}#", qos=1)
    await client.subscribe(sentinel, qos=1)
    await client.publish(sentinel, token, qos=1)
    topics: list[str] = []

    async def collect() -> None:
        async for message in client.messages:
            topic = message.topic.value
            if topic == sentinel and message.payload == token:
                return
            seq = topic[len(log_prefix) :].split("/", 1)[0]
            if (
                topic.startswith(log_prefix)
                and message.payload
                and seq.isdigit()
                and int(seq) <= upto
            ):
                topics.append(topic)

    try:
        await asyncio.wait_for(collect(), max(0.1, deadline - time.monotonic()))
    except TimeoutError:
        raise BrokerError("the broker did not echo our sentinel while reading the log") from None
    await client.unsubscribe(f"{log_prefix}#")
    await client.unsubscribe(sentinel)
    for topic in topics:
        await confirmed(client.publish(topic, b"", qos=1, retain=True), deadline)
    return len(topics)
