"""`eir serve` dialled out as an M3UA ASP over TCP, stopped with SIGTERM: what the wire shows,
captured on loopback by tshark. ASPDN, the gateway's ASPDN-ACK, then eir's FIN; never a reset.

Until issue 19 eir closed right after ASPDN: its FIN went before the ACK, which then met a
closed socket (RST over TCP, ABORT over SCTP: tests/sctp/test_sctp.py checks that one).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from eir.sigtran import m3ua
from eir.sigtran.m3ua import Message
from tests.support.diameter import serve
from tests.support.pcap import tshark
from tests.support.sigtran import Gateway

pytestmark = pytest.mark.skipif(
    tshark() is None, reason="tshark is not installed (make test installs it)"
)


@contextmanager
def capture(port: int, path: Path) -> Iterator[None]:
    """tshark capturing TCP port `port` on loopback into `path` while the block runs."""
    exe = tshark()
    assert exe is not None
    proc = subprocess.Popen(
        [exe, "-i", "lo", "-f", f"tcp port {port}", "-w", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:  # it says when it captures
        seen.append(line)
        if "Capturing on" in line:
            break
    else:
        proc.wait()
        pytest.skip(f"tshark cannot capture on loopback here: {''.join(seen)[-300:]}")
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # it writes what it holds and stops
        proc.communicate(timeout=30)


def _wire(path: Path, port: int) -> list[str]:
    """Each segment that carries data, a FIN or a reset: who sent it and what."""
    exe = tshark()
    assert exe is not None
    fields = ["tcp.srcport", "tcp.flags.fin", "tcp.flags.reset", "tcp.payload"]
    out = subprocess.run(
        [exe, "-r", str(path), "-T", "fields", *(x for f in fields for x in ("-e", f))],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    seen: list[str] = []
    for line in out.splitlines():
        source, fin, reset, payload = [*line.split("\t"), "", "", ""][:4]
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
    with capture(port, pcap), serve(demo_db, "--config", str(config)) as served:
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
