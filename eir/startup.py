"""What starting ``eir serve`` needs before any protocol stack: the store opened from the
configuration, the locks that keep one instance per store and per port, the lines printed on
stderr (scripts and tests wait for them), addresses as shown in those lines.

It imports no protocol code, so that the supervisor of ``--workers N`` starts in a fraction of
a worker's time and the workers import the stacks side by side.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import sys
import time
from pathlib import Path

from eir.config import Config, Endpoint
from eir.errors import EirError
from eir.host import sctp_unavailable
from eir.logs import lifecycle
from eir.store.lmdb_store import CREATE_ADVICE, LmdbStore, MissingStoreError, has_store

#: in the store directory: held exclusively (flock) by the `eir serve` serving the store (the
#: supervisor with --workers), which writes its pid in it
SERVE_LOCK = "serve.lock"
#: in the store directory: held shared (flock) by every process answering from the store, so
#: that workers left by a killed supervisor keep the next `eir serve` from starting
WORKERS_LOCK = "workers.lock"


#: how long a start waits for the workers of a supervisor that was killed: they stop as on
#: SIGTERM (DPR, up to 2 s for the peers to go), so a service manager restarting at once is
#: not refused
ORPHANS_WAIT_S = 3.0


class InstanceError(EirError):
    """Another `eir serve`, or workers left behind by one, hold this store or a port."""


def say(line: str, level: int = logging.INFO) -> None:
    """A lifecycle line (``eir: ready``; at ERROR, why serving stops) on stderr, at once, in
    the log's style: see `eir.logs.lifecycle`."""
    lifecycle(line, level)


def open_store(config: Config, db: str | None, *, create: bool) -> LmdbStore:
    s = config.store
    return LmdbStore(
        db or s.path,
        map_size_mb=s.map_size_mb,
        max_map_size_mb=s.max_map_size_mb,
        sync=s.sync,
        create=create,
        read_snapshot_ms=s.read_snapshot_ms,
        keep_versions=config.versions.keep,
        case_source=config.cases.source,
    )


def require_store(config: Config, db: str | None, *, create: bool) -> None:
    """Refuse to serve a store that does not exist, unless ``create``: an empty store created
    at a mistyped path would answer every stolen phone white."""
    path = db or config.store.path
    if not create and not has_store(path):
        raise MissingStoreError(path, f"{CREATE_ADVICE}, or serve an empty one with --create")


def summary(store: LmdbStore) -> str:
    """``eir: serving lists from PATH (black N, ...)``, and ``, devices N, approved N`` when
    a device database or an approved list is loaded."""
    counts = store.stats(history_size=0, digest=False).per_list()
    listed = [f"{name} {count}" for name, count in sorted(counts.items())]
    devices = store.device_stats(digest=False)
    if devices.devices or devices.approved:
        listed += [f"devices {devices.devices}", f"approved {devices.approved}"]
    return f"eir: serving lists from {store.path} ({', '.join(listed) or 'no entries'})"


def shown(host: str, port: int) -> str:
    """``HOST:PORT``, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def claim_store(path: str) -> int:
    """Take the store for this `eir serve`: the descriptor of its `SERVE_LOCK`, held until the
    process exits. Refused while another instance serves the store or its workers still run."""
    fd = os.open(Path(path) / SERVE_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            pids = [int(holder)] if holder.isdigit() else _holders(Path(path) / SERVE_LOCK)
            raise InstanceError(
                f"{path}: another eir serve{_pids(pids)} is serving this store"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        workers = os.open(Path(path) / WORKERS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            _flock_within(workers, ORPHANS_WAIT_S)
        except BlockingIOError:
            pids = _holders(Path(path) / WORKERS_LOCK)
            raise InstanceError(
                f"{path}: workers of an eir serve that is gone still answer "
                f"from this store{_pids(pids)}; stop them first"
            ) from None
        finally:
            os.close(workers)  # unlocks
    except BaseException:
        os.close(fd)
        raise
    return fd


def _flock_within(fd: int, seconds: float) -> None:
    """An exclusive flock on `fd`, waiting up to `seconds` for its holders to go; raises
    BlockingIOError when they are still there."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def join_store(path: str) -> int:
    """A process that answers from the store holds `WORKERS_LOCK` shared until it exits."""
    fd = os.open(Path(path) / WORKERS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InstanceError(f"{path}: another eir serve is checking this store") from None
    return fd


def _pids(pids: list[int]) -> str:
    if not pids:
        return ""
    return f" (pid{'s' if len(pids) > 1 else ''} {', '.join(map(str, sorted(pids)))})"


def _holders(path: Path) -> list[int]:
    """The processes holding a flock on `path`, from /proc/locks (empty where there is none)."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    pids: set[int] = set()
    for line in lines:
        # "3: FLOCK  ADVISORY  READ  1234 00:2a:5678 0 EOF"; "->" lines wait for a lock
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        where = fields[5].split(":")
        if len(where) == 3 and where[2] == str(inode) and fields[4].isdigit():
            pid = int(fields[4])
            if pid > 0 and pid != os.getpid():
                pids.add(pid)
    return sorted(pids)


def claim_port(name: str, endpoint: Endpoint, port: int | None = None) -> socket.socket | None:
    """Claim a listening port for this instance until the socket returned is closed (or the
    process exits), then `check_port_free`. The claim is an abstract unix socket named after
    the port (Linux; one namespace per network namespace, like ports): two instances started
    at once both pass the probe before either listens, but only one gets the name."""
    port = endpoint.port if port is None else port
    if port == 0:  # any free port: nothing to claim, but the address must be one of ours
        check_port_free(name, endpoint, 0)
        return None
    claim: socket.socket | None = None
    if sys.platform.startswith("linux"):
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            claim.bind(f"\0eir/{endpoint.transport}/{endpoint.host}/{port}".encode())
        except OSError as exc:
            claim.close()
            if exc.errno == errno.EADDRINUSE:
                raise port_in_use(name, endpoint, port) from None
            claim = None
    try:
        check_port_free(name, endpoint, port)
    except BaseException:
        if claim is not None:
            claim.close()
        raise
    return claim


def check_port_free(name: str, endpoint: Endpoint, port: int | None = None) -> None:
    """Refuse a port that another process listens on, including the workers of another
    `eir serve` that share theirs with SO_REUSEPORT: bind it without SO_REUSEPORT (with
    SO_REUSEADDR, so that old connections in TIME_WAIT and our own reservation, bound but not
    listening, do not count). Any other bind failure (an address no interface has, a port
    below 1024 without the right) is refused here too, before anything starts: the listener
    would fail the same way (`cannot_listen`). Port 0 checks the address alone."""
    port = endpoint.port if port is None else port
    with listener_socket(name, endpoint) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((endpoint.host, port))
        except OSError as exc:
            raise cannot_listen(name, endpoint, exc, port) from None


def listener_socket(name: str, endpoint: Endpoint) -> socket.socket:
    """A socket of the endpoint's kind (TCP or SCTP; IPv4 or IPv6 as its host), not bound;
    refused with `cannot_listen` where the kernel cannot make one (no SCTP here)."""
    family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    proto = socket.IPPROTO_SCTP if endpoint.transport == "sctp" else 0
    try:
        return socket.socket(family, socket.SOCK_STREAM, proto)
    except OSError as exc:
        why = sctp_unavailable() if endpoint.transport == "sctp" else None
        raise cannot_listen(name, endpoint, OSError(exc.errno, why) if why else exc) from None


def port_in_use(name: str, endpoint: Endpoint, port: int) -> InstanceError:
    return InstanceError(
        f"{listen_failure(name, endpoint, port)}: the port is in use (another eir serve?)"
    )


def cannot_listen(
    name: str, endpoint: Endpoint, exc: OSError, port: int | None = None
) -> InstanceError:
    """Why a listener (``name``: diameter, m3ua, metrics) cannot open, one wording for every
    bind failure, alone or with ``--workers``: ``cannot listen on diameter tcp HOST:PORT:
    REASON`` (`port_in_use` for a port in use)."""
    port = endpoint.port if port is None else port
    if exc.errno == errno.EADDRINUSE:
        return port_in_use(name, endpoint, port)
    return InstanceError(f"{listen_failure(name, endpoint, port)}: {reason_of(exc)}")


def listen_failure(name: str, endpoint: Endpoint, port: int) -> str:
    return f"cannot listen on {name} {endpoint.transport} {shown(endpoint.host, port)}"


def reason_of(exc: OSError) -> str:
    """The OS's words for a bind error (``Cannot assign requested address``), also when asyncio
    wrapped them in its own (``error while attempting to bind on address (...): cannot assign
    requested address``); a reason of our own (no SCTP here) as it is."""
    said = exc.strerror or str(exc)
    if exc.errno is not None and exc.errno > 0:
        words = os.strerror(exc.errno)
        if said.lower().endswith(words.lower()):
            return words
    return said
