"""What the SCTP adapter hands pysctp: the PPID, and the stream per message (M3UA: management
on stream 0, DATA on stream 1). Kernel SCTP itself is exercised in the SCTP issue's VM."""

from __future__ import annotations

import socket
from typing import Any

from eir.framing import DIAMETER, M3UA, PPID_DIAMETER, PPID_M3UA, m3ua_stream
from eir.sigtran import m3ua
from eir.sigtran.m3ua import Message, ProtocolData
from eir.transport.sctp import pysctp_io


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
