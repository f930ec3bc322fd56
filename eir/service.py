"""``eir serve``: open the store, start the front-ends, run until SIGTERM or SIGINT.

One worker runs in this process. With ``--workers N`` this process becomes a supervisor: it
reserves each listening port (so that port 0 means one free port for all), starts N worker
processes that each bind the same ports with SO_REUSEPORT and open the same LMDB environment,
prints the ready lines once every worker is listening, restarts a worker that dies, and stops
them all on SIGTERM.

Every listener prints ``eir: listening diameter tcp HOST:PORT`` or ``eir: listening m3ua tcp
HOST:PORT`` (sctp for SCTP; the real port) on stderr when it is ready, then ``eir: ready``
follows; scripts and tests wait for these lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, cast

from eir import __version__
from eir.config import Config, Endpoint
from eir.diameter.application import S13Application
from eir.diameter.base import NodeIdentity
from eir.diameter.peer import AllowList, PeerSettings, PeerTable, Role
from eir.diameter.s13 import LocalIdentity
from eir.model import CheckRequest, CheckResult
from eir.policy import decide, unknown_result
from eir.sigtran.asp import M3uaSettings, Side
from eir.sigtran.m3ua import TrafficMode
from eir.sigtran.node import MapNode, SccpIdentity
from eir.sigtran.tcap import TcapServer
from eir.store.lmdb_store import LmdbStore
from eir.transport.diameter import DiameterNode, DiameterProtocol
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

log = logging.getLogger("eir.service")

Report = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def open_store(config: Config, db: str | None, *, create: bool) -> LmdbStore:
    s = config.store
    return LmdbStore(db or s.path, map_size_mb=s.map_size_mb, max_map_size_mb=s.max_map_size_mb,
                     sync=s.sync, create=create, read_snapshot_ms=s.read_snapshot_ms)


def _firmware_revision() -> int:
    parts = [int(p) if p.isdigit() else 0 for p in __version__.split(".")[:3]]
    parts += [0] * (3 - len(parts))
    return parts[0] * 10000 + parts[1] * 100 + parts[2]


def checker(config: Config, store: LmdbStore) -> Callable[[CheckRequest], CheckResult]:
    """The decision both front-ends ask for: the policy over the store's lists."""
    policy = config.policy
    lookup = store.lookup

    def check(request: CheckRequest) -> CheckResult:
        return decide(request, lookup, policy)

    return check


def build_diameter(config: Config, store: LmdbStore, now: Callable[[], float]) -> DiameterNode:
    d = config.diameter
    policy = config.policy
    check = checker(config, store)

    local = LocalIdentity(
        origin_host=d.origin_host,
        origin_realm=d.origin_realm,
        realms=frozenset(d.realms),
        vendor_id=d.vendor_id,
        product_name="eir",
        firmware_revision=_firmware_revision(),
    )
    app = S13Application(local, check, lambda: unknown_result(policy))
    settings = PeerSettings(
        node=NodeIdentity(local, d.host_ip_addresses, origin_state_id=int(time.time())),
        watchdog_s=d.watchdog_s,
        watchdog_jitter_s=2.0,
        cer_timeout_s=d.cer_timeout_s,
        max_message=d.max_message_bytes,
        max_in_flight=d.max_in_flight,
        allow=AllowList(d.allowed_hosts, d.allowed_realms, d.allowed_networks),
    )
    return DiameterNode(settings, app, PeerTable(d.origin_host, now), d.max_connections)


def build_m3ua(config: Config, store: LmdbStore) -> M3uaNode:
    m = config.m3ua
    settings = M3uaSettings(
        routing_contexts=m.routing_contexts,
        network_appearance=None if m.network_appearance < 0 else m.network_appearance,
        traffic_mode=TrafficMode.OVERRIDE if m.traffic_mode == "override"
        else TrafficMode.LOADSHARE,
        max_message=m.max_message_bytes,
    )
    identity = SccpIdentity(m.ssn, None if m.point_code < 0 else m.point_code, m.global_title)
    return M3uaNode(settings, MapNode(TcapServer(checker(config, store)), identity),
                    max_connections=m.max_connections)


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


def _shown(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _listen(factory: Callable[[], asyncio.Protocol], endpoint: Endpoint,
                  reuse_port: bool, framing: Framing) -> tuple[Any, str]:
    """Listen on `endpoint`; returns the server and its ready line (with the real port)."""
    if endpoint.transport == "sctp":
        sctp_server = await open_sctp_server(endpoint.host, endpoint.port, factory,
                                             framing.ppid, framing.split, reuse_port,
                                             stream=framing.stream)
        port = sctp_server.sockname[1]
        return sctp_server, f"eir: listening {framing.name} sctp {_shown(endpoint.host, port)}"
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, endpoint.host, endpoint.port,
                                      reuse_port=reuse_port or None, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    return server, f"eir: listening {framing.name} tcp {_shown(endpoint.host, port)}"


async def _keep_connected(factory: Callable[[], asyncio.Protocol], where: Endpoint,
                          framing: Framing, reconnect_s: float,
                          connected_already: Callable[[], bool] = lambda: False) -> None:
    """Dial `where` and dial again every `reconnect_s` after the connection is lost or cannot
    be made (Diameter's Tc, RFC 6733 2.1; an ASP's reconnection, RFC 4666 4.3.4.1)."""
    loop = asyncio.get_running_loop()
    while True:
        if not connected_already():
            try:
                if where.transport == "sctp":
                    _t, protocol = await open_sctp_connection(
                        where.host, where.port, factory, framing.ppid, framing.split,
                        stream=framing.stream)
                else:
                    _tt, protocol = await loop.create_connection(factory, where.host,
                                                                 where.port)
                closable = cast(_Closable, protocol)
                await closable.closed
                log.info("%s: connection to %s closed; retrying in %gs", framing.name, where,
                         reconnect_s)
            except OSError as exc:
                log.warning("%s: cannot reach %s: %s; retrying in %gs", framing.name, where,
                            exc.strerror or exc, reconnect_s)
        await asyncio.sleep(reconnect_s)


async def serve(config: Config, store: LmdbStore, *, reuse_port: bool = False,
                report: Report = _stderr, dial: bool = True, worker: bool = False) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    node = build_diameter(config, store, loop.time)
    m3ua_node = build_m3ua(config, store)
    servers: list[Any] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        for endpoint in config.diameter.listen:
            server, line = await _listen(lambda: DiameterProtocol(node), endpoint, reuse_port,
                                         DIAMETER)
            servers.append(server)
            report(line)
        for endpoint in config.m3ua.listen:
            server, line = await _listen(lambda: M3uaProtocol(m3ua_node), endpoint,
                                         reuse_port, M3UA)
            servers.append(server)
            report(line)
        if dial:
            for peer in config.diameter.peers:
                def known(host: str = peer.host) -> bool:
                    return bool(host) and node.table.is_open(host)

                tasks.append(asyncio.create_task(_keep_connected(
                    lambda: DiameterProtocol(node, Role.INITIATOR), peer.address, DIAMETER,
                    config.diameter.reconnect_s, known)))
            for sg in config.m3ua.peers:
                tasks.append(asyncio.create_task(_keep_connected(
                    lambda: M3uaProtocol(m3ua_node, Side.ASP), sg, M3UA,
                    config.m3ua.reconnect_s)))
        report("eir: ready")
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for task in tasks:
            task.cancel()
        for server in servers:
            server.close()
        await node.disconnect_all()
        await m3ua_node.close_all()
    if not worker:  # the supervisor says it once for all its workers
        print("eir: stopping", file=sys.stderr, flush=True)


def _summary(store: LmdbStore) -> str:
    counts = store.stats(history_size=0, digest=False).per_list()
    summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    return f"eir: serving lists from {store.path} ({summary or 'no entries'})"


def run(config: Config, db: str | None) -> int:
    if config.service.workers > 1:
        return supervise(config, db)
    store = open_store(config, db, create=True)
    try:
        _stderr(_summary(store))
        asyncio.run(serve(config, store))
    finally:
        store.close()
    return 0


# --- several worker processes ----------------------------------------------------------------


def _reserve(endpoint: Endpoint) -> tuple[socket.socket, Endpoint]:
    """Bind (without listening) with SO_REUSEPORT, so that port 0 becomes one port for all."""
    family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    proto = socket.IPPROTO_SCTP if endpoint.transport == "sctp" else 0
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((endpoint.host, endpoint.port))
    return sock, replace(endpoint, port=sock.getsockname()[1])


def _worker(config: Config, db: str | None, index: int,
            conn: multiprocessing.connection.Connection) -> None:
    import logging as _logging

    _logging.basicConfig(level=config.log.level.upper(),
                         format=f"%(asctime)s %(levelname)s %(name)s[w{index}]: %(message)s")
    try:
        store = open_store(config, db, create=False)
    except Exception as exc:  # reported to the supervisor, which exits with it
        conn.send(f"error: {exc}")
        return
    try:
        asyncio.run(serve(config, store, reuse_port=True, report=conn.send, dial=index == 0,
                          worker=True))
    except OSError as exc:
        conn.send(f"error: {exc.strerror or exc}")
    finally:
        store.close()


def supervise(config: Config, db: str | None) -> int:
    store = open_store(config, db, create=True)
    try:
        _stderr(_summary(store))
    finally:
        store.close()
    reserved: list[socket.socket] = []
    endpoints: list[Endpoint] = []
    for endpoint in config.diameter.listen:
        sock, concrete = _reserve(endpoint)
        reserved.append(sock)
        endpoints.append(concrete)
    m3ua_endpoints: list[Endpoint] = []
    for endpoint in config.m3ua.listen:
        sock, concrete = _reserve(endpoint)
        reserved.append(sock)
        m3ua_endpoints.append(concrete)
    config = replace(config, diameter=replace(config.diameter, listen=tuple(endpoints)),
                     m3ua=replace(config.m3ua, listen=tuple(m3ua_endpoints)))
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def start(index: int) -> tuple[multiprocessing.process.BaseProcess,
                                   multiprocessing.connection.Connection]:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(config, db, index, child), daemon=False,
                           name=f"eir-worker-{index}")
        proc.start()
        child.close()
        return proc, parent

    workers = [start(i) for i in range(config.service.workers)]
    lines: list[str] = []
    try:
        for index, (proc, pipe) in enumerate(workers):
            while True:
                if stopping:
                    return _stop(workers)
                if not pipe.poll(0.2):
                    if not proc.is_alive():
                        _stderr(f"eir: worker {index} exited before it was ready")
                        _stop(workers)
                        return 1
                    continue
                try:
                    line = pipe.recv()
                except EOFError:
                    continue
                if line.startswith("error: "):
                    _stderr(f"eir: {line[7:]}")
                    _stop(workers)
                    return 1
                if line == "eir: ready":
                    break
                if index == 0:
                    lines.append(line)
        for sock in reserved:
            sock.close()
        for line in lines:
            _stderr(line)
        _stderr(f"eir: ready ({config.service.workers} workers)")
        while not stopping:
            sentinels = [proc.sentinel for proc, _ in workers]
            multiprocessing.connection.wait(sentinels, timeout=0.5)
            for index, (proc, pipe) in enumerate(workers):
                if not proc.is_alive() and not stopping:
                    log.error("worker %d exited with %s; restarting it", index, proc.exitcode)
                    pipe.close()
                    workers[index] = start(index)
        return _stop(workers)
    finally:
        for sock in reserved:
            with contextlib.suppress(OSError):
                sock.close()


def _stop(workers: list[tuple[multiprocessing.process.BaseProcess,
                              multiprocessing.connection.Connection]]) -> int:
    _stderr("eir: stopping")
    for proc, _ in workers:
        if proc.is_alive() and proc.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc, _ in workers:
        proc.join(max(0.1, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()
    return 0



