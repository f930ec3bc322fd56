"""M3UA over a stream transport (TCP or SCTP): the asyncio adapter around the sans-IO ASP state
machine (`eir.sigtran.m3ua_asp`, RFC 4666 4.3) and the SCCP router (`eir.sigtran.sccp_routing`).

`M3uaEndpoint` holds what all associations share (settings, the AS table, the router, the
admission of new connections); an `M3uaProtocol` is one association, accepted (we are the SGP)
or connected out (we are the ASP). It moves bytes and time only; every DATA is answered in the
same turn (a CheckIMEI answer is one lookup). A peer that does not read its answers stops
being read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from eir.sigtran.m3ua_as import AsTable
from eir.sigtran.m3ua_asp import (
    ASPDN_ACK_WAIT_S,
    AspConnection,
    AspState,
    Closed,
    DataReceived,
    ErrorReceived,
    M3uaSettings,
    Notified,
    Side,
    StateChanged,
)
from eir.sigtran.sccp_routing import SccpRouter
from eir.transport.sctp import LINGER_S
from eir.transport.stream import Admission, CoreAdapter

log = logging.getLogger("eir.m3ua")

#: beyond the ASP's own wait for ASPDN-ACK, in case its timer fires late on a busy loop
_SLACK_S = 0.5


@dataclass
class M3uaEndpoint:
    """What the M3UA associations of a daemon share."""

    settings: M3uaSettings
    router: SccpRouter
    table: AsTable = field(default_factory=AsTable)
    max_connections: int = 1024
    connections: set[M3uaProtocol] = field(default_factory=set)
    #: the pending pool, its share per address, and the read timeout (eir.transport.stream)
    max_pending: int = 64
    max_pending_per_address: int = 8
    read_timeout_s: float = 10.0
    admission: Admission = field(init=False)
    #: called with (peer, up, detail) when an association becomes ASP-ACTIVE or closes after
    on_peer: Callable[[str, bool, str], None] | None = None

    def __post_init__(self) -> None:
        self.admission = Admission(
            "m3ua",
            self.max_connections,
            self.max_pending,
            self.max_pending_per_address,
            self.read_timeout_s,
            self.settings.refused_source,
        )

    async def close_all(self) -> None:
        """Leave every association cleanly: where we are the ASP, ASPDN after the answers
        already queued, then wait for its ASPDN-ACK (the ASP closes by itself
        `ASPDN_ACK_WAIT_S` after without one); then close, gracefully (TCP FIN, SCTP
        SHUTDOWN: `eir.transport.sctp`)."""
        waits = [wait for proto in list(self.connections) if (wait := proto.shutdown())]
        if waits:
            await asyncio.wait(waits, timeout=ASPDN_ACK_WAIT_S + _SLACK_S)
        for proto in list(self.connections):
            proto.close()
        closing = [proto.closed for proto in list(self.connections)]
        if closing:
            await asyncio.wait(closing, timeout=LINGER_S + _SLACK_S)
        for proto in list(self.connections):
            proto.abort()
        self.admission.close()


class M3uaProtocol(CoreAdapter):
    label = "m3ua"

    def __init__(self, shared: M3uaEndpoint, side: Side = Side.SGP) -> None:
        super().__init__(shared.admission, shared.connections, side is Side.ASP)
        self.shared = shared
        self.side = side
        self.conn: AspConnection | None = None
        self._active = False
        #: done once a shutdown is over (`AspConnection.left`)
        self._left: asyncio.Future[None] | None = None

    def make_core(self, transport: asyncio.Transport) -> AspConnection:
        peer = transport.get_extra_info("peername")
        name = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"
        address = str(peer[0]) if isinstance(peer, tuple) else ""
        self.conn = AspConnection(
            self.shared.settings, self.side, self.loop.time(), self.shared.table, name, address
        )
        self.conn.wakeup = self.run
        return self.conn

    def shutdown(self) -> asyncio.Future[None] | None:
        """ASPDN if we are an ASP that is up (what is queued before goes out first); a future
        done once the ASP has `left`, or None when it already has."""
        conn = self.conn
        if conn is None or conn.closed:
            return None
        self.run()  # the answers to what was received go out before the ASPDN
        conn.shutdown(self.loop.time())
        self.run()
        if conn.left:
            return None
        self._left = self.loop.create_future()
        return self._left

    def close(self) -> None:
        """Close gracefully: over TCP our side is shut (FIN) and the connection closes when
        the peer's side does; an SCTP transport does the same with SHUTDOWN."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.conn is not None and not self.conn.closed:
            self.conn.connection_lost("eir is stopping")
            self.step()
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def step(self) -> None:
        conn = self.conn
        if conn is None:
            return
        router = self.shared.router
        while (event := conn.next_event()) is not None:
            if isinstance(event, DataReceived):
                answer = router.on_data(event, conn.name)
                if answer is not None:
                    conn.send_raw(answer)
            elif isinstance(event, StateChanged):
                self._state_changed(conn, event)
            elif isinstance(event, Closed):
                self._closed(conn, event)
            elif isinstance(event, (Notified, ErrorReceived)):
                log.info("m3ua %s: %s", conn.name, event)
        left = self._left
        if left is not None and not left.done() and conn.left:
            left.set_result(None)

    def _state_changed(self, conn: AspConnection, event: StateChanged) -> None:
        """Logged; the first ASP-ACTIVE ends the handshake and tells `on_peer`."""
        log.info("m3ua %s (%s): %s", conn.name, self.side.value, event.state.value)
        if event.state is AspState.ACTIVE and not self._active:
            if not self.handshake_done():
                return
            self._active = True
            if self.shared.on_peer is not None:
                self.shared.on_peer(conn.name, True, event.state.value)

    def _closed(self, conn: AspConnection, event: Closed) -> None:
        """Logged (refused sources throttled); an association that was active tells `on_peer`."""
        if conn.refused:  # access control: a flood must not become a log flood
            self.shared.admission.throttle.note("refused", self.remote, event.reason)
        else:
            log.log(
                logging.INFO if self._active else logging.DEBUG,
                "m3ua %s closed: %s",
                conn.name,
                event.reason,
            )
        if self._active:
            self._active = False
            if self.shared.on_peer is not None:
                self.shared.on_peer(conn.name, False, event.reason)
