"""`eir serve` against a hostile Diameter peer, over real sockets (issue 13).

Nested Grouped AVPs, thousands of AVPs, a depth of 1,000, a newcomer claiming the Origin-Host of
an open connection, ECRs claiming another Origin-Host: each is answered with its Result-Code at
once, while an established peer keeps being served, and nothing is logged as a traceback.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from eir.diameter import codec
from eir.diameter.base import cer
from eir.diameter.dictionary import AvpCode
from eir.diameter.message import Avp, Message, as_u32
from eir.diameter.node import NodeIdentity
from eir.diameter.s13.client import decode_eca, ecr
from eir.model import EquipmentStatus
from tests.bench.bench_hostile import cer as nested_cer
from tests.bench.bench_hostile import dwr as nested_dwr
from tests.bench.bench_hostile import many_avps_ecr, nested
from tests.support.diameter import BLACK, MME, BlockingClient, make_ecr, serve

TIMEOUT = 5.0  # the original decoder blocked 16 s on a CER nested 20 deep


class RawPeer:
    """A Diameter peer over a plain socket that sends whatever bytes it is given."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        self._buf = b""
        self.requests: list[Message] = []

    def open(self, host: str = MME.origin_host, realm: str = MME.origin_realm) -> int:
        """Send a CER; the CEA's Result-Code."""
        node = NodeIdentity(host, realm)
        self.sock.sendall(codec.encode_message_pycrate(cer(node, 1, 1)))
        return result_code(self.answer())

    def read(self) -> bytes | None:
        """The next message, None when eir closed the connection."""
        while True:
            if len(self._buf) >= 4:
                n = int.from_bytes(self._buf[1:4], "big")
                if len(self._buf) >= n:
                    message, self._buf = self._buf[:n], self._buf[n:]
                    return message
            data = self.sock.recv(65536)
            if not data:
                return None
            self._buf += data

    def answer(self) -> Message:
        """The next answer (requests from eir, a DWR or a DPR, are kept in `requests`)."""
        while True:
            data = self.read()
            assert data is not None, "connection closed instead of an answer"
            msg = codec.decode_message_pycrate(data)
            if not msg.is_request:
                return msg
            self.requests.append(msg)

    def closed(self) -> bool:
        while True:
            data = self.read()
            if data is None:
                return True
            self.requests.append(codec.decode_message_pycrate(data))

    def close(self) -> None:
        self.sock.close()


def result_code(msg: Message) -> int:
    avp = msg.find(AvpCode.RESULT_CODE)
    assert avp is not None, msg
    return as_u32(avp)


def with_tail(message: bytes, tail: bytes) -> bytes:
    """`message` with `tail` appended as more AVPs."""
    length = len(message) + len(tail)
    return message[:1] + length.to_bytes(3, "big") + message[4:] + tail


def ecr_from(host: str, hbh: int, extra: tuple[Avp, ...] = ()) -> bytes:
    return codec.encode_message_pycrate(
        ecr(
            session_id=f"{host};1;{hbh}",
            origin_host=host,
            origin_realm=MME.origin_realm,
            destination_realm="test.example",
            imei=BLACK,
            hbh=hbh,
            e2e=hbh,
            extra=extra,
        )
    )


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "eir.toml"
    path.write_text(f"[diameter]\n{text}\n")
    return str(path)


def no_traceback(lines: list[str]) -> None:
    assert not [line for line in lines if "Traceback" in line or "RecursionError" in line], lines


def test_nested_cer_from_an_unlisted_peer_is_refused_at_once(demo_db: Path, tmp_path: Path) -> None:
    allowed = config(tmp_path, 'allowed_hosts = ["mme*.epc.example"]')
    with serve(demo_db, "--config", allowed) as served:
        port = served.port()
        established = BlockingClient(port)
        for depth in (14, 17, 20):
            intruder = RawPeer(port)
            started = time.monotonic()
            intruder.sock.sendall(nested_cer(depth, host="intruder.example"))
            # the established peer is served meanwhile
            probe = established.check(BLACK)
            cea = intruder.answer()
            elapsed = time.monotonic() - started
            assert probe.equipment_status is EquipmentStatus.BLACKLISTED
            assert result_code(cea) == 3010
            assert intruder.closed()
            # generous: the walker needs well under 50 ms; before it, depth 14 took 0.3 s and
            # depth 20 16 s
            assert elapsed < 1.0, elapsed
            intruder.close()
        # an allowed peer whose CER nests too deep gets CEA 5004 and is disconnected
        allowed_peer = RawPeer(port)
        allowed_peer.sock.sendall(nested_cer(20, host="mme9.epc.example"))
        assert result_code(allowed_peer.answer()) == 5004
        assert allowed_peer.closed()
        allowed_peer.close()
        assert established.check(BLACK).equipment_status is EquipmentStatus.BLACKLISTED
        established.close()
    no_traceback(served.lines)


def test_nested_and_crowded_requests_on_an_open_connection(demo_db: Path) -> None:
    with serve(demo_db) as served:
        port = served.port()
        peer = RawPeer(port)
        assert peer.open() == 2001
        other = BlockingClient(port, local=NodeIdentity("mme2.epc.example", "epc.example"))
        for depth in (20, 1000):
            peer.sock.sendall(nested_dwr(depth))
            answer = peer.answer()
            assert answer.code == 280 and result_code(answer) == 5004
            peer.sock.sendall(with_tail(make_ecr(BLACK, hbh=depth), nested(depth)))
            answer = peer.answer()
            assert answer.code == 324 and answer.hbh == depth and result_code(answer) == 5004
            assert other.check(BLACK).equipment_status is EquipmentStatus.BLACKLISTED
        crowded = many_avps_ecr(5000)
        started = time.monotonic()
        peer.sock.sendall(crowded)
        answer = peer.answer()
        assert result_code(answer) == 5009
        assert time.monotonic() - started < 1.0  # generous: it takes about 5 ms
        peer.sock.sendall(make_ecr(BLACK, hbh=7))
        assert decode_eca(peer.answer()).equipment_status is EquipmentStatus.BLACKLISTED
        peer.close()
        other.close()
    no_traceback(served.lines)


def test_a_newcomer_with_the_origin_host_of_an_open_connection_is_refused(demo_db: Path) -> None:
    with serve(demo_db) as served:
        port = served.port()
        holder = BlockingClient(port)
        for _ in range(6):
            newcomer = RawPeer(port, source="127.0.0.2")
            assert newcomer.open(MME.origin_host) == 5012
            assert newcomer.closed()
            newcomer.close()
            assert holder.check(BLACK).equipment_status is EquipmentStatus.BLACKLISTED
        assert not holder.conn.closed  # never sent DPR
        holder.close()


def test_require_origin_match(demo_db: Path, tmp_path: Path) -> None:
    strict = config(tmp_path, "require_origin_match = true")
    # an unknown AVP without the M bit sends the ECR to the slow path
    slow = (Avp(60000, 0, 0, b"x"),)
    with serve(demo_db, "--config", strict) as served:
        peer = RawPeer(served.port())
        assert peer.open() == 2001
        for hbh, extra in ((1, ()), (2, slow)):
            peer.sock.sendall(ecr_from("mme2.epc.example", hbh, extra))
            answer = peer.answer()
            assert answer.hbh == hbh and result_code(answer) == 3010 and answer.is_error
            # its own Origin-Host, in another case, is served
            peer.sock.sendall(ecr_from(MME.origin_host.upper(), hbh + 10, extra))
            answer = peer.answer()
            assert decode_eca(answer).equipment_status is EquipmentStatus.BLACKLISTED
        peer.close()
    with serve(demo_db) as served:  # the default: behind a DRA, any Origin-Host
        peer = RawPeer(served.port())
        assert peer.open() == 2001
        for hbh, extra in ((1, ()), (2, slow)):
            peer.sock.sendall(ecr_from("mme2.epc.example", hbh, extra))
            assert decode_eca(peer.answer()).equipment_status is EquipmentStatus.BLACKLISTED
        peer.close()
