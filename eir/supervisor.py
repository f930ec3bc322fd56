"""``eir serve --workers N``: this process supervises N worker processes.

It reserves each listening port (so that port 0 means one free port for all), starts N worker
processes that each bind the same ports with SO_REUSEPORT and open the same LMDB environment,
prints the ready lines once every worker is listening, restarts a worker that dies, serves the
metrics endpoint as the sum of the workers' snapshots, and stops them all on SIGTERM. It is the
service's main process: it notifies the service manager (`eir.notify`) once every worker is
ready, and on SIGHUP re-reads the configuration, says what changed (`eir.reload`) and forwards
the signal to the workers, which re-read it and apply it without a word.

SO_REUSEPORT is shared only between the workers of one supervisor: the supervisor takes the
store's serve lock and refuses ports that anyone else listens on (`eir.startup`). A worker asks
the kernel for SIGTERM when its supervisor dies (Linux's parent-death signal; elsewhere the
pipe breaks), so that a killed supervisor leaves no worker answering unmanaged; and
multiprocessing's resource tracker, which `spawn` starts, exits with the last of them.

Workers talk to the supervisor through typed messages on a pipe (`eir.channel`): their
listeners, ready, their metrics every second, or why they cannot serve.

It imports no protocol stack (workers are spawned, and each imports `eir.service` itself), so
the workers' imports, the slow part of a start, run side by side.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from http.server import ThreadingHTTPServer
from typing import Any

from eir import logs
from eir.channel import Failed, Listening, Message, MetricsSnapshot, Ready, Tell
from eir.config import Config, Endpoint
from eir.errors import EirError
from eir.notify import Notifier
from eir.observe.endpoint import serve_metrics_in_thread
from eir.observe.metrics import render
from eir.reload import Reloader
from eir.reload import status as reload_status
from eir.startup import (
    cannot_listen,
    claim_port,
    claim_store,
    join_store,
    listener_socket,
    open_store,
    say,
    summary,
)

log = logging.getLogger("eir.service")


def _reserve(
    name: str, endpoint: Endpoint, claims: list[socket.socket]
) -> tuple[socket.socket, Endpoint]:
    """Bind (without listening) with SO_REUSEPORT, so that port 0 becomes one port for all;
    refused when another process listens on the port (even with SO_REUSEPORT) or another
    instance claimed it (`eir.startup.claim_port`, held in `claims` until this process ends)."""
    sock = listener_socket(name, endpoint)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((endpoint.host, endpoint.port))
        except OSError as exc:
            raise cannot_listen(name, endpoint, exc) from None
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
    reread: Callable[[], Config] | None = None,
) -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until it serves: then a reload
    logs.setup(config.log.level, config.log.format, worker=index)
    if not _die_with(supervisor):
        return
    import asyncio

    from eir.service import Serving, serve_until_signalled

    try:
        store = open_store(config, db, create=False)
    except Exception as exc:  # noqa: BLE001
        # whatever keeps the store from opening (LMDB, the OS, our own checks) is told to the
        # supervisor, which says it and exits: else it would only see the worker exit
        conn.send(Failed(str(exc)))
        return
    try:
        join_store(store.path)  # held (shared) until this worker exits
    except Exception as exc:  # noqa: BLE001
        # as above: whatever it is, the supervisor says why and exits
        store.close()
        conn.send(Failed(str(exc)))
        return
    try:
        serving = Serving(config, store, worker=index, reread=reread)
        asyncio.run(serve_until_signalled(serving, _teller(conn)))
    except (EirError, OSError) as exc:  # a listener that cannot open: eir's words for it
        reason = str(exc) if isinstance(exc, EirError) else str(exc.strerror or exc)
        with contextlib.suppress(OSError):  # the supervisor may be gone
            conn.send(Failed(reason))
    finally:
        store.close()
    if os.getppid() != supervisor:
        log.warning("worker %d: the supervisor (pid %d) is gone; stopped", index, supervisor)


def _teller(conn: multiprocessing.connection.Connection) -> Tell:
    """A worker's messages, onto the pipe to its supervisor."""

    def tell(message: Message) -> None:
        if not isinstance(message, MetricsSnapshot):
            conn.send(message)
            return
        try:
            conn.send(message)
        except OSError:  # the supervisor is gone (where there is no parent-death signal)
            os.kill(os.getpid(), signal.SIGTERM)

    return tell


@dataclass(frozen=True)
class _Reservation:
    """What the supervisor holds while its workers serve: the store's serve lock, the bound
    sockets that fix each port until the workers listen, the port claims, and the
    configuration with the real ports."""

    lock: int
    sockets: list[socket.socket]
    claims: list[socket.socket]
    config: Config

    def release(self) -> None:
        """The claims and the lock: after the workers, the next instance must not see them."""
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
        for sock in self.claims:
            sock.close()
        os.close(self.lock)


def _reserve_all(config: Config, db: str | None) -> _Reservation:
    """Take the store's serve lock and reserve every listening port; say the store's summary."""
    store = open_store(config, db, create=True)
    lock = -1
    reserved: list[socket.socket] = []
    claims: list[socket.socket] = []
    try:
        lock = claim_store(store.path)  # held until this process exits
        diameter = _reserve_each("diameter", config.diameter.listen, reserved, claims)
        m3ua = _reserve_each("m3ua", config.m3ua.listen, reserved, claims)
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
    concrete = replace(
        config,
        diameter=replace(config.diameter, listen=diameter),
        m3ua=replace(config.m3ua, listen=m3ua),
    )
    return _Reservation(lock, reserved, claims, concrete)


def _reserve_each(
    name: str,
    endpoints: Iterable[Endpoint],
    reserved: list[socket.socket],
    claims: list[socket.socket],
) -> tuple[Endpoint, ...]:
    concrete: list[Endpoint] = []
    for endpoint in endpoints:
        sock, where = _reserve(name, endpoint, claims)
        reserved.append(sock)
        concrete.append(where)
    return tuple(concrete)


class _StopFlag:
    """Set by SIGTERM or SIGINT (``set``), or SIGHUP (``reload``); the supervisor looks at them
    between waits. STOPPING is notified at once."""

    def __init__(self, notifier: Notifier) -> None:
        self.set = False
        self.reload = False
        self.notifier = notifier
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_signal(self, signum: int, frame: object) -> None:
        if not self.set:
            self.notifier.stopping()
        self.set = True

    def _on_reload(self, signum: int, frame: object) -> None:
        self.reload = True


Worker = tuple[multiprocessing.process.BaseProcess, multiprocessing.connection.Connection]


class _Workers:
    """The worker processes: started, waited for, restarted when one dies, stopped; and the
    latest metrics snapshot of each."""

    def __init__(
        self, config: Config, db: str | None, reread: Callable[[], Config] | None = None
    ) -> None:
        self.config = config
        self.db = db
        self.reread = reread
        self.ctx = multiprocessing.get_context("spawn")
        self.running: list[Worker] = []
        self.snapshots: dict[int, dict[str, Any]] = {}

    def start_all(self) -> None:
        self.running = [self._start(i) for i in range(self.config.service.workers)]

    def _start(self, index: int) -> Worker:
        parent, child = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(
            target=_worker,
            args=(self.config, self.db, index, child, os.getpid(), self.reread),
            daemon=False,
            name=f"eir-worker-{index}",
        )
        proc.start()
        child.close()
        return proc, parent

    def wait_ready(self, stop: _StopFlag) -> tuple[Listening, ...] | int:
        """Every worker's `Ready`: the first one's listeners; or the exit code when a signal
        came first, or a worker failed (the workers are stopped then)."""
        listening: tuple[Listening, ...] = ()
        for index, (proc, pipe) in enumerate(self.running):
            ready = self._wait_one(index, proc, pipe, stop)
            if isinstance(ready, int):
                return ready
            if index == 0:
                listening = ready.listening
        return listening

    def _wait_one(
        self,
        index: int,
        proc: multiprocessing.process.BaseProcess,
        pipe: multiprocessing.connection.Connection,
        stop: _StopFlag,
    ) -> Ready | int:
        while True:
            if stop.set:
                return self.stop()
            message = _receive(pipe, 0.2)
            if message is None:
                if not proc.is_alive():
                    say(f"eir: worker {index} exited before it was ready", logging.ERROR)
                    self.stop()
                    return 1
            elif isinstance(message, MetricsSnapshot):
                self.snapshots[index] = message.snapshot
            elif isinstance(message, Failed):
                say(f"eir: {message.reason}", logging.ERROR)
                self.stop()
                return 1
            elif isinstance(message, Ready):
                return message

    def watch(self, stop: _StopFlag, reload: Callable[[], None]) -> None:
        """Keep the workers' metrics and restart a worker that dies, until a signal; ``reload``
        on SIGHUP."""
        while not stop.set:
            if stop.reload:
                stop.reload = False
                reload()
            waitables: list[Any] = [proc.sentinel for proc, _ in self.running]
            waitables += [pipe for _, pipe in self.running]
            multiprocessing.connection.wait(waitables, timeout=0.5)
            for index, (proc, pipe) in enumerate(self.running):
                self._drain(index, pipe)
                if not proc.is_alive() and not stop.set:
                    log.error("worker %d exited with %s; restarting it", index, proc.exitcode)
                    pipe.close()
                    self.snapshots.pop(index, None)
                    self.running[index] = self._start(index)

    def _drain(self, index: int, pipe: multiprocessing.connection.Connection) -> None:
        """Keep a worker's latest metrics; a worker must never block on a full pipe."""
        try:
            while pipe.poll():
                message = pipe.recv()
                if isinstance(message, MetricsSnapshot):
                    self.snapshots[index] = message.snapshot
        except (EOFError, OSError):
            pass

    def signal_all(self, signum: int) -> None:
        for proc, _ in self.running:
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signum)

    def pids(self) -> dict[str, int]:
        """The running workers' pids by index."""
        return {str(i): p.pid for i, (p, _) in enumerate(list(self.running)) if p.pid is not None}

    def alive(self) -> bool:
        return any(proc.is_alive() for proc, _ in self.running)

    def stop(self) -> int:
        say("eir: stopping")
        for proc, _ in self.running:
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc, _ in self.running:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
        return 0


def _receive(pipe: multiprocessing.connection.Connection, timeout: float) -> Message | None:
    """The next message, or None after ``timeout`` or when the worker closed its end."""
    try:
        if pipe.poll(timeout):
            message: Message = pipe.recv()
            return message
    except EOFError:
        pass
    return None


def supervise(config: Config, db: str | None, reread: Callable[[], Config] | None = None) -> int:
    held = _reserve_all(config, db)
    base, config = config, held.config
    notifier = Notifier()
    stop = _StopFlag(notifier)
    workers = _Workers(config, db, reread)
    http: ThreadingHTTPServer | None = None
    try:
        workers.start_all()
        ready = workers.wait_ready(stop)
        if isinstance(ready, int):
            return ready
        for sock in held.sockets:
            sock.close()
        for where in ready:
            say(where.line)
        if config.metrics.listen is not None:
            http, metrics = _serve_metrics(config.metrics.listen, workers)
            ready = (metrics, *ready)  # first, as a process serving alone lists it
        say(f"eir: ready ({config.service.workers} workers)")
        notifier.ready(f"{Ready(ready).status} ({config.service.workers} workers)")
        workers.watch(stop, _reload_all(base, config, reread, workers, notifier))
        return workers.stop()
    finally:
        if http is not None:
            http.shutdown()
            http.server_close()
        if workers.alive():  # an error of ours: stop them first
            workers.stop()
        held.release()


def _reload_all(
    base: Config,
    running: Config,
    reread: Callable[[], Config] | None,
    workers: _Workers,
    notifier: Notifier,
) -> Callable[[], None]:
    """SIGHUP: re-read, say what changed, apply the log level here and let the workers apply
    the rest (they re-read the file themselves)."""

    def apply(config: Config) -> None:
        logging.getLogger().setLevel(config.log.level.upper())

    reloader = None if reread is None else Reloader(base, reread, apply, running)

    def reload() -> None:
        if reloader is None:
            return
        notifier.reloading()
        failure = reloader.reload()
        if failure is None:
            workers.config = reloader.running  # what a worker restarted later starts with
            workers.signal_all(signal.SIGHUP)
        notifier.ready(reload_status(failure))

    return reload


def _serve_metrics(where: Endpoint, workers: _Workers) -> tuple[ThreadingHTTPServer, Listening]:
    """The supervisor's endpoint: the sum of its workers' latest snapshots (at most 1 s old),
    its own ``process_*`` and each worker's (label ``worker``); said, and where it listens."""

    def body() -> bytes:
        return render(list(workers.snapshots.values()), workers.pids())

    try:
        server = serve_metrics_in_thread(where.host, where.port, body)
    except OSError as exc:
        raise cannot_listen("metrics", where, exc) from None
    listening = Listening("metrics", "http", where.host, int(server.server_address[1]))
    say(listening.line)
    return server, listening
