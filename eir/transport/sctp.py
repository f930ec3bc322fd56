"""SCTP through pysctp: one-to-one (TCP-style) sockets, a payload protocol id on every message.

asyncio has no SCTP transport, so `SctpTransport` is a small one over `loop.add_reader` /
`add_writer`. It sends each protocol message as one SCTP message, with the PPID and on the stream
of the protocol's `eir.framing.Framing` (its `split` cuts the outgoing bytes at message
boundaries). Its send and receive functions are injected: the real ones call pysctp, and tests
drive the same transport over a socketpair where the kernel has no SCTP.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from eir.host import sctp_unavailable

log = logging.getLogger("eir.transport.sctp")

READ_SIZE = 65536
HIGH_WATER = 1 << 20
#: how long a closing association reads what the peer still sends, waiting for the end of the
#: SHUTDOWN exchange, before the socket is closed anyway
LINGER_S = 1.0

Send = Callable[[bytes], int]
Recv = Callable[[int], bytes]
#: cuts outgoing bytes into SCTP messages (`eir.framing.Framing.split`)
Split = Callable[[bytes], list[bytes]]


class SctpTransport(asyncio.Transport):
    """A minimal asyncio transport over a non-blocking one-to-one SCTP socket."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.Protocol,
        send: Send,
        recv: Recv,
        split: Split,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(extra)
        self._loop = loop
        self._sock = sock
        self._protocol = protocol
        self._send = send
        self._recv = recv
        self._split = split
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._closing = False
        self._linger: asyncio.TimerHandle | None = None
        self._paused_reading = False
        self._writing_paused = False
        self._fd = sock.fileno()
        sock.setblocking(False)
        self._extra = {
            "peername": _peer(sock),
            "sockname": _name(sock),
            "socket": sock,
            **(extra or {}),
        }
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start_reading)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def _start_reading(self) -> None:
        if not self._closing and not self._paused_reading:
            self._loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = self._recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if self._closing:
                self._finish(None)
            else:
                self._fatal(exc)
            return
        if self._closing:  # shutting down: what still comes is read and dropped, then the end
            if not data:
                self._finish(None)
            return
        if not data:
            self._loop.remove_reader(self._fd)
            self._protocol.eof_received()
            self.close()
            return
        self._protocol.data_received(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        for message in self._split(bytes(data)):
            self._queue.append(message)
            self._queued += len(message)
        self._write_some()
        if self._queue:
            self._loop.add_writer(self._fd, self._on_writable)
            if self._queued > HIGH_WATER and not self._writing_paused:
                self._writing_paused = True
                self._protocol.pause_writing()

    def _write_some(self) -> None:
        while self._queue:
            message = self._queue[0]
            try:
                self._send(message)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._fatal(exc)
                return
            self._queue.popleft()
            self._queued -= len(message)

    def _on_writable(self) -> None:
        self._write_some()
        if not self._queue:
            self._loop.remove_writer(self._fd)
            if self._writing_paused:
                self._writing_paused = False
                self._protocol.resume_writing()
            if self._closing:
                self._shut()

    def can_write_eof(self) -> bool:
        return False  # `close` shuts the sending side and reads until the end itself

    def get_write_buffer_size(self) -> int:
        return self._queued

    def pause_reading(self) -> None:
        if not self._paused_reading:
            self._paused_reading = True
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if self._paused_reading:
            self._paused_reading = False
            self._start_reading()

    def is_reading(self) -> bool:
        return not self._paused_reading and not self._closing

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Graceful: the queued messages, then SCTP SHUTDOWN (`_shut`)."""
        if self._closing:
            return
        self._closing = True
        if not self._queue:
            self._shut()

    def _shut(self) -> None:
        """SHUT_WR starts the SHUTDOWN exchange. What the peer sent meanwhile is read and
        dropped until the association ends (EOF) or `LINGER_S` passed, and only then is the
        socket closed: Linux answers close() with ABORT, not SHUTDOWN, while received data
        is left unread (sctp_close), and the peer then loses what was in flight."""
        if self._linger is not None or self._sock.fileno() < 0:
            return
        self._linger = self._loop.call_later(LINGER_S, self._finish, None)
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:  # already gone (ABORT received, or never connected)
            self._loop.call_soon(self._finish, None)
            return
        self._loop.add_reader(self._fd, self._on_readable)

    def abort(self) -> None:
        self._queue.clear()
        self._closing = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._loop.call_soon(self._finish, None)

    def _fatal(self, exc: Exception) -> None:
        log.info("sctp: %s", exc)
        self._queue.clear()
        self._closing = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._loop.call_soon(self._finish, exc)

    def _finish(self, exc: Exception | None) -> None:
        if self._sock.fileno() < 0:
            return
        if self._linger is not None:
            self._linger.cancel()
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        if exc is None:
            self._drop_unread()
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._sock.close()

    def _drop_unread(self) -> None:
        """Read what is left, so that close() ends the association with SHUTDOWN."""
        for _ in range(64):
            try:
                if not self._recv(READ_SIZE):
                    return
            except OSError:  # BlockingIOError: nothing left; any other: nothing to save
                return


def _peer(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:
        return None


def _name(sock: socket.socket) -> Any:
    try:
        return sock.getsockname()
    except OSError:
        return None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def sctp_socket(host: str) -> Any:
    """A pysctp one-to-one socket (raises OSError where the kernel has no SCTP)."""
    import sctp

    return sctp.sctpsocket_tcp(_family(host))


#: the SCTP stream of every message, or a function of the message (`eir.framing.Framing.stream`)
Stream = int | Callable[[bytes], int]


def pysctp_io(sk: Any, ppid: int, stream: Stream = 0) -> tuple[Send, Recv]:
    """Send with the PPID on `stream` (a number, or a function of the message) through
    pysctp; receive data with recv()."""
    raw: socket.socket = sk.sock()

    def send(data: bytes) -> int:
        number = stream(data) if callable(stream) else stream
        sent: int = sk.sctp_send(data, ppid=ppid, stream=number)
        return sent

    return send, raw.recv


class SctpServer:
    """Accepts SCTP associations on a listening pysctp socket and wraps each in SctpTransport."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        listener: Any,
        factory: Callable[[], asyncio.Protocol],
        ppid: int,
        split: Split,
        stream: Stream = 0,
    ) -> None:
        self._loop = loop
        self._listener = listener
        self._sock: socket.socket = listener.sock()
        self._sock.setblocking(False)
        self._factory = factory
        self._ppid = ppid
        self._split = split
        self._stream = stream
        loop.add_reader(self._sock.fileno(), self._accept)

    @property
    def sockname(self) -> Any:
        return self._sock.getsockname()

    def _accept(self) -> None:
        try:
            raw, _addr = self._sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                log.error("sctp: cannot accept: %s", exc)
            return
        import sctp

        sk = sctp.sctpsocket_tcp(raw.family, raw)
        send, recv = pysctp_io(sk, self._ppid, self._stream)
        SctpTransport(self._loop, raw, self._factory(), send, recv, self._split)

    def close(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()


async def open_sctp_server(
    host: str,
    port: int,
    factory: Callable[[], asyncio.Protocol],
    ppid: int,
    split: Split,
    reuse_port: bool = False,
    stream: Stream = 0,
) -> SctpServer:
    reason = sctp_unavailable()
    if reason is not None:
        raise OSError(errno.EPROTONOSUPPORT, reason)
    listener = sctp_socket(host)
    raw: socket.socket = listener.sock()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    listener.listen(128)
    return SctpServer(asyncio.get_running_loop(), listener, factory, ppid, split, stream)


async def open_sctp_connection(
    host: str,
    port: int,
    factory: Callable[[], asyncio.Protocol],
    ppid: int,
    split: Split,
    stream: Stream = 0,
) -> tuple[SctpTransport, asyncio.Protocol]:
    reason = sctp_unavailable()
    if reason is not None:
        raise OSError(errno.EPROTONOSUPPORT, reason)
    loop = asyncio.get_running_loop()
    sk = sctp_socket(host)
    raw: socket.socket = sk.sock()
    raw.setblocking(False)
    await loop.sock_connect(raw, (host, port))
    send, recv = pysctp_io(sk, ppid, stream)
    protocol = factory()
    transport = SctpTransport(loop, raw, protocol, send, recv, split)
    return transport, protocol
