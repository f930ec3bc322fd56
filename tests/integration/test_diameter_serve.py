"""`eir serve` as a subprocess, answering S13 over real sockets."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

from eir.config import DiameterConfig, PolicyConfig
from eir.diameter import codec
from eir.diameter.node import NodeIdentity
from eir.diameter.peer import PeerSettings, Role
from eir.diameter.peer_table import PeerTable
from eir.diameter.s13.client import decode_eca
from eir.framing import DIAMETER
from eir.host import sctp_unavailable
from eir.model import EquipmentStatus
from eir.transport.diameter import DiameterEndpoint, DiameterProtocol
from eir.transport.sctp import SctpTransport
from tests.support.cli import eir
from tests.support.diameter import (
    BLACK,
    GREY_RANGE_IMEI,
    MME,
    PAIR_IMEI,
    PAIR_IMSI,
    BlockingClient,
    application,
    child_pids,
    make_ecr,
    serve,
    vector,
)

S = EquipmentStatus


def test_serve_answers_an_ecr_with_a_known_mandatory_avp(demo_db: Path) -> None:
    """MSISDN (701, 3GPP) with the M bit, outside the ECR grammar: answered, not 5001; an
    unknown AVP with the M bit still gets 5001 naming it."""
    with serve(demo_db) as served:
        client = BlockingClient(served.port())
        eca = decode_eca(codec.decode_message_pycrate(client.request(vector("ecr_msisdn_m_bit"))))
        assert (eca.result_code, eca.equipment_status) == (2001, S.BLACKLISTED)
        eca = decode_eca(codec.decode_message_pycrate(client.request(vector("unknown_m_avp"))))
        assert eca.result_code == 5001
        client.close()


def test_serve_answers_s13_over_tcp(demo_db: Path) -> None:
    with serve(demo_db, "--diameter-listen", "tcp://127.0.0.1:0") as served:
        port = served.port()
        assert port != 0
        client = BlockingClient(port)
        assert client.check(BLACK).equipment_status is S.BLACKLISTED
        assert client.check(PAIR_IMEI, PAIR_IMSI).equipment_status is S.WHITELISTED
        assert client.check(PAIR_IMEI, "001019999999999").equipment_status is S.BLACKLISTED
        assert client.check(GREY_RANGE_IMEI).equipment_status is S.GREYLISTED
        assert client.check("35209900176148").equipment_status is S.WHITELISTED
        assert client.check("12").result_code == 5004
        # fifty requests in one write, all answered in order
        client.sock.sendall(b"".join(make_ecr(BLACK, hbh=i) for i in range(50)))
        seen: list[int] = []
        while len(seen) < 50:
            from eir.diameter.peer import AnswerReceived

            event = client.conn.next_event()
            if event is None:
                client._read()
            elif isinstance(event, AnswerReceived):
                seen.append(codec.decode_message_pycrate(event.message).hbh)
        assert seen == list(range(50))
        client.close()
    assert served.proc.returncode == 0
    assert "eir: stopping" in served.lines


def test_second_connection_with_same_origin_host_retires_the_first(demo_db: Path) -> None:
    with serve(demo_db, "--diameter-listen", "127.0.0.1:0") as served:
        first = BlockingClient(served.port())
        second = BlockingClient(served.port())
        # the first receives DPR and answers it; the connection then closes
        while not first.conn.closed:
            first._read()
        assert second.check(BLACK).equipment_status is S.BLACKLISTED
        second.close()
        first.sock.close()


def test_config_policy_and_realms(demo_db: Path, tmp_path: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text(
        '[policy]\nunknown = "unknown"\n[diameter]\nrealms = ["test.example"]\n'
        'origin_host = "eir1.test.example"\norigin_realm = "test.example"\n'
    )
    with serve(demo_db, "--config", str(config), "--diameter-listen", "tcp://127.0.0.1:0") as s:
        client = BlockingClient(s.port())
        assert client.check("35209900176148").experimental_result == 5422
        view = client.check(BLACK, realm="elsewhere.example")
        assert view.result_code == 3003
        client.close()


def test_workers_share_the_port(demo_db: Path) -> None:
    with serve(demo_db, "--diameter-listen", "tcp://127.0.0.1:0", "--workers", "2") as served:
        assert "eir: ready (2 workers)" in served.lines
        children = child_pids(served.proc.pid)
        assert len(children) >= 2
        clients = [
            BlockingClient(served.port(), local=NodeIdentity(f"mme{i}.x", "x")) for i in range(8)
        ]
        for client in clients:
            assert client.check(BLACK).equipment_status is S.BLACKLISTED
            client.close()
    assert served.proc.returncode == 0


@pytest.mark.skipif(sctp_unavailable() is None, reason="this kernel has SCTP: see issue 7 tests")
def test_sctp_listener_without_kernel_sctp_is_a_clear_error(demo_db: Path) -> None:
    result = eir(
        "serve",
        "--db",
        demo_db,
        "--diameter-listen",
        "sctp://127.0.0.1:0",
        "--m3ua-listen",
        "tcp://127.0.0.1:0",
        "--metrics-listen",
        "",
    )
    assert result.returncode == 1
    assert "SCTP" in result.stderr and "Traceback" not in result.stderr


def test_bad_listen_address_is_a_config_error(demo_db: Path) -> None:
    result = eir("serve", "--db", demo_db, "--diameter-listen", "udp://1.2.3.4:5")
    assert result.returncode == 2 and "udp" in result.stderr


async def test_sctp_transport_over_a_seqpacket_pair() -> None:
    """The SCTP transport without kernel SCTP: a SOCK_SEQPACKET pair keeps message boundaries
    as SCTP does, and each Diameter message must go out as one message."""
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sent: list[bytes] = []

    def send_b(data: bytes) -> int:
        sent.append(data)
        return b.send(data)

    node = DiameterEndpoint(
        PeerSettings(node=NodeIdentity("eir.x", "x")),
        application(),
        PeerTable("eir.x", loop.time),
    )
    answers: list[bytes] = []
    client_node = DiameterEndpoint(
        PeerSettings(node=MME),
        None,
        PeerTable(MME.origin_host, loop.time),
        on_answer=answers.append,
    )
    split = DIAMETER.split
    server = DiameterProtocol(node)
    client = DiameterProtocol(client_node, Role.INITIATOR)
    SctpTransport(loop, b, server, send_b, b.recv, split)
    SctpTransport(loop, a, client, a.send, a.recv, split)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if client.conn is not None and client.conn.state.name == "OPEN":
            break
    client.send_request(b"".join(make_ecr(BLACK, hbh=i) for i in range(5)))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if len(answers) == 5:
            break
    assert [decode_eca(codec.decode_message_pycrate(m)).equipment_status for m in answers] == [
        S.BLACKLISTED
    ] * 5
    assert all(int.from_bytes(m[1:4], "big") == len(m) for m in sent)  # one message per send
    client.disconnect(0)  # type: ignore[arg-type]
    await asyncio.wait_for(client.closed, 5)
    await asyncio.wait_for(server.closed, 5)


async def test_eir_dials_a_configured_peer_and_reconnects(demo_db: Path, tmp_path: Path) -> None:
    """A DRA that the EIR connects to: CER/CEA, an ECR routed to the EIR, then the DRA drops
    the connection and the EIR comes back after Tc."""
    loop = asyncio.get_running_loop()
    answers: list[bytes] = []
    dra = DiameterEndpoint(
        PeerSettings(node=NodeIdentity("dra.x", "x")),
        None,
        PeerTable("dra.x", loop.time),
        on_answer=answers.append,
    )
    server = await loop.create_server(lambda: DiameterProtocol(dra), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = tmp_path / "dial.toml"
    config.write_text(
        f'[diameter]\nreconnect_s = 1\n[[diameter.peers]]\naddress = "tcp://127.0.0.1:{port}"\n'
    )
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "eir"),
        "serve",
        "--db",
        str(demo_db),
        "--config",
        str(config),
        "--diameter-listen",
        "tcp://127.0.0.1:0",
        "--m3ua-listen",
        "tcp://127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        async def connected() -> DiameterProtocol:
            for _ in range(600):
                for proto in list(dra.connections):
                    if proto.conn is not None and proto.conn.state.name == "OPEN":
                        return proto
                await asyncio.sleep(0.05)
            raise AssertionError("the EIR never connected")

        first = await connected()
        assert first.conn is not None and first.conn.peer_host == "eir.localdomain"
        first.send_request(make_ecr(BLACK, hbh=5))
        for _ in range(200):
            if answers:
                break
            await asyncio.sleep(0.02)
        assert (
            decode_eca(codec.decode_message_pycrate(answers[0])).equipment_status is S.BLACKLISTED
        )
        first.abort()
        await first.closed
        second = await connected()
        assert second is not first
    finally:
        proc.terminate()
        await proc.wait()
        server.close()


def test_default_diameter_config_listens_on_3868() -> None:
    assert str(DiameterConfig().listen[0]) == "tcp://127.0.0.1:3868"
    assert PolicyConfig().unknown == "white"


async def test_pending_pool_limit_closes_the_extra_connections() -> None:
    """Three idle connections at once, two pending places and no more than two connections:
    the third (younger than a second, like the others) is closed at once."""
    loop = asyncio.get_running_loop()
    node = DiameterEndpoint(
        PeerSettings(node=NodeIdentity("eir.x", "x")),
        application(),
        PeerTable("eir.x", loop.time),
        max_connections=2,
        max_pending=2,
    )
    server = await loop.create_server(lambda: DiameterProtocol(node), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    await asyncio.sleep(0.1)
    assert len(node.connections) == 2
    reader, _writer = streams[2]
    assert await asyncio.wait_for(reader.read(100), 5) == b""  # closed at once
    for _, w in streams:
        w.close()
    server.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_port_taken_is_one_line_and_exit_1(demo_db: Path, workers: str) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        result = eir(
            "serve",
            "--db",
            demo_db,
            "--diameter-listen",
            f"127.0.0.1:{port}",
            "--m3ua-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--workers",
            workers,
        )
    finally:
        holder.close()
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "in use" in result.stderr.lower()
