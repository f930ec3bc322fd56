"""Decode cost of hostile Diameter messages on the daemon's paths, and of the S13 hot path.

    .venv/bin/python -m tests.bench.bench_hostile [depth ...]

Prints the time the event loop would be blocked by: a CER whose Grouped AVPs nest `depth`
levels, sent by a peer the allow-list refuses (PeerConnection.receive_data in Wait-CER); the
same nesting in a DWR on an open connection; an ECR of 5,000 small unknown AVPs and one of 335
Proxy-Info, which its answer echoes (S13Server.answer); and, for the hot path,
`scan_ecr` + answer of a normal ECR.
"""

from __future__ import annotations

import sys
import time

from eir.diameter.allow_list import AllowList
from eir.diameter.dictionary import AVP_M
from eir.diameter.message import Avp, Message, grouped, octets, unsigned32
from eir.diameter.node import NodeIdentity
from eir.diameter.peer import PeerConnection, PeerSettings, Role, State
from eir.diameter.s13.scan import scan_ecr
from eir.diameter.wire import encode_avp, encode_message
from tests.support.diameter import application, make_ecr


def nested(depth: int) -> bytes:
    """`depth` levels of Vendor-Specific-Application-Id (a Grouped AVP of the base protocol),
    built from the inside out without recursion."""
    out = encode_avp(unsigned32(258, 16777252))
    for _ in range(depth - 1):
        out = (260).to_bytes(4, "big") + bytes([AVP_M]) + (8 + len(out)).to_bytes(3, "big") + out
    return out


def _message(code: int, hbh: int, avps: tuple[Avp, ...], tail: bytes) -> bytes:
    head = encode_message(Message(code, 0, 0x80, hbh, hbh, avps))
    length = len(head) + len(tail)
    return head[:1] + length.to_bytes(3, "big") + head[4:] + tail


def cer(depth: int, host: str = "intruder.example") -> bytes:
    avps = (
        octets(264, host),
        octets(296, "example"),
        Avp(257, 0, AVP_M, b"\x00\x01" + bytes(4)),
        unsigned32(266, 0),
        octets(269, "x"),
    )
    return _message(257, 1, avps, nested(depth))


def dwr(depth: int) -> bytes:
    return _message(280, 2, (octets(264, "mme.example"), octets(296, "example")), nested(depth))


def many_avps_ecr(count: int = 5000) -> bytes:
    extra = tuple(Avp(60000 + i % 1000, 0, 0, b"") for i in range(count))
    return make_ecr(extra=extra)


SETTINGS = PeerSettings(
    node=NodeIdentity("eir.example", "example"),
    allow=AllowList(hosts=("mme*.example",)),
)


def time_cer(buf: bytes, repeat: int = 3) -> float:
    """The best of `repeat`: a fresh connection in Wait-CER receiving `buf`."""
    best = float("inf")
    for _ in range(repeat):
        conn = PeerConnection(SETTINGS, Role.RESPONDER, 0.0, "192.0.2.1")
        started = time.perf_counter()
        conn.receive_data(buf, 0.0)
        best = min(best, time.perf_counter() - started)
    return best


def time_dwr(buf: bytes, repeat: int = 3) -> float:
    """The best of `repeat`: an open connection receiving `buf`."""
    best = float("inf")
    for _ in range(repeat):
        conn = PeerConnection(SETTINGS, Role.RESPONDER, 0.0, "192.0.2.1")
        conn.state = State.OPEN
        started = time.perf_counter()
        conn.receive_data(buf, 0.0)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str]) -> None:
    depths = [int(a) for a in argv] or [14, 17]
    time_cer(cer(2))  # first-call costs (pycrate's answer templates) out of the figures
    time_dwr(dwr(2))
    for depth in depths:
        repeat = 1 if depth > 16 else 3  # the original decoder needs seconds from 17 on
        buf = cer(depth)
        print(
            f"CER nested {depth} deep ({len(buf)} bytes), refused peer: "
            f"{time_cer(buf, repeat) * 1000:.2f} ms"
        )
        buf = dwr(depth)
        print(
            f"DWR nested {depth} deep ({len(buf)} bytes), open connection: "
            f"{time_dwr(buf, repeat) * 1000:.2f} ms"
        )
    app = application()
    buf = many_avps_ecr()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        app.answer(buf, "bench")
        best = min(best, time.perf_counter() - started)
    print(f"ECR of 5,000 unknown AVPs ({len(buf)} bytes): {best * 1000:.2f} ms")
    proxies = tuple(
        grouped(284, (octets(280, f"dra{i}.example"), octets(33, b"state"))) for i in range(335)
    )
    buf = make_ecr(extra=proxies)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        app.answer(buf, "bench")
        best = min(best, time.perf_counter() - started)
    print(f"ECR of 335 Proxy-Info, all echoed ({len(buf)} bytes): {best * 1000:.2f} ms")
    ecr = make_ecr()
    assert scan_ecr(ecr) is not None
    n = 20000
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            app.answer(ecr, "bench")
        best = min(best, time.perf_counter() - started)
    print(f"hot path: scan_ecr + answer of a normal ECR: {best / n * 1e6:.2f} us")


if __name__ == "__main__":
    main(sys.argv[1:])
