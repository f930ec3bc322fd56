"""What the SCTP adapter hands pysctp: the PPID, and the stream per message (M3UA: management
on stream 0, DATA on stream 1), and its graceful close. Kernel SCTP itself is exercised in the
SCTP issue's VM."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from eir.framing import DIAMETER, M3UA, PPID_DIAMETER, PPID_M3UA, m3ua_stream
from eir.sigtran import m3ua
from eir.sigtran.m3ua import Message, ProtocolData
from eir.transport.sctp import SctpTransport, pysctp_io


class FakeSk:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, int, int]] = []
        self._sock = socket.socket()

    def sock(self) -> socket.socket:
        return self._sock

    def sctp_send(self, data: bytes, ppid: int = 0, stream: int = 0, **kw: Any) -> int:
        self.sent.append((data, ppid, stream))
        return len(data)


def test_m3ua_management_on_stream_0_data_on_stream_1() -> None:
    sk = FakeSk()
    send, _recv = pysctp_io(sk, PPID_M3UA, m3ua_stream)
    up = m3ua.encode(Message(m3ua.ASPUP))
    data = m3ua.encode_data(ProtocolData(1, 2, 3, 2, 0, 0, b"x"))
    for message in M3UA.split(up + data):
        send(message)
    assert [(d, p, s) for d, p, s in sk.sent] == [(up, 3, 0), (data, 3, 1)]
    sk.sock().close()


def test_diameter_on_one_stream_with_ppid_46() -> None:
    sk = FakeSk()
    send, _recv = pysctp_io(sk, PPID_DIAMETER)
    send(b"\x01\x00\x00\x14" + bytes(16))
    assert sk.sent[0][1:] == (46, 0)
    sk.sock().close()


def test_split_keeps_a_partial_tail() -> None:
    split = DIAMETER.split
    one = b"\x01\x00\x00\x08abcd"
    assert split(one + one[:5]) == [one, one[:5]]
    assert split(b"\x01\x00\x00\x00zz") == [b"\x01\x00\x00\x00zz"]


class _Sink(asyncio.Protocol):
    def __init__(self) -> None:
        self.lost = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


async def _close_with_data_unread() -> tuple[bytes, list[bytes]]:
    """`SctpTransport` over a loopback TCP pair (the kernel here has no SCTP: TCP answers a
    close with unread data the way SCTP does, RST for ABORT). The peer's message arrives
    unread, then `close`: our side is shut first and what came is read and dropped."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    ours = socket.create_connection(listener.getsockname())
    peer, _ = listener.accept()
    listener.close()
    sink = _Sink()
    transport = SctpTransport(loop, ours, sink, ours.send, ours.recv, M3UA.split)
    await asyncio.sleep(0)  # connection_made and the reader, as the loop schedules them
    transport.pause_reading()
    aspdn_ack = m3ua.encode(Message(m3ua.ASPDN_ACK))
    peer.sendall(aspdn_ack)
    while not ours.recv(1, socket.MSG_PEEK):  # it is there, unread
        pass
    aspdn = m3ua.encode(Message(m3ua.ASPDN))
    transport.write(aspdn)
    transport.close()

    def peer_reads() -> list[bytes]:
        peer.settimeout(5)
        got = [peer.recv(65536)]
        got.append(peer.recv(65536))  # b"": FIN (a reset would raise)
        peer.close()
        return got

    got = await loop.run_in_executor(None, peer_reads)
    assert await asyncio.wait_for(sink.lost, 5) is None
    return aspdn, got


def test_close_shuts_our_side_and_reads_what_is_unread_so_no_abort() -> None:
    aspdn, got = asyncio.run(_close_with_data_unread())
    assert got == [aspdn, b""]
