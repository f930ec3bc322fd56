"""``eir serve``: open the store, wire the front-ends to the policy, the metrics and the
broker session, and serve until told to stop.

`serve` serves one `Serving` until its ``stop`` event is set and tells its caller what it does
through typed messages (`eir.channel`); `run` is the entry point of one process, whose SIGTERM
or SIGINT sets the event. With ``--workers N``, `eir.supervisor` starts N workers that each
serve here.

Every listener prints ``eir: listening diameter tcp HOST:PORT`` or ``eir: listening m3ua tcp
HOST:PORT`` (sctp for SCTP; the real port) on stderr when it is ready, then ``eir: ready``
follows; scripts and tests wait for these lines. Serving alone, it also notifies the service
manager (`eir.notify`: READY, RELOADING, STOPPING) and reloads its configuration on SIGHUP
(`eir.reload`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, cast

from eir import __version__
from eir.channel import Listening, Message, MetricsSnapshot, Ready, Tell, on_stderr
from eir.check_log import CheckLog
from eir.checker import check_log, checker
from eir.config import Broker, Config, Endpoint
from eir.diameter import results as s13_results
from eir.diameter.allow_list import AllowList
from eir.diameter.node import NodeIdentity
from eir.diameter.peer import PeerSettings, Role
from eir.diameter.peer_table import PeerTable
from eir.diameter.s13.server import S13Server
from eir.diameter.wire import Limits
from eir.events import EventQueue, PeerChange
from eir.framing import DIAMETER, M3UA, Framing
from eir.host import node_name
from eir.model import Decide
from eir.notify import Notifier
from eir.observations.writer import ObservationWriter
from eir.observe.endpoint import serve_metrics
from eir.observe.list_watch import ListWatch
from eir.observe.metrics import Latency, Metrics, render
from eir.observing import (
    first_seen,
    observation_exchange,
    observation_sampler,
    observation_writer,
    opener,
)
from eir.policy import unknown_result
from eir.purging import purge_every
from eir.reload import Live, Reloader
from eir.reload import status as reload_status
from eir.sigtran import outcomes as map_outcomes
from eir.sigtran.checkimei import CheckImei
from eir.sigtran.m3ua import TrafficMode
from eir.sigtran.m3ua_access import AspBinding
from eir.sigtran.m3ua_asp import DataReceived, M3uaSettings, Side
from eir.sigtran.sccp_routing import SccpIdentity, SccpRouter
from eir.sigtran.tcap import TcapServer
from eir.startup import (
    cannot_listen,
    claim_port,
    claim_store,
    join_store,
    open_store,
    say,
    summary,
)
from eir.store.lmdb_store import LmdbStore
from eir.transport.diameter import DiameterEndpoint, DiameterProtocol
from eir.transport.m3ua_adapter import M3uaEndpoint, M3uaProtocol
from eir.transport.sctp import open_sctp_connection, open_sctp_server

if TYPE_CHECKING:  # imported when a broker is configured: aiomqtt and numpy cost every start
    from eir.observations.node import Exchange
    from eir.publish.session import BrokerSession

log = logging.getLogger("eir.service")


def _firmware_revision() -> int:
    parts = [int(p) if p.isdigit() else 0 for p in __version__.split(".")[:3]]
    parts += [0] * (3 - len(parts))
    return parts[0] * 10000 + parts[1] * 100 + parts[2]


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


class _TimedMap(SccpRouter):
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
    live: Live | None = None,
) -> DiameterEndpoint:
    d = config.diameter
    live = Live(config) if live is None else live
    check = check or checker(config, store, live=live)

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
    app = _TimedS13(local, check, lambda: unknown_result(live.config.policy), limits=limits)
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
) -> M3uaEndpoint:
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
    node = _TimedMap(TcapServer(CheckImei(check or checker(config, store))), identity)
    node.latency = latency
    return M3uaEndpoint(
        settings,
        node,
        max_connections=m.max_connections,
        max_pending=m.max_pending_connections,
        max_pending_per_address=m.max_pending_per_address,
        read_timeout_s=m.read_timeout_s,
    )


class _Closable(Protocol):
    closed: asyncio.Future[None]


async def _listen(
    factory: Callable[[], asyncio.Protocol], endpoint: Endpoint, reuse_port: bool, framing: Framing
) -> tuple[Any, Listening]:
    """Listen on `endpoint`; returns the server and where it listens (with the real port)."""
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
        return sctp_server, Listening(framing.name, "sctp", endpoint.host, port)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, endpoint.host, endpoint.port, reuse_port=reuse_port or None, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    return server, Listening(framing.name, "tcp", endpoint.host, port)


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
                # its end is the adapter's line (peer down, association closed): said once
                log.info("%s: dialing %s again in %gs", framing.name, where, reconnect_s)
            except OSError as exc:
                log.warning(
                    "%s: cannot reach %s: %s; retrying in %gs",
                    framing.name,
                    where,
                    exc.strerror or exc,
                    reconnect_s,
                )
        await asyncio.sleep(reconnect_s)


@dataclass(frozen=True)
class Serving:
    """What one process serves: the configuration, the open store, and which of a
    supervisor's workers it is (None: it serves alone)."""

    config: Config
    store: LmdbStore
    worker: int | None = None
    #: the configuration read again (file and command line), for a reload on SIGHUP
    reread: Callable[[], Config] | None = None

    @property
    def leads(self) -> bool:
        """The process that dials peers, follows list updates and reports list changes."""
        return self.worker is None or self.worker == 0


@dataclass(frozen=True)
class _Wiring:
    """The parts of one serving process, connected."""

    metrics: Metrics
    diameter: DiameterEndpoint
    m3ua: M3uaEndpoint
    session: BrokerSession | None
    lists: ListWatch
    live: Live
    notes: CheckLog
    #: the observation writer (None: observations.enabled is false)
    observations: ObservationWriter | None
    #: the observation deltas out and the aggregator (`eir.observations.node`)
    exchange: Exchange | None = None


class _Tasks:
    """The tasks `serve` starts, held until it cancels them all on its way out."""

    def __init__(self) -> None:
        self.held: list[asyncio.Task[None]] = []

    def start(self, coro: Coroutine[Any, Any, None]) -> None:
        self.held.append(asyncio.get_running_loop().create_task(coro))

    async def close(self) -> None:
        for task in self.held:
            task.cancel()
        if self.held:
            await asyncio.gather(*self.held, return_exceptions=True)


async def serve(
    serving: Serving, stop: asyncio.Event, tell: Tell = on_stderr, notifier: Notifier | None = None
) -> None:
    """Serve until ``stop`` is set; ``tell`` hears each listener open, then `Ready`. A worker
    also tells its metrics every second instead of serving an endpoint of its own. With
    ``serving.reread``, SIGHUP reloads the configuration (`eir.reload`), told to ``notifier``."""
    wiring = _wire(serving, asyncio.get_running_loop().time)
    tasks = _Tasks()
    servers: list[Any] = []
    try:
        wiring.lists.poll()
        tasks.start(wiring.lists.run())
        tasks.start(_flush_every_second(wiring.notes))
        if serving.worker is not None:
            tasks.start(_share(wiring.metrics, tell))
        listening = await _open_listeners(serving, wiring, servers, tell)
        # the broker only once every listener is open: a start that fails leaves no MQTT
        # client half connected behind it (aiomqtt's would complain after the loop closed)
        if wiring.session is not None:
            tasks.start(wiring.session.run())
        if wiring.observations is not None:
            tasks.start(wiring.observations.run())
        if wiring.exchange is not None:
            wiring.exchange.start(tasks.start)
        if serving.leads:
            _dial(serving.config, wiring, tasks)
            name = node_name(serving.config.mqtt)
            tasks.start(purge_every(serving.config, serving.store, name))
        with _reloading(serving, wiring, notifier):
            tell(Ready(tuple(listening)))
            await stop.wait()
    finally:
        await tasks.close()
        for server in servers:
            server.close()
        await wiring.diameter.disconnect_all()
        await wiring.m3ua.close_all()
        # the answers given are written before the exit; the writer closes the observation
        # store it shares with the exchange (one LMDB environment is opened once a process)
        if wiring.observations is not None:
            await wiring.observations.close()


def _wire(serving: Serving, now: Callable[[], float]) -> _Wiring:
    """Build the front-ends over one decision, counted in the metrics and, with a broker,
    offered to the event queue that the broker session drains."""
    config, store = serving.config, serving.store
    metrics = Metrics()
    broker = config.mqtt.broker
    queue = EventQueue(config.events.queue_size) if broker is not None else None
    live = Live(config)
    notes = check_log(config)
    observations = opener(config)
    writer = observation_writer(config, serving.leads, queue, observations)
    sightings = None if writer is None else writer.buffer
    seen = first_seen(observations) if config.observations.enabled else None
    check = checker(config, store, metrics, queue, live, notes, sightings, seen)
    node = build_diameter(config, store, now, check, metrics.latency[s13_results.PROTOCOL], live)
    m3ua_node = build_m3ua(config, store, check, metrics.latency[map_outcomes.PROTOCOL])
    session: BrokerSession | None = None
    if broker is not None and queue is not None:
        session = _session(serving, broker, queue)
        if config.events.peers:
            node.on_peer = _peer_events(queue, "diameter")
            m3ua_node.on_peer = _peer_events(queue, "m3ua")
    lists = ListWatch(
        store,
        queue if serving.leads and config.events.lists else None,
        session,
        config.mqtt.prefix,
        queue if serving.leads and config.events.cases else None,
    )
    _observe(metrics, node, m3ua_node, queue, session, lists)
    if writer is not None:
        metrics.samplers.append(observation_sampler(writer))
    exchanged = None
    if serving.leads:
        exchanged = observation_exchange(
            config, serving.store, session, queue, metrics, observations
        )
    return _Wiring(metrics, node, m3ua_node, session, lists, live, notes, writer, exchanged)


@contextlib.contextmanager
def _reloading(serving: Serving, wiring: _Wiring, notifier: Notifier | None) -> Iterator[None]:
    """SIGHUP reloads the configuration while in this block (`eir.reload`); ignored after."""
    if serving.reread is None:
        yield
        return
    reloader = Reloader(
        serving.config, serving.reread, _applier(wiring), quiet=serving.worker is not None
    )

    def reload() -> None:
        if notifier is not None:
            notifier.reloading()
        failure = reloader.reload()
        if notifier is not None:
            notifier.ready(reload_status(failure))

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)  # which restores the default: exit
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _applier(wiring: _Wiring) -> Callable[[Config], None]:
    """What a reload changes: the log level, the policy the answer path reads per request,
    the Diameter allow list of the connections to come."""
    node = wiring.diameter

    def apply(config: Config) -> None:
        wiring.live.config = config
        wiring.notes.configure(config.log.checks, config.log.checks_per_second)
        logging.getLogger().setLevel(config.log.level.upper())
        d = config.diameter
        allow = AllowList(d.allowed_hosts, d.allowed_realms, d.allowed_networks)
        node.settings = replace(node.settings, allow=allow)
        node.admission.screen = allow.refuses_address if allow.networks else None

    return apply


async def _flush_every_second(notes: CheckLog) -> None:
    """The count of check lines the rate limit held back, said even when checks stop."""
    while True:
        await asyncio.sleep(1.0)
        notes.flush()


def _session(serving: Serving, broker: Broker, queue: EventQueue) -> BrokerSession:
    """The broker session: events out; on the leading process, list updates in."""
    from eir.publish.session import BrokerSession

    config = serving.config
    name = node_name(config.mqtt)
    follow = serving.leads and config.distribution.subscribe
    return BrokerSession(
        config.mqtt,
        broker,
        queue,
        mask_imsi=config.events.mask_imsi,
        store=serving.store if follow else None,
        fetch_timeout=config.distribution.fetch_timeout_s,
        name=name,
        # the leading process is the node (its observation deltas go out under the node's
        # name, the topic the broker's ACL lets it write); the other workers are <node>-wN
        client_id=name if serving.leads else f"{name}-w{serving.worker}",
    )


async def _open_listeners(
    serving: Serving, wiring: _Wiring, servers: list[Any], tell: Tell
) -> list[Listening]:
    """Open the metrics endpoint (serving alone) and every listener, telling each as it
    opens; the servers go into ``servers`` for the caller to close."""
    config = serving.config
    reuse_port = serving.worker is not None
    listening: list[Listening] = []

    def opened(server: Any, where: Listening) -> None:
        servers.append(server)
        listening.append(where)
        tell(where)

    metrics, node, m3ua_node = wiring.metrics, wiring.diameter, wiring.m3ua
    if serving.worker is None and config.metrics.listen is not None:
        at = config.metrics.listen
        with _binding("metrics", at):
            server, port = await serve_metrics(
                at.host, at.port, lambda: render([metrics.snapshot()])
            )
        opened(server, Listening("metrics", "http", at.host, port))
    for endpoint in config.diameter.listen:
        with _binding(DIAMETER.name, endpoint):
            opened(*await _listen(lambda: DiameterProtocol(node), endpoint, reuse_port, DIAMETER))
    for endpoint in config.m3ua.listen:
        with _binding(M3UA.name, endpoint):
            opened(*await _listen(lambda: M3uaProtocol(m3ua_node), endpoint, reuse_port, M3UA))
    return listening


@contextlib.contextmanager
def _binding(name: str, endpoint: Endpoint) -> Iterator[None]:
    """A listener that cannot open says why in eir's words (`eir.startup.cannot_listen`)."""
    try:
        yield
    except OSError as exc:
        raise cannot_listen(name, endpoint, exc) from None


def _dial(config: Config, wiring: _Wiring, tasks: _Tasks) -> None:
    """Keep a connection to every configured Diameter peer and signalling gateway."""
    node, m3ua_node = wiring.diameter, wiring.m3ua
    for peer in config.diameter.peers:

        def known(host: str = peer.host) -> bool:
            return bool(host) and node.table.is_open(host)

        tasks.start(
            _keep_connected(
                lambda: DiameterProtocol(node, Role.INITIATOR),
                peer.address,
                DIAMETER,
                config.diameter.reconnect_s,
                known,
            )
        )
    for sg in config.m3ua.peers:
        tasks.start(
            _keep_connected(
                lambda: M3uaProtocol(m3ua_node, Side.ASP), sg, M3UA, config.m3ua.reconnect_s
            )
        )


def _peer_events(queue: EventQueue, protocol: str) -> Callable[[str, bool, str], None]:
    def changed(peer: str, up: bool, detail: str) -> None:
        queue.offer(PeerChange(protocol, peer, up, detail, time.time()))

    return changed


def _observe(
    metrics: Metrics,
    node: DiameterEndpoint,
    m3ua: M3uaEndpoint,
    queue: EventQueue | None,
    mqtt: BrokerSession | None,
    lists: ListWatch,
) -> None:
    app = node.app
    tcap = m3ua.router.tcap

    def errors() -> Iterator[tuple[tuple[str, str, str], int]]:
        if app is not None:
            for code, count in app.answers.errors.items():
                yield (s13_results.PROTOCOL, "none", s13_results.label(code)), count
        for outcome, count in tcap.outcomes.items():
            yield (map_outcomes.PROTOCOL, "none", outcome), count

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


async def _share(metrics: Metrics, tell: Tell) -> None:
    while True:
        tell(MetricsSnapshot(metrics.snapshot()))
        await asyncio.sleep(1.0)


async def serve_until_signalled(serving: Serving, tell: Tell = on_stderr) -> None:
    """`serve` until SIGTERM or SIGINT: the entry points' shutdown trigger. A second signal
    while stopping (the peers' DPR) acts as if eir had no handler."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # serving alone, this process is the service's: it notifies (a supervisor does for its
    # workers)
    notifier = Notifier() if serving.worker is None else None

    def stopping() -> None:
        if notifier is not None:
            notifier.stopping()
        stop.set()
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)

    def told(message: Message) -> None:
        tell(message)
        if notifier is not None and isinstance(message, Ready):
            notifier.ready(message.status)

    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stopping)
    try:
        await serve(serving, stop, told, notifier)
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    if serving.worker is None:  # the supervisor says it once for all its workers
        say("eir: stopping")


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run(config: Config, db: str | None, reread: Callable[[], Config] | None = None) -> int:
    """Serve in this process (one worker; `eir.supervisor` runs several). Refused while
    another instance serves the store or listens on one of the ports (`eir.startup`).
    ``reread``: the configuration again, for a reload on SIGHUP."""
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
        asyncio.run(serve_until_signalled(Serving(config, store, reread=reread)))
    finally:
        store.close()
        for claim in claims:
            if claim is not None:
                claim.close()
        for fd in reversed(locks):
            os.close(fd)
    return 0
