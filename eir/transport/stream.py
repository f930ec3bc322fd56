"""What the asyncio adapters of the protocol cores share: admission (the connection pools),
reading and writing, flow control, the read timeout, the core's timer, and a future that is done
when the connection is.

Admission. A connection we accept is *pending* until its handshake is done (Diameter: CER/CEA;
M3UA: ASPUP and ASPAC), then *established* and counted against `max_connections`. Pending
connections have a pool of their own (`max_pending`) with a share per source address
(`max_pending_per_address`). When the pool is full, a newcomer makes room:
* from an address within its share: the oldest pending connection of the address holding the
  most is closed, at once if that address is over its share, else once it is `EVICT_AFTER_S`
  old. So idle or half-open connections, however many, never keep a configured peer out: it
  gets its turn, then its handshake decides.
* from an address over its share: its own oldest pending connection that never sent a byte is
  closed once it is `EVICT_AFTER_S` old.
If no room could be made, the newcomer is still let in while fewer than `max_connections` are
pending (a client opening many connections at once, like eir-sim, whose handshakes are under
way), else refused; those let in past the pool that have not sent a byte `EVICT_AFTER_S` later
are closed then. Connections we dial are ours: established from the start. The handshake
timeouts of the cores bound how long a pending connection lives; a message left incomplete for
`read_timeout_s` closes its connection whatever its state (the slow-loris peer).
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from eir.transport.throttle import LogThrottle

log = logging.getLogger("eir.transport")

#: a pending connection younger than this is not closed to make room (unless its address holds
#: more than its share and the newcomer's does not)
EVICT_AFTER_S = 1.0


class Core(Protocol):
    """The sans-IO interface of `eir.diameter.peer.PeerConnection` and
    `eir.sigtran.m3ua_asp.AspConnection`."""

    @property
    def closed(self) -> bool: ...

    @property
    def buffered(self) -> int: ...

    def receive_data(self, data: bytes, now: float) -> None: ...

    def data_to_send(self) -> bytes: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def connection_lost(self, reason: str = ...) -> None: ...


class Admission:
    """The connection pools of one listener's protocol in one process (see the module's
    docstring); it decides, the adapters close."""

    def __init__(
        self,
        label: str,
        max_connections: int = 1024,
        max_pending: int = 64,
        max_pending_per_address: int = 8,
        read_timeout_s: float = 10.0,
        screen: Callable[[str], str | None] | None = None,
    ) -> None:
        self.label = label
        #: why a source address may not connect at all (None or "": it may), asked before the
        #: connection takes a slot: a refused source never displaces a pending connection
        self.screen = screen
        self.max_connections = max_connections
        self.max_pending = max_pending
        self.max_pending_per_address = max_pending_per_address
        self.read_timeout_s = read_timeout_s
        self.established: set[CoreAdapter] = set()
        #: pending connections, oldest first, with the time each was accepted
        self.pending: dict[CoreAdapter, float] = {}
        #: pending connections by source address, oldest first
        self.by_address: dict[str, dict[CoreAdapter, None]] = {}
        #: those of them that have not sent a byte yet
        self.idle: dict[str, dict[CoreAdapter, None]] = {}
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0
        self.throttle = LogThrottle(log, label)
        self._sweep: asyncio.TimerHandle | None = None

    def screened(self, address: str) -> bool:
        """True when `address` may connect; else the refusal is counted and logged."""
        reason = self.screen(address) if self.screen is not None else None
        if not reason:
            return True
        self._refuse_address(address, reason)
        return False

    def admit(self, conn: CoreAdapter, now: float, outbound: bool = False) -> bool:
        """Take `conn` into a pool, closing an older pending connection to make room if need
        be; False: refused (the caller closes it)."""
        if outbound:
            if len(self.established) >= self.max_connections:
                return self._refuse(conn, f"{len(self.established)} connections open")
            self.established.add(conn)
            return True
        address = conn.remote
        mine = self.by_address.get(address)
        count = len(mine) if mine else 0
        share = self.max_pending_per_address
        if len(self.pending) >= self.max_pending:  # room is needed
            if count < share:  # the address holding the most yields to one within its share
                holder = max(self.by_address.values(), key=len)
                victim = next(iter(holder))
                if len(holder) > share or now - self.pending[victim] >= EVICT_AFTER_S:
                    self._evict(victim, "pending pool full")
            else:  # its own oldest connection that never sent a byte, once stale
                idle = self.idle.get(address)
                if idle:
                    victim = next(iter(idle))
                    if now - self.pending[victim] >= EVICT_AFTER_S:
                        self._evict(victim, "pending per address full")
            if len(self.pending) >= max(self.max_pending, self.max_connections):
                return self._refuse(conn, "pending pool full")
            # else a burst of connections still busy with their handshake: let in beyond the
            # pool, bounded by max_connections; those that stay idle are swept out
            if self._sweep is None:
                self._sweep = asyncio.get_running_loop().call_later(EVICT_AFTER_S, self.sweep)
        self.pending[conn] = now
        self.by_address.setdefault(address, {})[conn] = None
        self.idle.setdefault(address, {})[conn] = None
        return True

    def sweep(self) -> None:
        """Close the pending connections past the pool that have not sent a byte in
        `EVICT_AFTER_S`, oldest first (a flood of idle connections let in as a burst)."""
        self._sweep = None
        now = asyncio.get_running_loop().time()
        for conn, since in list(self.pending.items()):
            if len(self.pending) <= self.max_pending or now - since < EVICT_AFTER_S:
                break
            if conn.remote in self.idle and conn in self.idle[conn.remote]:
                self.evicted += 1
                self._forget(conn)
                self.throttle.note("closed", conn.remote, "idle past the pending pool")
                conn.close_now("idle past the pending pool")
        if len(self.pending) > self.max_pending and self.idle:
            self._sweep = asyncio.get_running_loop().call_later(EVICT_AFTER_S, self.sweep)

    def close(self) -> None:
        """Stop the sweep and log the counts not logged yet (the process is stopping)."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        self.throttle.close()

    def engaged(self, conn: CoreAdapter) -> None:
        """`conn` sent its first bytes: a burst of those from one address is not thinned."""
        _drop(self.idle, conn)

    def established_now(self, conn: CoreAdapter) -> bool:
        """`conn` finished its handshake: from the pending pool to the established one; False:
        that one is full (the caller closes it)."""
        if conn in self.established:
            return True
        self._forget(conn)
        if len(self.established) >= self.max_connections:
            self._refuse(conn, f"{len(self.established)} connections established")
            return False
        self.established.add(conn)
        return True

    def leave(self, conn: CoreAdapter) -> None:
        self.established.discard(conn)
        self._forget(conn)

    def _forget(self, conn: CoreAdapter) -> None:
        if self.pending.pop(conn, None) is None:
            return
        _drop(self.by_address, conn)
        _drop(self.idle, conn)

    def _refuse(self, conn: CoreAdapter, reason: str) -> bool:
        return self._refuse_address(conn.remote, reason)

    def _refuse_address(self, address: str, reason: str) -> bool:
        self.refused += 1
        self.throttle.note("refused", address, reason)
        return False

    def _evict(self, conn: CoreAdapter, reason: str) -> None:
        self.evicted += 1
        self._forget(conn)
        self.throttle.note("closed", conn.remote, f"the oldest pending, to make room: {reason}")
        conn.close_now(f"closed to make room for a new connection ({reason})")


def _drop(index: dict[str, dict[CoreAdapter, None]], conn: CoreAdapter) -> None:
    mine = index.get(conn.remote)
    if mine is not None:
        mine.pop(conn, None)
        if not mine:
            del index[conn.remote]


class CoreAdapter(asyncio.Protocol, abc.ABC):
    """Moves bytes and time between a transport and a core; subclasses make the core and
    handle its events in `step`."""

    label = "connection"

    def __init__(self, admission: Admission, connections: set[Any], outbound: bool = False) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.core: Core | None = None
        self.remote = ""
        self.admission = admission
        self.outbound = outbound
        self._connections = connections
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        #: when the message the core holds incomplete began (None: none held)
        self._partial_since: float | None = None
        self._read_timer: asyncio.TimerHandle | None = None
        self._reading = True
        self._idle = True  # not a byte received yet
        self.closed: asyncio.Future[None] = self.loop.create_future()

    @abc.abstractmethod
    def make_core(self, transport: asyncio.Transport) -> Core:
        """Make the sans-IO core for a new connection."""

    def step(self) -> None:
        """Handle the core's events and queued work (after input, a timer, or a wake-up)."""

    def handshake_done(self) -> bool:
        """The subclass saw the handshake complete: established now if there is room, else
        closed (False)."""
        if self.admission.established_now(self):
            return True
        self.close_now("too many established connections")
        return False

    def close_now(self, reason: str) -> None:
        """Close at once (refused, evicted, timed out): the core is told, the transport
        aborted."""
        if self.core is not None and not self.core.closed:
            self.core.connection_lost(reason)
            self.step()
        self.admission.leave(self)
        self.abort()

    # asyncio callbacks --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) else ""
        if not self.outbound and not self.admission.screened(self.remote):
            transport.abort()
            return
        if not self.admission.admit(self, self.loop.time(), self.outbound):
            transport.abort()
            return
        self.core = self.make_core(transport)
        self._connections.add(self)
        self.run()

    def data_received(self, data: bytes) -> None:
        core = self.core
        if core is None:
            return
        now = self.loop.time()
        if self._idle:
            self._idle = False
            self.admission.engaged(self)
        core.receive_data(data, now)
        held = core.buffered
        if not held:
            self._partial_since = None
        elif self._partial_since is None or held <= len(data):
            # a message began in this read (held no more than it brought: any message held
            # before was completed by it)
            self._partial_since = now
            self._arm_read_timer()
        self.run()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.core is not None:
            self.core.connection_lost("transport closed" if exc is None else f"transport: {exc}")
            self.step()
        self._connections.discard(self)
        self.admission.leave(self)
        if self._timer is not None:
            self._timer.cancel()
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()
            self._reading = False  # the peer is not slow: we stopped reading it

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()
            self._reading = True
            if self._partial_since is not None:
                self._partial_since = self.loop.time()
                self._arm_read_timer()

    # driving the core ---------------------------------------------------------------------------

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def flush(self) -> None:
        if self.core is None:
            return
        data = self.core.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def run(self) -> None:
        core = self.core
        if core is None:
            return
        self.step()
        self.flush()
        if core.closed:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()
            return
        at = core.get_timer()
        if at is not None and (self._timer_at is None or at < self._timer_at):
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = at
            self._timer = self.loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self.core is not None:
            self.core.handle_timer(self.loop.time())
            self.run()

    def _arm_read_timer(self) -> None:
        if self._read_timer is None and self._partial_since is not None:
            self._read_timer = self.loop.call_at(
                self._partial_since + self.admission.read_timeout_s, self._on_read_timeout
            )

    def _on_read_timeout(self) -> None:
        self._read_timer = None
        since = self._partial_since
        if since is None or self.core is None or self.core.closed:
            return
        if not self._reading:
            return  # we stopped reading it: resume_writing starts the wait again
        limit = self.admission.read_timeout_s
        if self.loop.time() < since + limit:
            self._arm_read_timer()  # another message was begun since
            return
        self.admission.timed_out += 1
        self.admission.throttle.note("closed", self.remote, f"a message incomplete for {limit:g} s")
        self.close_now(f"a message incomplete for {limit:g} s")
