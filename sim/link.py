"""The simulator's sockets: non-blocking TCP, or SCTP through pysctp (one message per PDU, with
the PPID and on the stream the protocol's `eir.framing.Framing` says: the daemon's own rules).

The daemon's own SCTP adapter lives in `eir.transport`, which the simulator does not use (it
must stay a client that could face any EIR); this is the few lines a client needs.
"""

from __future__ import annotations

import contextlib
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eir.framing import DIAMETER, Framing
from eir.host import sctp_unavailable

#: stop queueing requests on a connection holding this many unsent bytes
HIGH_WATER = 4 << 20
READ_SIZE = 1 << 18


@dataclass(frozen=True)
class Target:
    transport: str  # tcp or sctp
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}://{host}:{self.port}"


class TargetError(ValueError):
    pass


def parse_target(text: str) -> Target:
    """``[tcp://|sctp://]HOST:PORT``, IPv6 hosts in brackets."""
    transport = "tcp"
    rest = text
    if "://" in text:
        transport, rest = text.split("://", 1)
        if transport not in ("tcp", "sctp"):
            raise TargetError(f"{text!r}: the transport is tcp:// or sctp://")
    if rest.startswith("["):
        host, sep, port = rest[1:].partition("]:")
    else:
        host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TargetError(f"{text!r}: expected [tcp://|sctp://]HOST:PORT")
    return Target(transport, host, int(port))


class Link:
    """A connected, non-blocking socket. ``send`` queues; ``flush`` writes what the kernel
    takes. For SCTP, `send_message` (injected) sends one PDU with its PPID and stream."""

    def __init__(
        self,
        sock: socket.socket,
        send_message: Callable[[bytes], int] | None = None,
        framing: Framing = DIAMETER,
    ) -> None:
        self.sock = sock
        self._send_message = send_message
        self._framing = framing
        self._out: deque[bytes] = deque()
        self.pending = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def congested(self) -> bool:
        return self.pending >= HIGH_WATER

    def send(self, data: bytes) -> None:
        if not data:
            return
        if self._send_message is None:
            self._out.append(data)
        else:
            self._out.extend(self._framing.split(data))
        self.pending += len(data)
        self.flush()

    def flush(self) -> bool:
        """Write what the kernel takes; True when nothing is left."""
        out = self._out
        try:
            if self._send_message is None:
                while out:
                    if len(out) > 1:
                        joined = b"".join(out)
                        out.clear()
                        out.append(joined)
                    sent = self.sock.send(out[0])
                    self.pending -= sent
                    if sent < len(out[0]):
                        out[0] = out[0][sent:]
                        return False
                    out.popleft()
            else:
                while out:
                    self._send_message(out[0])  # one SCTP message: all of it or EAGAIN
                    self.pending -= len(out.popleft())
        except (BlockingIOError, InterruptedError):
            return False
        return True

    def recv(self) -> bytes:
        """What arrived (b"" when the peer closed); BlockingIOError when nothing did."""
        return self.sock.recv(READ_SIZE)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def connect(
    target: Target,
    framing: Framing,
    timeout: float = 10.0,
    local: tuple[str, ...] = (),
) -> Link:
    """Connect to `target`; raises OSError with the reason."""
    if target.transport == "tcp":
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return Link(sock, None, framing)
    reason = sctp_unavailable()
    if reason is not None:
        raise OSError(reason)
    import sctp

    family = socket.AF_INET6 if ":" in target.host else socket.AF_INET
    sk: Any = sctp.sctpsocket_tcp(family)
    if local:
        sk.bindx([(address, 0) for address in local])
    raw: socket.socket = sk.sock()
    raw.settimeout(timeout)
    sk.connect((target.host, target.port))
    raw.setblocking(False)
    ppid = framing.ppid
    stream = framing.stream

    def send_message(message: bytes) -> int:
        sent: int = sk.sctp_send(message, ppid=ppid, stream=stream(message))
        return sent

    link = Link(raw, send_message, framing)
    link.keep = sk  # type: ignore[attr-defined]  # the pysctp wrapper owns the socket
    return link
