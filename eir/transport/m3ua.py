"""M3UA over a stream transport: the asyncio Protocol around `eir.sigtran.asp` and the MAP node.

It moves bytes and time only; every DATA is answered in the same turn (a CheckIMEI answer is
one lookup). A peer that does not read its answers stops being read.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from eir.sigtran.asp import (
    AspConnection,
    AsTable,
    Closed,
    DataReceived,
    ErrorReceived,
    M3uaSettings,
    Notified,
    Side,
    StateChanged,
)
from eir.sigtran.node import MapNode

log = logging.getLogger("eir.m3ua")


@dataclass
class M3uaNode:
    settings: M3uaSettings
    node: MapNode
    table: AsTable = field(default_factory=AsTable)
    max_connections: int = 1024
    connections: set[M3uaProtocol] = field(default_factory=set)

    async def close_all(self, timeout: float = 2.0) -> None:
        for proto in list(self.connections):
            proto.shutdown()
        await asyncio.sleep(0)
        for proto in list(self.connections):
            proto.close()


class M3uaProtocol(asyncio.Protocol):
    def __init__(self, shared: M3uaNode, side: Side = Side.SGP) -> None:
        self.shared = shared
        self.side = side
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.conn: AspConnection | None = None
        self.peer = ""
        self._timer: asyncio.TimerHandle | None = None
        self.closed = self.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peername = transport.get_extra_info("peername")
        self.peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else "?"
        shared = self.shared
        if len(shared.connections) >= shared.max_connections:
            log.warning("m3ua: refusing %s: %d connections open", self.peer,
                        len(shared.connections))
            transport.abort()
            return
        self.conn = AspConnection(shared.settings, self.side, self.loop.time(), shared.table,
                                  self.peer)
        self.conn.wakeup = self._run
        shared.connections.add(self)
        self._run()

    def data_received(self, data: bytes) -> None:
        if self.conn is not None:
            self.conn.receive_data(data, self.loop.time())
            self._run()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.connection_lost("transport closed" if exc is None else str(exc))
            self._drain()
        self.shared.connections.discard(self)
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

    def shutdown(self) -> None:
        if self.conn is not None:
            self.conn.shutdown()
            self._run()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _run(self) -> None:
        conn = self.conn
        if conn is None:
            return
        self._drain()
        data = conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        if conn.closed:
            if self.transport is not None:
                self.transport.close()
            return
        at = conn.get_timer()
        if at is not None and self._timer is None:
            self._timer = self.loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.conn is not None:
            self.conn.handle_timer(self.loop.time())
            self._run()

    def _drain(self) -> None:
        conn = self.conn
        assert conn is not None
        node = self.shared.node
        while (event := conn.next_event()) is not None:
            if isinstance(event, DataReceived):
                answer = node.on_data(event, self.peer)
                if answer is not None:
                    conn.send_raw(answer)
            elif isinstance(event, StateChanged):
                log.info("m3ua %s (%s): %s", self.peer, self.side.value, event.state.value)
            elif isinstance(event, Closed):
                log.info("m3ua %s closed: %s", self.peer, event.reason)
            elif isinstance(event, (Notified, ErrorReceived)):
                log.info("m3ua %s: %s", self.peer, event)
