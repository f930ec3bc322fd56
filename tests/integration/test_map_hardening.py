"""Issue 13 over a real socket against `eir serve`: M3UA access control, checked echoes, SCCP
party addresses, a malformed dialogue portion, and the M3UA handshake timeout and BEAT
liveness. Each answer eir sends back is also dissected by tshark when it is installed."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from eir.framing import PPID_M3UA
from eir.sigtran import m3ua, sccp
from eir.sigtran.m3ua import ErrorCode, Message, ProtocolData, Tag, TrafficMode, u32
from tests.support.diameter import serve
from tests.support.pcap import tshark, tshark_problems, write_pcap
from tests.support.sigtran import EIR_ADDRESS, MSC_ADDRESS, check_imei, decoded, over_sccp


class RawAsp:
    """An ASP written byte by byte, to send what our own state machine never would."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=10, source_address=(source, 0)
        )
        self.buf = b""
        self.received: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, deadline_s: float = 10.0) -> bytes:
        """One whole M3UA message; b"" once eir closed the connection."""
        deadline = time.monotonic() + deadline_s
        while len(self.buf) < 8 or len(self.buf) < int.from_bytes(self.buf[4:8], "big"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no message in {deadline_s} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return b""
            self.buf += chunk
        length = int.from_bytes(self.buf[4:8], "big")
        message, self.buf = self.buf[:length], self.buf[length:]
        self.received.append(message)
        return message

    def next(self, skip: tuple[m3ua.MsgType, ...] = (m3ua.NTFY,)) -> Message:
        while True:
            raw = self.recv()
            assert raw, "eir closed the connection"
            message = m3ua.decode(raw)
            if message.kind not in skip:
                return message

    def error_code(self) -> int:
        message = self.next()
        assert message.kind == m3ua.ERR, m3ua.describe(message.kind)
        return message.u32(Tag.ERROR_CODE) or 0

    def up(self, mode: TrafficMode | None = None, rc: int | None = None) -> None:
        self.send(m3ua.encode(Message(m3ua.ASPUP)))
        assert self.next().kind == m3ua.ASPUP_ACK
        self.send(aspac(mode, rc))
        assert self.next().kind == m3ua.ASPAC_ACK

    def closed_within(self, deadline_s: float) -> bool:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            try:
                if self.recv(deadline - time.monotonic()) == b"":
                    return True
            except AssertionError:
                return False
        return False

    def close(self) -> None:
        self.sock.close()


def aspac(mode: TrafficMode | None = None, rc: int | None = None) -> bytes:
    params: list[tuple[int, bytes]] = []
    if mode is not None:
        params.append((Tag.TRAFFIC_MODE_TYPE, u32(mode)))
    if rc is not None:
        params.append((Tag.ROUTING_CONTEXT, u32(rc)))
    return m3ua.encode(Message(m3ua.ASPAC, tuple(params)))


def check_data(rc: int | None = None, data: bytes | None = None) -> bytes:
    pd = over_sccp(check_imei(2))
    if data is not None:
        pd = pd._replace(data=data)
    return m3ua.encode_data(pd, rc)


def answered_status(asp: RawAsp) -> str:
    message = asp.next()
    assert message.kind == m3ua.DATA, m3ua.describe(message.kind)
    raw = message.get(Tag.PROTOCOL_DATA)
    assert raw is not None
    answer = decoded(sccp.decode(ProtocolData.unpack(raw).data).data)
    assert answer[0] == "end"
    return str(answer[0])


def config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "eir.toml"
    path.write_text("[m3ua]\n" + body)
    return str(path)


def assert_tshark_clean(tmp_path: Path, payloads: list[bytes]) -> None:
    if tshark() is None:
        return
    path = tmp_path / "answers.pcap"
    write_pcap(path, payloads, port=2905, sctp_ppid=PPID_M3UA)
    _text, problems = tshark_problems(path, protocol="mtp 3 user adaptation layer")
    assert not problems, "\n".join(problems)


def no_traceback(lines: list[str]) -> None:
    assert not [line for line in lines if "Traceback" in line or " ERROR " in line], lines


def test_aspup_with_an_empty_asp_identifier_gets_err(demo_db: Path, tmp_path: Path) -> None:
    with serve(demo_db) as served:
        asp = RawAsp(served.port("m3ua"))
        asp.send(bytes.fromhex("010003010000000c00110004"))
        assert asp.error_code() == ErrorCode.PARAMETER_FIELD_ERROR  # not an empty echo
        asp.up()
        asp.close()
    assert_tshark_clean(tmp_path, asp.received)


def test_daud_with_an_empty_affected_point_code_gets_err(demo_db: Path, tmp_path: Path) -> None:
    with serve(demo_db) as served:
        asp = RawAsp(served.port("m3ua"))
        asp.up()
        asp.send(bytes.fromhex("010002030000000c00120004"))
        assert asp.error_code() == ErrorCode.PARAMETER_FIELD_ERROR  # not an empty DAVA
        asp.close()
    assert_tshark_clean(tmp_path, asp.received)


def test_udt_with_an_inconsistent_calling_party_is_discarded(demo_db: Path, tmp_path: Path) -> None:
    with serve(demo_db) as served:
        asp = RawAsp(served.port("m3ua"))
        asp.up()
        # the calling party 12 announces an SSN and a global title and holds neither: no
        # answer can be addressed to it, so the next answer is the one to the request after it
        bad = sccp.encode(
            sccp.UDT,
            EIR_ADDRESS.encode(),
            b"\x12",
            check_imei(2),
            protocol_class=1,
            return_on_error=True,
        )
        asp.send(check_data(data=bad) + check_data())
        message = asp.next()
        raw = message.get(Tag.PROTOCOL_DATA)
        assert raw is not None
        answer = sccp.decode(ProtocolData.unpack(raw).data)
        assert answer.called == MSC_ADDRESS and decoded(answer.data)[0] == "end"
        asp.close()
    assert_tshark_clean(tmp_path, asp.received)


def test_dialogue_portion_holding_04_00_is_p_abort_without_traceback(
    demo_db: Path, tmp_path: Path
) -> None:
    with serve(demo_db) as served:
        asp = RawAsp(served.port("m3ua"))
        asp.up()
        external = bytes.fromhex("280d060700118605010101a0020400")
        begin = (
            bytes.fromhex("622b4804000012346b0f")
            + external
            + bytes.fromhex("6c12a11002010102012b040894104502237315f0")
        )
        asp.send(
            check_data(
                data=sccp.encode(
                    sccp.UDT, EIR_ADDRESS.encode(), MSC_ADDRESS.encode(), begin, protocol_class=1
                )
            )
        )
        message = asp.next()
        raw = message.get(Tag.PROTOCOL_DATA)
        assert raw is not None
        answer = decoded(sccp.decode(ProtocolData.unpack(raw).data).data)
        assert answer[0] == "abort" and answer[1]["reason"][0] == "p-abortCause"
        asp.close()
    no_traceback(served.lines)
    assert_tshark_clean(tmp_path, asp.received)


def test_override_from_an_unconfigured_asp_does_not_evict_loadshare(
    demo_db: Path, tmp_path: Path
) -> None:
    with serve(demo_db) as served:
        port = served.port("m3ua")
        first, second = RawAsp(port), RawAsp(port)
        first.up(TrafficMode.LOADSHARE)
        second.up(TrafficMode.LOADSHARE)
        intruder = RawAsp(port)
        intruder.send(m3ua.encode(Message(m3ua.ASPUP)))
        assert intruder.next().kind == m3ua.ASPUP_ACK
        intruder.send(aspac(TrafficMode.OVERRIDE))
        assert intruder.error_code() == ErrorCode.UNSUPPORTED_TRAFFIC_MODE_TYPE
        # the loadsharing ASPs got no NTFY "Alternate ASP Active" and are still served
        for asp in (first, second):
            asp.send(check_data())
            message = asp.next(skip=())
            while message.kind == m3ua.NTFY:
                status = message.get(Tag.STATUS)
                assert status != b"\x00\x02\x00\x02", "evicted by the override ASPAC"
                message = asp.next(skip=())
            assert message.kind == m3ua.DATA
        received = [*first.received, *second.received, *intruder.received]
        for asp in (first, second, intruder):
            asp.close()
    assert_tshark_clean(tmp_path, received)


def test_routing_context_is_required_when_configured(demo_db: Path, tmp_path: Path) -> None:
    conf = config(tmp_path, "routing_contexts = [100]\n")
    with serve(demo_db, "--config", conf) as served:
        asp = RawAsp(served.port("m3ua"))
        asp.send(m3ua.encode(Message(m3ua.ASPUP)))
        assert asp.next().kind == m3ua.ASPUP_ACK
        asp.send(aspac())
        assert asp.error_code() == ErrorCode.NO_CONFIGURED_AS_FOR_ASP
        asp.send(check_data(None))
        assert asp.error_code() == ErrorCode.UNEXPECTED_MESSAGE  # not active
        asp.send(aspac(rc=100))
        assert asp.next().kind == m3ua.ASPAC_ACK
        asp.send(check_data(None))
        assert asp.error_code() == ErrorCode.MISSING_PARAMETER
        asp.send(check_data(5))
        err = asp.next()  # RFC 4666 3.8.1: the invalid context in the Routing Context parameter
        assert err.u32(Tag.ERROR_CODE) == ErrorCode.INVALID_ROUTING_CONTEXT
        assert err.u32_list(Tag.ROUTING_CONTEXT) == (5,)
        asp.send(check_data(100))
        assert answered_status(asp) == "end"
        asp.close()
        received = asp.received
    assert_tshark_clean(tmp_path, received)


def test_configured_asps_and_networks(demo_db: Path, tmp_path: Path) -> None:
    conf = config(
        tmp_path,
        "routing_contexts = [100, 200]\n"
        '[[m3ua.asps]]\nname = "msc1"\nasp_identifier = 11\n'
        'networks = ["127.0.0.0/8"]\nrouting_contexts = [100]\noverride = true\n',
    )
    with serve(demo_db, "--config", conf) as served:
        port = served.port("m3ua")
        asp = RawAsp(port)
        asp.send(m3ua.encode(Message(m3ua.ASPUP)))
        assert asp.error_code() == ErrorCode.ASP_IDENTIFIER_REQUIRED
        asp.send(m3ua.encode(Message(m3ua.ASPUP, ((Tag.ASP_IDENTIFIER, u32(12)),))))
        assert asp.error_code() == ErrorCode.INVALID_ASP_IDENTIFIER
        asp.send(m3ua.encode(Message(m3ua.ASPUP, ((Tag.ASP_IDENTIFIER, u32(11)),))))
        ack = asp.next()
        assert ack.kind == m3ua.ASPUP_ACK and ack.get(Tag.ASP_IDENTIFIER) == u32(11)
        asp.send(aspac(TrafficMode.OVERRIDE, 200))
        assert asp.error_code() == ErrorCode.INVALID_ROUTING_CONTEXT
        asp.send(aspac(TrafficMode.OVERRIDE, 100))
        assert asp.next().kind == m3ua.ASPAC_ACK
        asp.send(check_data(100))
        assert answered_status(asp) == "end"
        # another client naming msc1 from another address while it is alive displaces nobody
        twin = RawAsp(port, "127.0.0.2")
        twin.send(m3ua.encode(Message(m3ua.ASPUP, ((Tag.ASP_IDENTIFIER, u32(11)),))))
        assert twin.error_code() == ErrorCode.INVALID_ASP_IDENTIFIER
        asp.send(check_data(100))
        assert answered_status(asp) == "end"
        twin.close()
        # msc1 restarted (its old association silently dead): from its own address it takes
        # the identifier over at once, and the old association is closed
        restarted = RawAsp(port)
        restarted.send(m3ua.encode(Message(m3ua.ASPUP, ((Tag.ASP_IDENTIFIER, u32(11)),))))
        assert restarted.next().kind == m3ua.ASPUP_ACK
        assert asp.closed_within(10.0)
        restarted.send(aspac(TrafficMode.OVERRIDE, 100))
        assert restarted.next().kind == m3ua.ASPAC_ACK
        restarted.send(check_data(100))
        assert answered_status(restarted) == "end"
        restarted.close()
        asp.close()
    conf = config(tmp_path, 'allowed_networks = ["192.0.2.0/24"]\n')
    with serve(demo_db, "--config", conf) as served:
        outsiders = [RawAsp(served.port("m3ua")) for _ in range(30)]
        assert all(outsider.closed_within(10.0) for outsider in outsiders)
        # one log line for the flood, not one per connection
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not refusals(served.lines):
            time.sleep(0.01)
        assert len(refusals(served.lines)) == 1, served.lines
        for outsider in outsiders:
            outsider.close()


def test_a_flood_of_rejected_messages_is_cut_after_a_few_errs(
    demo_db: Path, tmp_path: Path
) -> None:
    """64 KiB of unsupported class 15 (8,192 messages) before ASPUP, default config: 16 ERRs
    and a last "Protocol Error", then the association is closed (it used to get 8,192 ERRs,
    229 KB, and hold the event loop 2-3 s); the next ASP is served."""
    with serve(demo_db) as served:
        port = served.port("m3ua")
        flood = RawAsp(port)
        flood.send(bytes.fromhex("01000f0100000008") * 8192)
        codes = []
        while (raw := flood.recv()) != b"":
            codes.append(m3ua.decode(raw).u32(Tag.ERROR_CODE))
        assert codes == [ErrorCode.UNSUPPORTED_MESSAGE_CLASS] * 16 + [ErrorCode.PROTOCOL_ERROR]
        asp = RawAsp(port)
        asp.up()
        asp.send(check_data())
        assert answered_status(asp) == "end"
        received = flood.received
        flood.close()
        asp.close()
        no_traceback(served.lines)
    assert_tshark_clean(tmp_path, received)


def refusals(lines: list[str]) -> list[str]:
    return [
        line
        for line in lines
        if "refused a connection from" in line and "m3ua.allowed_networks" in line
    ]


def test_handshake_timeout_closes_an_idle_association(demo_db: Path, tmp_path: Path) -> None:
    conf = config(tmp_path, "handshake_timeout_s = 0.5\n")
    with serve(demo_db, "--config", conf) as served:
        port = served.port("m3ua")
        silent = RawAsp(port)
        up_only = RawAsp(port)
        up_only.send(m3ua.encode(Message(m3ua.ASPUP)))
        assert up_only.next().kind == m3ua.ASPUP_ACK
        active = RawAsp(port)
        active.up()
        assert silent.closed_within(10.0) and up_only.closed_within(10.0)
        active.send(check_data())
        assert answered_status(active) == "end"  # ASP-ACTIVE in time: kept
        for asp in (silent, up_only, active):
            asp.close()


def test_beat_liveness_closes_a_silent_active_association(demo_db: Path, tmp_path: Path) -> None:
    conf = config(tmp_path, "beat_interval_s = 0.3\n")
    with serve(demo_db, "--config", conf) as served:
        asp = RawAsp(served.port("m3ua"))
        asp.up()
        for _ in range(3):  # answered BEATs keep it up
            beat = asp.next()
            assert beat.kind == m3ua.BEAT
            asp.send(m3ua.encode(Message(m3ua.BEAT_ACK, beat.params)))
        assert asp.next().kind == m3ua.BEAT  # this one is not answered
        assert asp.closed_within(10.0)
        asp.close()
        received = asp.received
    assert_tshark_clean(tmp_path, received)


def test_idle_connections_no_longer_lock_out_an_asp(demo_db: Path, tmp_path: Path) -> None:
    """Idle connections filling m3ua.max_connections are closed by the handshake timeout, so
    an ASP that connects afterwards is served (they used to hold every slot for good)."""
    conf = config(tmp_path, "max_connections = 8\nhandshake_timeout_s = 0.5\n")
    with serve(demo_db, "--config", conf) as served:
        port = served.port("m3ua")
        idle = [RawAsp(port) for _ in range(8)]
        assert all(sock.closed_within(10.0) for sock in idle)
        asp = RawAsp(port)
        asp.up()
        asp.send(check_data())
        assert answered_status(asp) == "end"
        for sock in [*idle, asp]:
            sock.close()
