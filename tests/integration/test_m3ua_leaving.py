"""`eir serve` dialled out as an M3UA ASP over TCP, stopped with SIGTERM: what the wire shows,
captured on loopback by tshark. ASPDN, the gateway's ASPDN-ACK, then eir's FIN; never a reset.

Until issue 19 eir closed right after ASPDN: its FIN went before the ACK, which then met a
closed socket (RST over TCP, ABORT over SCTP: tests/sctp/test_sctp.py checks that one).
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from eir.sigtran import m3ua
from eir.sigtran.m3ua import Message
from tests.support.diameter import serve
from tests.support.pcap import capture, tcp_segments, tshark
from tests.support.sigtran import Gateway

pytestmark = pytest.mark.skipif(
    tshark() is None, reason="tshark is not installed (make test installs it)"
)


def _wire(path: Path, port: int) -> list[str]:
    """Each segment that carries data, a FIN or a reset: who sent it and what."""
    fields = ["tcp.srcport", "tcp.flags.fin", "tcp.flags.reset", "tcp.payload"]
    seen: list[str] = []
    for source, fin, reset, payload in tcp_segments(path, fields):
        who = "sg" if source == str(port) else "eir"
        data = bytes.fromhex(payload.replace(":", ""))
        while len(data) >= 8:
            length = int.from_bytes(data[4:8], "big")
            seen.append(f"{who} {m3ua.describe(m3ua.decode(data[:length]).kind)}")
            data = data[length:]
        if reset in ("1", "True"):
            seen.append(f"{who} RST")
        if fin in ("1", "True"):
            seen.append(f"{who} FIN")
    return seen


def test_sigterm_sends_aspdn_waits_for_the_ack_then_fin(demo_db: Path, tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = tmp_path / "asp.toml"
    config.write_text(f'[m3ua]\nreconnect_s = 1\npeers = ["tcp://127.0.0.1:{port}"]\n')
    pcap = tmp_path / "leaving.pcapng"
    with capture(f"tcp port {port}", pcap), serve(demo_db, "--config", str(config)) as served:
        listener.settimeout(30)
        sock, _ = listener.accept()
        gateway = Gateway(sock)
        gateway.handshake()
        served.proc.send_signal(signal.SIGTERM)
        aspdn = gateway.read_message()
        assert aspdn is not None and m3ua.decode(aspdn).kind == m3ua.ASPDN
        sock.sendall(m3ua.encode(Message(m3ua.ASPDN_ACK)))
        started = time.monotonic()
        assert gateway.read_message() is None  # FIN (a reset would raise)
        assert time.monotonic() - started < 5.0
        sock.close()
        assert served.proc.wait(timeout=30) == 0
    listener.close()
    wire = _wire(pcap, port)
    assert not [w for w in wire if w.endswith("RST")], wire
    tail = wire[wire.index("eir ASPDN") :]
    assert tail[:3] == ["eir ASPDN", "sg ASPDN-ACK", "eir FIN"], wire
