"""``eir serve --workers N``: this process supervises N worker processes.

It reserves each listening port (so that port 0 means one free port for all), starts N worker
processes that each bind the same ports with SO_REUSEPORT and open the same LMDB environment,
prints the ready lines once every worker is listening, restarts a worker that dies, serves the
metrics endpoint as the sum of the workers' snapshots, and stops them all on SIGTERM.

SO_REUSEPORT is shared only between the workers of one supervisor: the supervisor takes the
store's serve lock and refuses ports that anyone else listens on (`eir.startup`). A worker asks
the kernel for SIGTERM when its supervisor dies (Linux's parent-death signal; elsewhere the
metrics pipe breaks), so that a killed supervisor leaves no worker answering unmanaged; and
multiprocessing's resource tracker, which `spawn` starts, exits with the last of them.

It imports no protocol stack (workers are spawned, and each imports `eir.service` itself), so
the workers' imports, the slow part of a start, run side by side.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eir.config import Config, Endpoint
from eir.observe.endpoint import http_answer
from eir.observe.metrics import render
from eir.startup import (
    claim_port,
    claim_store,
    join_store,
    open_store,
    port_in_use,
    say,
    shown,
    summary,
)

log = logging.getLogger("eir.service")


def _reserve(
    name: str, endpoint: Endpoint, claims: list[socket.socket]
) -> tuple[socket.socket, Endpoint]:
    """Bind (without listening) with SO_REUSEPORT, so that port 0 becomes one port for all;
    refused when another process listens on the port (even with SO_REUSEPORT) or another
    instance claimed it (`eir.startup.claim_port`, held in `claims` until this process ends)."""
    family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    proto = socket.IPPROTO_SCTP if endpoint.transport == "sctp" else 0
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((endpoint.host, endpoint.port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise port_in_use(name, endpoint, endpoint.port) from None
            raise
        port = sock.getsockname()[1]
        claim = claim_port(name, endpoint, port)
        if claim is not None:
            claims.append(claim)
    except BaseException:
        sock.close()
        raise
    return sock, replace(endpoint, port=port)


#: prctl(2) option: the signal this process gets when its parent dies (Linux)
_PR_SET_PDEATHSIG = 1


def _die_with(supervisor: int) -> bool:
    """SIGTERM this worker when its supervisor dies; False if it is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            log.warning("no parent-death signal: %s", os.strerror(ctypes.get_errno()))
    return os.getppid() == supervisor  # it may have died before prctl


def _worker(
    config: Config,
    db: str | None,
    index: int,
    conn: multiprocessing.connection.Connection,
    supervisor: int,
) -> None:
    import logging as _logging

    _logging.basicConfig(
        level=config.log.level.upper(),
        format=f"%(asctime)s %(levelname)s %(name)s[w{index}]: %(message)s",
    )
    if not _die_with(supervisor):
        return
    import asyncio

    from eir.service import serve

    try:
        store = open_store(config, db, create=False)
    except Exception as exc:  # reported to the supervisor, which exits with it
        conn.send(f"error: {exc}")
        return
    try:
        join_store(store.path)  # held (shared) until this worker exits
    except Exception as exc:
        store.close()
        conn.send(f"error: {exc}")
        return

    def share(snapshot: dict[str, Any]) -> None:
        try:
            conn.send(("metrics", snapshot))
        except OSError:  # the supervisor is gone (where there is no parent-death signal)
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        asyncio.run(
            serve(
                config,
                store,
                reuse_port=True,
                report=conn.send,
                dial=index == 0,
                worker=True,
                index=index,
                share=share,
            )
        )
    except OSError as exc:
        with contextlib.suppress(OSError):  # the supervisor may be gone
            conn.send(f"error: {exc.strerror or exc}")
    finally:
        store.close()
    if os.getppid() != supervisor:
        log.warning("worker %d: the supervisor (pid %d) is gone; stopped", index, supervisor)


def supervise(config: Config, db: str | None) -> int:
    store = open_store(config, db, create=True)
    lock = -1
    reserved: list[socket.socket] = []
    claims: list[socket.socket] = []
    try:
        lock = claim_store(store.path)  # held until this process exits
        endpoints: list[Endpoint] = []
        for endpoint in config.diameter.listen:
            sock, concrete = _reserve("diameter", endpoint, claims)
            reserved.append(sock)
            endpoints.append(concrete)
        m3ua_endpoints: list[Endpoint] = []
        for endpoint in config.m3ua.listen:
            sock, concrete = _reserve("m3ua", endpoint, claims)
            reserved.append(sock)
            m3ua_endpoints.append(concrete)
        if config.metrics.listen is not None:
            claim = claim_port("metrics", config.metrics.listen)
            if claim is not None:
                claims.append(claim)
        say(summary(store))
    except BaseException:
        for sock in reserved + claims:
            sock.close()
        if lock >= 0:
            os.close(lock)
        raise
    finally:
        store.close()
    config = replace(
        config,
        diameter=replace(config.diameter, listen=tuple(endpoints)),
        m3ua=replace(config.m3ua, listen=tuple(m3ua_endpoints)),
    )
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def start(
        index: int,
    ) -> tuple[multiprocessing.process.BaseProcess, multiprocessing.connection.Connection]:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_worker,
            args=(config, db, index, child, os.getpid()),
            daemon=False,
            name=f"eir-worker-{index}",
        )
        proc.start()
        child.close()
        return proc, parent

    workers = [start(i) for i in range(config.service.workers)]
    lines: list[str] = []
    snapshots: dict[int, dict[str, Any]] = {}
    http: ThreadingHTTPServer | None = None
    try:
        for index, (proc, pipe) in enumerate(workers):
            while True:
                if stopping:
                    return _stop(workers)
                if not pipe.poll(0.2):
                    if not proc.is_alive():
                        say(f"eir: worker {index} exited before it was ready")
                        _stop(workers)
                        return 1
                    continue
                try:
                    line = pipe.recv()
                except EOFError:
                    continue
                if isinstance(line, tuple):
                    snapshots[index] = line[1]
                    continue
                if line.startswith("error: "):
                    say(f"eir: {line[7:]}")
                    _stop(workers)
                    return 1
                if line == "eir: ready":
                    break
                if index == 0:
                    lines.append(line)
        for sock in reserved:
            sock.close()
        for line in lines:
            say(line)
        if config.metrics.listen is not None:
            http = _metrics_thread(config.metrics.listen, snapshots)
            say(
                f"eir: listening metrics http "
                f"{shown(config.metrics.listen.host, http.server_address[1])}"
            )
        say(f"eir: ready ({config.service.workers} workers)")
        while not stopping:
            waitables: list[Any] = [proc.sentinel for proc, _ in workers]
            waitables += [pipe for _, pipe in workers]
            multiprocessing.connection.wait(waitables, timeout=0.5)
            for index, (proc, pipe) in enumerate(workers):
                _drain_pipe(pipe, index, snapshots)
                if not proc.is_alive() and not stopping:
                    log.error("worker %d exited with %s; restarting it", index, proc.exitcode)
                    pipe.close()
                    snapshots.pop(index, None)
                    workers[index] = start(index)
        return _stop(workers)
    finally:
        if http is not None:
            http.shutdown()
            http.server_close()
        for sock in reserved:
            with contextlib.suppress(OSError):
                sock.close()
        if any(proc.is_alive() for proc, _ in workers):  # an error of ours: stop them first
            _stop(workers)
        for sock in claims:
            sock.close()
        os.close(lock)  # after the workers: the next instance must not see them


def _drain_pipe(
    pipe: multiprocessing.connection.Connection, index: int, snapshots: dict[int, dict[str, Any]]
) -> None:
    """Keep each worker's latest metrics; a worker must never block on a full pipe."""
    try:
        while pipe.poll():
            message = pipe.recv()
            if isinstance(message, tuple) and message[0] == "metrics":
                snapshots[index] = message[1]
    except (EOFError, OSError):
        pass


def _metrics_thread(where: Endpoint, snapshots: dict[int, dict[str, Any]]) -> ThreadingHTTPServer:
    """The supervisor's endpoint: the sum of its workers' latest snapshots (at most 1 s old)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            head = f"{self.command} {self.path} {self.request_version}\r\n\r\n".encode()
            self.wfile.write(http_answer(head, lambda: render(list(snapshots.values()))))

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((where.host, where.port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="eir-metrics", daemon=True).start()
    return server


def _stop(
    workers: list[
        tuple[multiprocessing.process.BaseProcess, multiprocessing.connection.Connection]
    ],
) -> int:
    say("eir: stopping")
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
