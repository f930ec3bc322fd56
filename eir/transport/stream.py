"""What the asyncio adapters of the protocol cores share: the connection limit, reading and
writing, flow control, the core's timer, and a future that is done when the connection is."""

from __future__ import annotations

import abc
import asyncio
import logging
from typing import Any, Protocol

log = logging.getLogger("eir.transport")


class Core(Protocol):
    """The sans-IO interface of `eir.diameter.peer.PeerConnection` and
    `eir.sigtran.asp.AspConnection`."""

    @property
    def closed(self) -> bool: ...

    def receive_data(self, data: bytes, now: float) -> None: ...

    def data_to_send(self) -> bytes: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def connection_lost(self, reason: str = ...) -> None: ...


class CoreAdapter(asyncio.Protocol, abc.ABC):
    """Moves bytes and time between a transport and a core; subclasses make the core and
    handle its events in `step`."""

    label = "connection"

    def __init__(self, connections: set[Any], max_connections: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.core: Core | None = None
        self.remote = ""
        self._connections = connections
        self._max_connections = max_connections
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.closed: asyncio.Future[None] = self.loop.create_future()

    @abc.abstractmethod
    def make_core(self, transport: asyncio.Transport) -> Core:
        """Make the sans-IO core for a new connection."""

    def step(self) -> None:
        """Handle the core's events and queued work (after input, a timer, or a wake-up)."""

    # asyncio callbacks --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) else ""
        if len(self._connections) >= self._max_connections:
            log.warning("%s: refusing a connection from %s: %d connections open", self.label,
                        self.remote or "?", len(self._connections))
            transport.abort()
            return
        self.core = self.make_core(transport)
        self._connections.add(self)
        self.run()

    def data_received(self, data: bytes) -> None:
        if self.core is not None:
            self.core.receive_data(data, self.loop.time())
            self.run()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.core is not None:
            self.core.connection_lost("transport closed" if exc is None else f"transport: {exc}")
            self.step()
        self._connections.discard(self)
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
