"""pcap files of what we send (TCP or SCTP over IPv4 over Ethernet) and tshark's verdict; live
captures on loopback (`capture`)."""

from __future__ import annotations

import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def write_pcap(
    path: Path,
    payloads: list[bytes],
    port: int = 3868,
    *,
    sctp_ppid: int | None = None,
    stream: int = 1,
) -> None:
    """Each payload as one TCP segment (or, with `sctp_ppid`, one SCTP DATA chunk on `stream`)
    to `port` over IPv4 over Ethernet (linktype 1). Checksums are not computed: tshark does
    not verify them by default."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    seq = 1
    for i, payload in enumerate(payloads):
        if sctp_ppid is None:
            l4 = struct.pack(">HHIIBBHHH", 40000, port, seq, 1, 5 << 4, 0x18, 65535, 0, 0)
            l4 += payload
            seq += len(payload)
            proto = 6
        else:
            chunk_len = 16 + len(payload)
            chunk = (
                struct.pack(">BBHIHHI", 0, 3, chunk_len, seq, stream, i & 0xFFFF, sctp_ppid)
                + payload
                + bytes(-chunk_len % 4)
            )
            l4 = struct.pack(">HHII", 40000, port, 1, 0) + chunk
            seq += 1
            proto = 132
        ip = struct.pack(
            ">BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(l4),
            i & 0xFFFF,
            0,
            64,
            proto,
            0,
            bytes([10, 0, 0, 1]),
            bytes([10, 0, 0, 2]),
        )
        ip = ip[:10] + struct.pack(">H", _ip_checksum(ip)) + ip[12:]
        frame = bytes(6) + bytes([0, 0, 0, 0, 0, 1]) + b"\x08\x00" + ip + l4
        out += struct.pack("<IIII", i, 0, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))


def _ip_checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(">10H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tshark() -> str | None:
    return shutil.which("tshark")


def tshark_problems(path: Path, protocol: str = "diameter") -> tuple[str, list[str]]:
    """tshark's verbose dissection and its malformed / expert-warning lines."""
    exe = tshark()
    assert exe is not None
    proc = subprocess.run(
        [exe, "-r", str(path), "-V", "-o", "tcp.check_checksum:FALSE"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    text = proc.stdout
    bad = [
        line.strip()
        for line in text.splitlines()
        if "Malformed" in line or "[Expert Info (Warning" in line or "[Expert Info (Error" in line
    ]
    if proc.returncode != 0:
        bad.append(f"tshark exit {proc.returncode}: {proc.stderr.strip()}")
    if protocol not in text.lower():
        bad.append(f"tshark did not dissect {protocol}")
    return text, bad


class LiveCapture:
    """tshark capturing on loopback into a file: `start` returns once a probe datagram sent
    after it began shows in its output, `mark` once a probe sent now does (so every packet
    sent before it is in the file); the probes are UDP to a port of ours, left out by
    `tcp_segments`'s filter."""

    def __init__(self, proc: subprocess.Popen[str], probe: socket.socket, log: Path) -> None:
        self.proc = proc
        self.probe = probe
        self.log = log
        self.seen: list[str] = []
        self.changed = threading.Condition()
        self.sent = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:  # a line a packet: udp.payload (hex), empty for TCP
                with self.changed:
                    self.seen.append(line.strip())
                    self.changed.notify_all()
        with self.changed:
            self.seen.append("<eof>")
            self.changed.notify_all()

    def mark(self, timeout: float = 30.0) -> bool:
        """Send probes until tshark shows one (False if it exited first or ``timeout`` went)."""
        self.sent += 1
        token = f"eir-test-probe-{self.sent}".encode()
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender, self.changed:
            while True:
                if token.hex() in self.seen:
                    return True
                left = deadline - time.monotonic()
                if "<eof>" in self.seen or left <= 0:
                    return False
                sender.sendto(token, self.probe.getsockname())
                # until its line comes; sent again if not there in 0.1 s (not yet capturing)
                self.changed.wait(min(0.1, left))

    def stop(self) -> None:
        """Once every packet sent so far is in the file: SIGINT, which closes it."""
        self.mark()
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        self.reader.join(timeout=10)
        self.probe.close()


@contextmanager
def capture(bpf: str, path: Path) -> Iterator[LiveCapture]:
    """tshark capturing what the capture filter ``bpf`` (``tcp port 2905``) takes on loopback
    into ``path``, live before the block runs and complete when it ends. Skips the test where
    tshark cannot capture on loopback."""
    exe = tshark()
    assert exe is not None
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    log = path.with_name(path.name + ".tshark.log")
    with log.open("w") as errors:
        proc = subprocess.Popen(
            [
                *(exe, "-i", "lo", "-f", f"({bpf}) or udp dst port {probe.getsockname()[1]}"),
                *("-w", str(path), "-P", "-l", "-T", "fields", "-e", "udp.payload"),
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    live = LiveCapture(proc, probe, log)
    if not live.mark():
        live.proc.kill()
        live.proc.wait()
        probe.close()
        pytest.skip(f"tshark does not capture on loopback here: {log.read_text()[-300:]}")
    try:
        yield live
    finally:
        live.stop()


def tcp_segments(path: Path, fields: list[str]) -> list[list[str]]:
    """The ``fields`` of each TCP segment of a capture file, as tshark shows them."""
    exe = tshark()
    assert exe is not None
    out = subprocess.run(
        [
            exe,
            "-r",
            str(path),
            "-Y",
            "tcp",
            "-T",
            "fields",
            *(x for f in fields for x in ("-e", f)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [[*line.split("\t"), *[""] * len(fields)][: len(fields)] for line in out.splitlines()]
