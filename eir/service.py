"""``eir serve``: open the store, start the front-ends, run until SIGTERM or SIGINT.

One worker runs in this process; with ``--workers N``, `eir.supervisor` starts N of them.

Every listener prints ``eir: listening diameter tcp HOST:PORT`` or ``eir: listening m3ua tcp
HOST:PORT`` (sctp for SCTP; the real port) on stderr when it is ready, then ``eir: ready``
follows; scripts and tests wait for these lines.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from eir import __version__
from eir.config import Config, Endpoint
from eir.diameter.node import NodeIdentity
from eir.diameter.peer import AllowList, PeerSettings, PeerTable, Role
from eir.diameter.s13.server import S13Server
from eir.diameter.wire import Limits
from eir.events import Check as EventCheck
from eir.events import CheckFilter, EventQueue, ListsChanged, PeerChange, status_name
from eir.model import CheckRequest, CheckResult, Decide
from eir.policy import decide, unknown_result
from eir.publish.metrics import Latency, Metrics, render, serve_metrics
from eir.sigtran.asp import AspBinding, DataReceived, M3uaSettings, Side
from eir.sigtran.m3ua import TrafficMode
from eir.sigtran.node import MapNode, SccpIdentity
from eir.sigtran.tcap import TcapServer
from eir.startup import (
    claim_port,
    claim_store,
    join_store,
    open_store,
    say,
    shown,
    summary,
)
from eir.store.lmdb_store import LmdbStore
from eir.transport.diameter import DiameterEndpoint, DiameterProtocol
from eir.transport.m3ua import M3uaNode, M3uaProtocol
from eir.transport.sctp import (
    PPID_DIAMETER,
    PPID_M3UA,
    Stream,
    m3ua_stream,
    open_sctp_connection,
    open_sctp_server,
    split_by_length,
)

if TYPE_CHECKING:  # imported when a broker is configured: aiomqtt and numpy cost every start
    from eir.publish.mqtt import MqttNode

log = logging.getLogger("eir.service")

Report = Callable[[str], None]


def _firmware_revision() -> int:
    parts = [int(p) if p.isdigit() else 0 for p in __version__.split(".")[:3]]
    parts += [0] * (3 - len(parts))
    return parts[0] * 10000 + parts[1] * 100 + parts[2]


#: the result label of a decision: S13's Result-Code, MAP's result or error
_RESULTS = {
    (False, False): "2001",
    (False, True): "5422",
    (True, False): "result",
    (True, True): "unknownEquipment",
}


def checker(
    config: Config,
    store: LmdbStore,
    metrics: Metrics | None = None,
    queue: EventQueue | None = None,
) -> Decide:
    """The decision both front-ends ask for: the policy over the store's lists, counted in
    ``metrics`` and offered to the event ``queue`` (never waiting on either)."""
    policy = config.policy
    lookup = store.lookup
    if metrics is None:

        def check(request: CheckRequest) -> CheckResult:
            return decide(request, lookup, policy)

        return check
    counts = metrics.checks
    wanted = CheckFilter(config.events.checks, config.events.sample).wanted
    offer = None if queue is None else queue.offer

    def observed(request: CheckRequest) -> CheckResult:
        result = decide(request, lookup, policy)
        status = result.status
        protocol = request.protocol
        counts[
            (protocol, status_name(result), _RESULTS[(protocol.startswith("map"), status is None)])
        ] += 1
        if offer is not None and wanted(result):
            offer(EventCheck(request, result, time.time()))
        return result

    return observed


class _TimedS13(S13Server):
    """Times each answer into the S13 latency histogram."""

    latency: Latency | None = None

    def answer(self, buf: bytes, peer: str) -> bytes:
        latency = self.latency
        if latency is None:
            return super().answer(buf, peer)
        started = time.perf_counter()
        out = super().answer(buf, peer)
        latency.observe(time.perf_counter() - started)
        return out


class _TimedMap(MapNode):
    """Times each DATA's answer into the MAP latency histogram."""

    latency: Latency | None = None

    def on_data(self, event: DataReceived, peer: str = "") -> bytes | None:
        latency = self.latency
        if latency is None:
            return super().on_data(event, peer)
        started = time.perf_counter()
        out = super().on_data(event, peer)
        latency.observe(time.perf_counter() - started)
        return out


def build_diameter(
    config: Config,
    store: LmdbStore,
    now: Callable[[], float],
    check: Decide | None = None,
    latency: Latency | None = None,
) -> DiameterEndpoint:
    d = config.diameter
    policy = config.policy
    check = check or checker(config, store)

    local = NodeIdentity(
        origin_host=d.origin_host,
        origin_realm=d.origin_realm,
        realms=frozenset(d.realms),
        vendor_id=d.vendor_id,
        product_name="eir",
        firmware_revision=_firmware_revision(),
        host_ip_addresses=d.host_ip_addresses,
        origin_state_id=int(time.time()),
    )
    limits = Limits(d.max_avp_depth, d.max_avps)
    app = _TimedS13(local, check, lambda: unknown_result(policy), limits=limits)
    app.latency = latency
    settings = PeerSettings(
        node=local,
        watchdog_s=d.watchdog_s,
        watchdog_jitter_s=2.0,
        cer_timeout_s=d.cer_timeout_s,
        max_message=d.max_message_bytes,
        max_in_flight=d.max_in_flight,
        allow=AllowList(d.allowed_hosts, d.allowed_realms, d.allowed_networks),
        limits=limits,
        duplicate_peer=d.duplicate_peer,
        require_origin_match=d.require_origin_match,
    )
    return DiameterEndpoint(
        settings,
        app,
        PeerTable(d.origin_host, now),
        d.max_connections,
        max_pending=d.max_pending_connections,
        max_pending_per_address=d.max_pending_per_address,
        read_timeout_s=d.read_timeout_s,
    )


def build_m3ua(
    config: Config, store: LmdbStore, check: Decide | None = None, latency: Latency | None = None
) -> M3uaNode:
    m = config.m3ua
    settings = M3uaSettings(
        routing_contexts=m.routing_contexts,
        network_appearance=None if m.network_appearance < 0 else m.network_appearance,
        traffic_mode=TrafficMode.OVERRIDE
        if m.traffic_mode == "override"
        else TrafficMode.LOADSHARE,
        max_message=m.max_message_bytes,
        allowed_networks=m.allowed_networks,
        asps=tuple(
            AspBinding(
                a.name,
                None if a.asp_identifier < 0 else a.asp_identifier,
                a.networks,
                a.routing_contexts,
                a.override,
            )
            for a in m.asps
        ),
        handshake_timeout_s=m.handshake_timeout_s,
        beat_interval_s=m.beat_interval_s,
    )
    identity = SccpIdentity(m.ssn, None if m.point_code < 0 else m.point_code, m.global_title)
    node = _TimedMap(TcapServer(check or checker(config, store)), identity)
    node.latency = latency
    return M3uaNode(
        settings,
        node,
        max_connections=m.max_connections,
        max_pending=m.max_pending_connections,
        max_pending_per_address=m.max_pending_per_address,
        read_timeout_s=m.read_timeout_s,
    )


@dataclass(frozen=True)
class Framing:
    """How a protocol sits on SCTP (and how its listeners are announced)."""

    name: str
    ppid: int
    split: Callable[[bytes], list[bytes]]
    stream: Stream = 0


DIAMETER = Framing("diameter", PPID_DIAMETER, split_by_length(1, 3))
M3UA = Framing("m3ua", PPID_M3UA, split_by_length(4, 4), m3ua_stream)


class _Closable(Protocol):
    closed: asyncio.Future[None]


async def _listen(
    factory: Callable[[], asyncio.Protocol], endpoint: Endpoint, reuse_port: bool, framing: Framing
) -> tuple[Any, str]:
    """Listen on `endpoint`; returns the server and its ready line (with the real port)."""
    if endpoint.transport == "sctp":
        sctp_server = await open_sctp_server(
            endpoint.host,
            endpoint.port,
            factory,
            framing.ppid,
            framing.split,
            reuse_port,
            stream=framing.stream,
        )
        port = sctp_server.sockname[1]
        return sctp_server, f"eir: listening {framing.name} sctp {shown(endpoint.host, port)}"
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, endpoint.host, endpoint.port, reuse_port=reuse_port or None, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    return server, f"eir: listening {framing.name} tcp {shown(endpoint.host, port)}"


async def _keep_connected(
    factory: Callable[[], asyncio.Protocol],
    where: Endpoint,
    framing: Framing,
    reconnect_s: float,
    connected_already: Callable[[], bool] = lambda: False,
) -> None:
    """Dial `where` and dial again every `reconnect_s` after the connection is lost or cannot
    be made (Diameter's Tc, RFC 6733 2.1; an ASP's reconnection, RFC 4666 4.3.4.1)."""
    loop = asyncio.get_running_loop()
    while True:
        if not connected_already():
            try:
                if where.transport == "sctp":
                    _t, protocol = await open_sctp_connection(
                        where.host,
                        where.port,
                        factory,
                        framing.ppid,
                        framing.split,
                        stream=framing.stream,
                    )
                else:
                    _tt, protocol = await loop.create_connection(factory, where.host, where.port)
                closable = cast(_Closable, protocol)
                await closable.closed
                log.info(
                    "%s: connection to %s closed; retrying in %gs", framing.name, where, reconnect_s
                )
            except OSError as exc:
                log.warning(
                    "%s: cannot reach %s: %s; retrying in %gs",
                    framing.name,
                    where,
                    exc.strerror or exc,
                    reconnect_s,
                )
        await asyncio.sleep(reconnect_s)


async def serve(
    config: Config,
    store: LmdbStore,
    *,
    reuse_port: bool = False,
    report: Report = say,
    dial: bool = True,
    worker: bool = False,
    index: int = 0,
    share: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT. ``index`` 0 is the process that dials peers, follows
    list updates and reports list changes; ``share`` (workers) receives this process's
    metrics every second instead of an endpoint of its own."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    metrics = Metrics()
    broker = config.mqtt.broker
    queue = EventQueue(config.events.queue_size) if broker is not None else None
    check = checker(config, store, metrics, queue)
    node = build_diameter(config, store, loop.time, check, metrics.latency["s13"])
    m3ua_node = build_m3ua(config, store, check, metrics.latency["map"])
    servers: list[Any] = []
    tasks: list[asyncio.Task[None]] = []
    mqtt: MqttNode | None = None
    if broker is not None and queue is not None:
        from eir.publish.mqtt import MqttNode, node_name

        name = node_name(config.mqtt)
        follow = index == 0 and config.distribution.subscribe
        mqtt = MqttNode(
            config.mqtt,
            broker,
            queue,
            mask_imsi=config.events.mask_imsi,
            store=store if follow else None,
            fetch_timeout=config.distribution.fetch_timeout_s,
            name=name,
            client_id=name if not worker else f"{name}-w{index}",
        )
        if config.events.peers:
            node.on_peer = _peer_events(queue, "diameter")
            m3ua_node.on_peer = _peer_events(queue, "m3ua")
    lists = _ListWatch(
        store, queue if index == 0 and config.events.lists else None, mqtt, config.mqtt.prefix
    )
    _observe(metrics, node, m3ua_node, queue, mqtt, lists)
    try:
        lists.poll()
        tasks.append(asyncio.create_task(lists.run()))
        if mqtt is not None:
            tasks.append(asyncio.create_task(mqtt.run()))
        if share is not None:
            tasks.append(asyncio.create_task(_share(metrics, share)))
        elif config.metrics.listen is not None:
            where = config.metrics.listen
            server, port = await serve_metrics(
                where.host, where.port, lambda: render([metrics.snapshot()])
            )
            servers.append(server)
            report(f"eir: listening metrics http {shown(where.host, port)}")
        for endpoint in config.diameter.listen:
            server, line = await _listen(
                lambda: DiameterProtocol(node), endpoint, reuse_port, DIAMETER
            )
            servers.append(server)
            report(line)
        for endpoint in config.m3ua.listen:
            server, line = await _listen(
                lambda: M3uaProtocol(m3ua_node), endpoint, reuse_port, M3UA
            )
            servers.append(server)
            report(line)
        if dial:
            for peer in config.diameter.peers:

                def known(host: str = peer.host) -> bool:
                    return bool(host) and node.table.is_open(host)

                tasks.append(
                    asyncio.create_task(
                        _keep_connected(
                            lambda: DiameterProtocol(node, Role.INITIATOR),
                            peer.address,
                            DIAMETER,
                            config.diameter.reconnect_s,
                            known,
                        )
                    )
                )
            for sg in config.m3ua.peers:
                tasks.append(
                    asyncio.create_task(
                        _keep_connected(
                            lambda: M3uaProtocol(m3ua_node, Side.ASP),
                            sg,
                            M3UA,
                            config.m3ua.reconnect_s,
                        )
                    )
                )
        report("eir: ready")
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            server.close()
        await node.disconnect_all()
        await m3ua_node.close_all()
    if not worker:  # the supervisor says it once for all its workers
        print("eir: stopping", file=sys.stderr, flush=True)


def _peer_events(queue: EventQueue, protocol: str) -> Callable[[str, bool, str], None]:
    def changed(peer: str, up: bool, detail: str) -> None:
        queue.offer(PeerChange(protocol, peer, up, detail, time.time()))

    return changed


class _ListWatch:
    """Notices list changes (a local `eir load` or an applied update) once a second: entry
    counts and update time for the metrics, and an `events/lists` event."""

    def __init__(
        self, store: LmdbStore, queue: EventQueue | None, mqtt: MqttNode | None, prefix: str
    ) -> None:
        self.store = store
        self.queue = queue
        self.mqtt = mqtt
        self.prefix = prefix
        self.generation = -1
        self.entries: dict[str, int] = {}
        self.changed_at = 0.0

    def poll(self) -> None:
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

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.poll()
            except Exception:  # a store error must not stop the watch
                log.exception("cannot read the store's counters")


def _observe(
    metrics: Metrics,
    node: DiameterEndpoint,
    m3ua: M3uaNode,
    queue: EventQueue | None,
    mqtt: MqttNode | None,
    lists: _ListWatch,
) -> None:
    app = node.app
    tcap = m3ua.node.tcap

    def errors() -> Iterator[tuple[tuple[str, str, str], int]]:
        if app is not None:
            for code, count in app.answers.errors.items():
                yield ("s13", "none", str(int(code))), count
        for outcome, count in tcap.outcomes.items():
            yield ("map", "none", outcome), count

    def sample() -> dict[str, list[tuple[tuple[str, ...], float]]]:
        out: dict[str, list[tuple[tuple[str, ...], float]]] = {
            "eir_peers_connected": [
                (("diameter",), node.open_peers()),
                (("m3ua",), len(m3ua.connections)),
            ],
            "eir_connections_refused": [
                ((pools.label, outcome), count)
                for pools in (node.admission, m3ua.admission)
                for outcome, count in (
                    ("refused", pools.refused),
                    ("evicted", pools.evicted),
                    ("read_timeout", pools.timed_out),
                )
            ],
            "eir_list_entries": [((name,), count) for name, count in lists.entries.items()],
            "eir_list_generation": [((), lists.generation)],
            "eir_list_last_update_timestamp_seconds": [((), lists.changed_at)],
            "eir_workers": [((), 1)],
        }
        if queue is not None:
            out["eir_events_queued"] = [((), len(queue))]
            out["eir_events_published"] = [((), queue.published)]
            out["eir_events_dropped"] = [((), queue.dropped)]
        if mqtt is not None:
            stats = mqtt.stats
            out["eir_mqtt_connected"] = [((), int(stats.connected))]
            if mqtt.follower is not None:
                out["eir_list_version"] = [((), stats.version.seq)]
                out["eir_list_updates_applied"] = [((), stats.updates_applied)]
                out["eir_list_update_failures"] = [((), stats.update_failures)]
        return out

    metrics.error_counts.append(errors)
    metrics.samplers.append(sample)


async def _share(metrics: Metrics, share: Callable[[dict[str, Any]], None]) -> None:
    while True:
        share(metrics.snapshot())
        await asyncio.sleep(1.0)


def run(config: Config, db: str | None) -> int:
    """Serve in this process (one worker; `eir.supervisor` runs several). Refused while
    another instance serves the store or listens on one of the ports (`eir.startup`)."""
    store = open_store(config, db, create=True)
    locks: list[int] = []
    claims: list[socket.socket | None] = []
    try:
        locks.append(claim_store(store.path))
        listen = [("diameter", e) for e in config.diameter.listen]
        listen += [("m3ua", e) for e in config.m3ua.listen]
        if config.metrics.listen is not None:
            listen.append(("metrics", config.metrics.listen))
        for name, endpoint in listen:
            claims.append(claim_port(name, endpoint))
        locks.append(join_store(store.path))
        say(summary(store))
        asyncio.run(serve(config, store))
    finally:
        store.close()
        for claim in claims:
            if claim is not None:
                claim.close()
        for fd in reversed(locks):
            os.close(fd)
    return 0
