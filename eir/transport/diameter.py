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

from eir.diameter.application import S13Application
from eir.diameter.dictionary import DisconnectCause
from eir.diameter.peer import (
    AnswerReceived,
    PeerConnection,
    PeerDown,
    PeerSettings,
    PeerTable,
    PeerUp,
    Role,
)

log = logging.getLogger("eir.diameter")

BATCH = 64


@dataclass
class DiameterNode:
    """What the connections of one process share."""

    settings: PeerSettings
    app: S13Application | None
    table: PeerTable
    max_connections: int = 1024
    connections: set[DiameterProtocol] = field(default_factory=set)
    on_answer: Callable[[bytes], None] | None = None
    peers_up: int = 0

    async def disconnect_all(self, timeout: float = 2.0) -> None:
        """DPR to every open peer (cause REBOOTING), then wait for them to close."""
        for proto in list(self.connections):
            proto.disconnect(DisconnectCause.REBOOTING)
        deadline = time.monotonic() + timeout
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for proto in list(self.connections):
            proto.abort()


class DiameterProtocol(asyncio.Protocol):
    def __init__(self, node: DiameterNode, role: Role = Role.RESPONDER) -> None:
        self.node = node
        self.role = role
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.conn: PeerConnection | None = None
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.closed = self.loop.create_future()

    # asyncio callbacks ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        remote = str(peer[0]) if isinstance(peer, tuple) else ""
        node = self.node
        if len(node.connections) >= node.max_connections:
            log.warning("diameter: refusing a connection from %s: %d connections open",
                        remote or "?", len(node.connections))
            transport.abort()
            return
        settings = node.settings
        if not settings.node.host_ip_addresses or settings.node.host_ip_addresses == ("",):
            local = transport.get_extra_info("sockname")
            ip = str(local[0]) if isinstance(local, tuple) else "127.0.0.1"
            settings = replace(settings, node=replace(settings.node, host_ip_addresses=(ip,)))
        self.conn = PeerConnection(
            settings,
            self.role,
            self.loop.time(),
            remote,
            node.app,
            node.table,
            hbh_seed=id(self) & 0xFFFFFF,
        )
        self.conn.wakeup = self._run
        node.connections.add(self)
        self._run()

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is None:
            return
        conn.receive_data(data, self.loop.time())
        self._run()

    def eof_received(self) -> bool | None:
        if self.conn is not None:
            self.conn.connection_lost("peer closed its side")
            self._run()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.connection_lost("transport closed" if exc is None else f"transport: {exc}")
            self._drain_events()
        self.node.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    # driving the core ---------------------------------------------------------------------------

    def send_request(self, buf: bytes) -> None:
        if self.conn is not None:
            self.conn.send_request(buf)
            self._flush()

    def disconnect(self, cause: DisconnectCause) -> None:
        if self.conn is not None:
            self.conn.disconnect(cause, self.loop.time())
            self._run()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _run(self) -> None:
        conn = self.conn
        if conn is None:
            return
        self._scheduled = False
        if conn.pending:
            conn.process(BATCH)
            if conn.pending and not self._scheduled:
                self._scheduled = True
                self.loop.call_soon(self._run)
        self._drain_events()
        self._flush()
        if conn.closed:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()
            return
        at = conn.get_timer()
        if at is not None and (self._timer_at is None or at < self._timer_at):
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = at
            self._timer = self.loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self.conn is not None:
            self.conn.handle_timer(self.loop.time())
            self._run()

    def _flush(self) -> None:
        assert self.conn is not None
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _drain_events(self) -> None:
        conn = self.conn
        assert conn is not None
        while (event := conn.next_event()) is not None:
            if isinstance(event, PeerUp):
                self.node.peers_up += 1
                log.info("diameter peer up: %s realm %s (%s)", event.origin_host,
                         event.origin_realm, conn.role.value)
            elif isinstance(event, PeerDown):
                log.info("diameter peer %s down: %s", conn.name, event.reason)
            elif isinstance(event, AnswerReceived) and self.node.on_answer is not None:
                self.node.on_answer(event.message)
