"""Diameter over a stream transport: the asyncio Protocol around `eir.diameter.peer`.

It moves bytes and time only. Queued requests are answered in batches of `BATCH` per turn of
the event loop, so one peer flooding requests cannot stop the others from being answered; a
peer that does not read its answers stops being read (TCP flow control pushes back to it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from eir.diameter.dictionary import DisconnectCause
from eir.diameter.peer import (
    AnswerReceived,
    PeerConnection,
    PeerDown,
    PeerSettings,
    PeerUp,
    Role,
)
from eir.diameter.peer_table import PeerTable
from eir.diameter.s13.server import S13Server
from eir.transport.stream import Admission, CoreAdapter

log = logging.getLogger("eir.diameter")

BATCH = 64


@dataclass
class DiameterEndpoint:
    """One process's Diameter endpoint, server or client side: what its connections share
    (settings, the application, the peer table, admission, callbacks)."""

    settings: PeerSettings
    app: S13Server | None
    table: PeerTable
    max_connections: int = 1024
    connections: set[DiameterProtocol] = field(default_factory=set)
    #: the pending pool, its share per address, and the read timeout (eir.transport.stream)
    max_pending: int = 64
    max_pending_per_address: int = 8
    read_timeout_s: float = 10.0
    admission: Admission = field(init=False)
    on_answer: Callable[[bytes], None] | None = None
    peers_up: int = 0
    #: called with (peer, up, detail) when a peer's CER/CEA completes and when it goes down
    on_peer: Callable[[str, bool, str], None] | None = None

    def __post_init__(self) -> None:
        allow = self.settings.allow
        self.admission = Admission(
            "diameter",
            self.max_connections,
            self.max_pending,
            self.max_pending_per_address,
            self.read_timeout_s,
            allow.refuses_address if allow.networks else None,
        )

    def open_peers(self) -> int:
        return sum(1 for conn in self.table.by_host.values() if not conn.closed)

    async def disconnect_all(self, timeout: float = 2.0) -> None:
        """DPR to every open peer (cause REBOOTING), then wait for them to close."""
        for proto in list(self.connections):
            proto.disconnect(DisconnectCause.REBOOTING)
        deadline = time.monotonic() + timeout
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for proto in list(self.connections):
            proto.abort()
        self.admission.close()


class DiameterProtocol(CoreAdapter):
    label = "diameter"

    def __init__(self, node: DiameterEndpoint, role: Role = Role.RESPONDER) -> None:
        super().__init__(node.admission, node.connections, role is Role.INITIATOR)
        self.node = node
        self.role = role
        self.conn: PeerConnection | None = None
        self._scheduled = False
        self._up = False

    def make_core(self, transport: asyncio.Transport) -> PeerConnection:
        node = self.node
        settings = node.settings
        if not settings.node.host_ip_addresses or settings.node.host_ip_addresses == ("",):
            local = transport.get_extra_info("sockname")
            ip = str(local[0]) if isinstance(local, tuple) else "127.0.0.1"
            settings = replace(settings, node=replace(settings.node, host_ip_addresses=(ip,)))
        self.conn = PeerConnection(
            settings,
            self.role,
            self.loop.time(),
            self.remote,
            node.app,
            node.table,
            hbh_seed=id(self) & 0xFFFFFF,
        )
        self.conn.wakeup = self.run
        return self.conn

    def eof_received(self) -> bool | None:
        if self.conn is not None:
            self.conn.connection_lost("peer closed its side")
            self.run()
        return None

    def send_request(self, buf: bytes) -> None:
        if self.conn is not None:
            self.conn.send_request(buf)
            self.flush()

    def disconnect(self, cause: DisconnectCause) -> None:
        if self.conn is not None:
            self.conn.disconnect(cause, self.loop.time())
            self.run()

    def step(self) -> None:
        conn = self.conn
        if conn is None:
            return
        if conn.pending:
            conn.process(BATCH)
            if conn.pending and not self._scheduled:
                self._scheduled = True
                self.loop.call_soon(self._again)
        while (event := conn.next_event()) is not None:
            if isinstance(event, PeerUp):
                self._peer_up(conn, event)
            elif isinstance(event, PeerDown):
                self._peer_down(conn, event)
            elif isinstance(event, AnswerReceived) and self.node.on_answer is not None:
                self.node.on_answer(event.message)

    def _peer_up(self, conn: PeerConnection, event: PeerUp) -> None:
        if not self.handshake_done():
            return
        self.node.peers_up += 1
        log.info(
            "diameter peer up: %s realm %s (%s)",
            event.origin_host,
            event.origin_realm,
            conn.role.value,
        )
        self._up = True
        if self.node.on_peer is not None:
            self.node.on_peer(
                event.origin_host, True, f"{conn.role.value}, realm {event.origin_realm}"
            )

    def _peer_down(self, conn: PeerConnection, event: PeerDown) -> None:
        if self._up:
            log.info("diameter peer %s down: %s", conn.name, event.reason)
        elif event.refused:  # a flood of refused CERs: one line per address and 10 s
            self.node.admission.throttle.note("refused", self.remote, event.reason)
        else:  # closed before its CER (idle, timed out, made room): no peer going down
            log.debug("diameter connection from %s closed: %s", self.remote, event.reason)
        if self._up:
            self._up = False
            if self.node.on_peer is not None:
                self.node.on_peer(conn.name, False, event.reason)

    def _again(self) -> None:
        self._scheduled = False
        self.run()
