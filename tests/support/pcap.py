"""pcap files of what we send (TCP or SCTP over IPv4 over Ethernet) and tshark's verdict."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path


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
