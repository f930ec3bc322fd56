"""`eir serve` over kernel SCTP, as a real process: Diameter (PPID 46) and M3UA (PPID 3,
management on stream 0, DATA on stream 1) driven by eir-sim and by raw pysctp associations.

These run where the kernel has SCTP; on these machines that is a qemu guest under software
emulation, 15 to 30 times slower than the host, so every wait is generous.
"""

from __future__ import annotations

import json
import select
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eir.diameter.peer import PeerConnection, Role, State
from eir.model import ListName
from eir.sigtran.m3ua_asp import AspConnection, AspState, M3uaSettings, Side
from eir.store.api import Mode
from eir.store.lmdb_store import LmdbStore
from eir.store.loader import LoadOptions, parse_files
from sim import msc_role as map_role
from tests.support.cli import EIR_SIM, env
from tests.support.diameter import DEMO, MME, Served, make_ecr, serve, settings
from tests.support.sim import map_probes

ROOT = Path(__file__).resolve().parents[2]
SLOW = 300.0  # seconds: emulated guests are slow
PPID_DIAMETER, PPID_M3UA = 46, 3


def sim(out: Path, *args: str | Path) -> dict[str, Any]:
    result = subprocess.run(
        [EIR_SIM, "run", *map(str, args), "--json", out, "--live", "never", "--timeout", "30"],
        capture_output=True,
        text=True,
        timeout=SLOW,
        env=env(),
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def load_demo(db: Path) -> None:
    """The demo blacklist, loaded in this process: one process start less in a slow guest."""
    batch = parse_files([str(DEMO)], LoadOptions(list=ListName.BLACK, source="demo"), pytest.fail)
    store = LmdbStore(db, map_size_mb=16)
    try:
        store.apply(batch, Mode.REPLACE, [(ListName.BLACK, "demo")])
    finally:
        store.close()


@pytest.fixture(scope="module")
def gateway() -> Iterator[Any]:
    """A signalling gateway stand-in: a listening pysctp socket the EIR dials as an ASP."""
    import sctp

    listener: Any = sctp.sctpsocket_tcp(socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    yield listener
    listener.close()


@pytest.fixture
def gateway_alone() -> Iterator[Any]:
    """Another gateway stand-in, for a daemon of one test."""
    import sctp

    listener: Any = sctp.sctpsocket_tcp(socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, gateway: Any) -> Iterator[Served]:
    """One `eir serve` for every test (each start costs about 25 s in an emulated guest): two
    workers, Diameter and M3UA on SCTP, dialling the gateway as an ASP."""
    home = tmp_path_factory.mktemp("sctp")
    load_demo(home / "db")
    config = home / "eir.toml"
    # handshake_timeout_s = 0: the gateway stand-in accepts the association only when its
    # test runs, which may be later than the 10 s default in the guest
    config.write_text(
        f"[m3ua]\nreconnect_s = 1\nhandshake_timeout_s = 0\n"
        f'peers = ["sctp://127.0.0.1:{gateway.getsockname()[1]}"]\n'
    )
    with serve(
        home / "db",
        "--config",
        str(config),
        "--workers",
        "2",
        "--diameter-listen",
        "sctp://127.0.0.1:0",
        "--m3ua-listen",
        "sctp://127.0.0.1:0",
        timeout=SLOW,
    ) as daemon:
        yield daemon


class Association:
    """A one-to-one pysctp association that sees each message's PPID and stream."""

    def __init__(self, port: int, local: tuple[str, ...] = ()) -> None:
        import sctp

        self.sk: Any = sctp.sctpsocket_tcp(socket.AF_INET)
        if local:
            self.sk.bindx([(address, 0) for address in local])
        self.sk.events.data_io = True
        self.sk.events.flush()
        self.sk.connect(("127.0.0.1", port))  # blocking: pysctp's calls use the raw fd

    def send(self, data: bytes, ppid: int, stream: int = 0) -> None:
        self.sk.sctp_send(data, ppid=ppid, stream=stream)

    def recv(self) -> tuple[bytes, int, int]:
        """(message, PPID, stream) of the next data message."""
        while True:
            readable, _w, _x = select.select([self.sk.fileno()], [], [], SLOW)
            assert readable, "no answer"
            _from, _flags, data, info = self.sk.sctp_recv(65536)
            if data:
                return data, socket.ntohl(info.ppid), info.stream

    def abort(self) -> None:
        """Close with SO_LINGER 0: an SCTP ABORT, not a SHUTDOWN."""
        self.sk.sock().setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sk.close()

    def close(self) -> None:
        self.sk.close()


def diameter_open(association: Association) -> PeerConnection:
    peer = PeerConnection(settings(MME), Role.INITIATOR, time.monotonic())
    association.send(peer.data_to_send(), PPID_DIAMETER)
    data, ppid, _stream = association.recv()
    assert ppid == PPID_DIAMETER
    peer.receive_data(data, time.monotonic())
    assert peer.state is State.OPEN
    return peer


def test_eir_dials_out_as_an_asp_to_a_gateway(served: Served, gateway: Any) -> None:
    """Worker 0 dialled the gateway while starting: ASPUP (repeated every T(ack) until
    answered) and ASPAC arrive on stream 0 with PPID 3, and the ASP goes active."""
    import sctp

    readable, _w, _x = select.select([gateway.fileno()], [], [], SLOW)
    assert readable, "the EIR did not dial the gateway"
    conn, _address = gateway.accept()
    accepted: Any = sctp.sctpsocket_tcp(socket.AF_INET, conn)
    accepted.events.data_io = True
    accepted.events.flush()
    sgp = AspConnection(M3uaSettings(), Side.SGP, time.monotonic())
    seen: list[tuple[int, int]] = []
    try:
        while sgp.state is not AspState.ACTIVE:
            readable, _w, _x = select.select([accepted.fileno()], [], [], SLOW)
            assert readable, f"the ASP went quiet after {seen}"
            _f, _flags, data, info = accepted.sctp_recv(65536)
            assert data, f"the ASP closed the association after {seen}"
            seen.append((socket.ntohl(info.ppid), info.stream))
            sgp.receive_data(data, time.monotonic())
            reply = sgp.data_to_send()
            if reply:
                accepted.sctp_send(reply, ppid=PPID_M3UA, stream=0)
        assert len(seen) >= 2 and all(s == (PPID_M3UA, 0) for s in seen)  # ASPUP, ASPAC
    finally:
        accepted.close()
    assert served.proc.poll() is None


def test_eir_sim_drives_diameter_and_every_map_version_over_sctp(
    served: Served, tmp_path: Path
) -> None:
    """One eir-sim run (each costs 15 to 20 s in the guest) against the two workers: S13 over
    four multi-homed associations (127.0.0.1 and 127.0.0.2), and MAP v1 (UDT), v2 (XUDT) and
    v3 over two ASPs each: ten associations at once, every answer checked."""
    scenario = tmp_path / "sctp.toml"
    diameter = f"sctp://127.0.0.1:{served.port('diameter', 'sctp')}"
    m3ua = f"sctp://127.0.0.1:{served.port('m3ua', 'sctp')}"
    mix = "mix = { black = 0.2, grey = 0.1, pair = 0.1, malformed = 0.05 }\n"
    flows = [
        f'[[flow]]\nname = "s13"\nprotocol = "s13"\ntarget = "{diameter}"\n'
        'local = ["127.0.0.1", "127.0.0.2"]\nconcurrency = 4\nconnections = 4\n' + mix
    ]
    for version, sccp in ((1, "udt"), (2, "xudt"), (3, "udt")):
        flows.append(
            f'[[flow]]\nname = "map{version}"\nprotocol = "map"\ntarget = "{m3ua}"\n'
            f'map_version = {version}\nsccp = "{sccp}"\nconcurrency = 2\n'
            "connections = 2\n" + mix
        )
    scenario.write_text('requests = 800\nlists = ["conf/lists/demo.csv"]\n\n' + "\n".join(flows))
    doc = sim(tmp_path / "sctp.json", "--scenario", scenario)
    assert doc["sent"] == doc["answered"] == 800
    assert doc["mismatches"] == doc["errors"] == doc["timeouts"] == 0
    assert {f["name"] for f in doc["flows"]} == {"s13", "map1", "map2", "map3"}
    assert {f["name"]: f["answered"] for f in doc["flows"]}["s13"] > 0


def test_one_message_is_one_pdu_with_its_ppid(served: Served) -> None:
    association = Association(served.port("diameter", "sctp"))
    try:
        diameter_open(association)
        first, second = make_ecr(hbh=7001), make_ecr("356938035643809", hbh=7002)
        association.send(first, PPID_DIAMETER)
        association.send(second, PPID_DIAMETER)
        answers = [association.recv() for _ in range(2)]
        for (data, ppid, _stream), hbh in zip(answers, (7001, 7002), strict=True):
            assert ppid == PPID_DIAMETER
            assert int.from_bytes(data[1:4], "big") == len(data)  # exactly one message
            assert int.from_bytes(data[12:16], "big") == hbh
    finally:
        association.close()


def test_m3ua_management_on_stream_0_and_data_on_stream_1(served: Served) -> None:
    options = map_role.MapOptions(version=3)
    _probes, messages = map_probes(options, count=5)
    client = map_role.MapClient(options, messages, time.monotonic())
    association = Association(served.port("m3ua", "sctp"))
    try:
        streams: list[tuple[int, int, int]] = []
        while not client.ready:
            outgoing = client.data_to_send()
            if outgoing:
                association.send(outgoing, PPID_M3UA, 0)
            data, ppid, stream = association.recv()
            streams.append((data[2], ppid, stream))  # (message class, PPID, stream)
            client.receive(data, time.monotonic(), lambda _i, _o: None)
            client.poll_events()
        assert all(ppid == PPID_M3UA and stream == 0 for _c, ppid, stream in streams)
        outcomes: list[object] = []
        association.send(client.request(0, 1), PPID_M3UA, 1)
        data, ppid, stream = association.recv()
        while data[2] != 1:  # management (an NTFY after ASPAC) comes first, on stream 0
            assert (ppid, stream) == (PPID_M3UA, 0)
            data, ppid, stream = association.recv()
        assert (ppid, stream) == (PPID_M3UA, 1)  # the answer: Transfer class, on stream 1
        client.receive(data, time.monotonic(), lambda _i, outcome: outcomes.append(outcome))
        assert len(outcomes) == 1 and outcomes[0] is not None
    finally:
        association.close()


def test_an_association_aborted_mid_dialogue_then_a_new_one(served: Served, tmp_path: Path) -> None:
    association = Association(served.port("diameter", "sctp"))
    diameter_open(association)
    association.send(make_ecr(hbh=1), PPID_DIAMETER)
    association.abort()  # before reading the answer
    again = Association(served.port("diameter", "sctp"))
    try:
        diameter_open(again)
        again.send(make_ecr(hbh=2), PPID_DIAMETER)
        data, ppid, _stream = again.recv()
        assert ppid == PPID_DIAMETER and int.from_bytes(data[12:16], "big") == 2
    finally:
        again.close()
    assert served.proc.poll() is None


def test_a_multi_homed_association(served: Served) -> None:
    association = Association(served.port("diameter", "sctp"), local=("127.0.0.1", "127.0.0.2"))
    try:
        addresses = {a[0] for a in association.sk.getladdrs()}
        assert addresses == {"127.0.0.1", "127.0.0.2"}
        diameter_open(association)
        association.send(make_ecr(hbh=9), PPID_DIAMETER)
        assert int.from_bytes(association.recv()[0][12:16], "big") == 9
    finally:
        association.close()


def test_sigterm_leaves_a_gateway_with_aspdn_then_an_sctp_shutdown(
    tmp_path: Path, gateway_alone: Any
) -> None:
    """Stopped with SIGTERM, eir (the ASP) sends ASPDN, takes the ASPDN-ACK, and ends the
    association with SHUTDOWN: the gateway reads the end of the stream (b""), where an ABORT
    would raise ECONNRESET. Until issue 19 eir closed right after ASPDN and the unread ACK made
    the kernel send ABORT (the STP logged COMM_LOST)."""
    import sctp

    db = tmp_path / "db"
    load_demo(db)
    config = tmp_path / "eir.toml"
    config.write_text(
        "[m3ua]\nreconnect_s = 1\nhandshake_timeout_s = 0\n"
        f'peers = ["sctp://127.0.0.1:{gateway_alone.getsockname()[1]}"]\n'
    )
    with serve(db, "--config", str(config), timeout=SLOW) as daemon:
        readable, _w, _x = select.select([gateway_alone.fileno()], [], [], SLOW)
        assert readable, "the EIR did not dial the gateway"
        conn, _address = gateway_alone.accept()
        accepted: Any = sctp.sctpsocket_tcp(socket.AF_INET, conn)
        accepted.events.data_io = True
        accepted.events.flush()
        sgp = AspConnection(M3uaSettings(), Side.SGP, time.monotonic())

        def message() -> bytes:
            readable, _w, _x = select.select([conn.fileno()], [], [], SLOW)
            assert readable, "the ASP went quiet"
            _f, _flags, data, _info = accepted.sctp_recv(65536)
            assert data, "the association ended"
            return bytes(data)

        try:
            while sgp.state is not AspState.ACTIVE:
                sgp.receive_data(message(), time.monotonic())
                reply = sgp.data_to_send()
                if reply:
                    accepted.sctp_send(reply, ppid=PPID_M3UA, stream=0)
            daemon.proc.send_signal(signal.SIGTERM)
            data = message()
            while data[2:4] != b"\x03\x02":  # NTFY and the like, then ASPDN
                data = message()
            aspdn_ack = bytes.fromhex("0100030500000008")  # class 3 (ASPSM), type 5, 8 bytes
            accepted.sctp_send(aspdn_ack, ppid=PPID_M3UA, stream=0)
            readable, _w, _x = select.select([conn.fileno()], [], [], SLOW)
            assert readable, "the association did not end"
            assert conn.recv(65536) == b""  # SHUTDOWN; an ABORT raises ConnectionResetError
            assert daemon.proc.wait(timeout=SLOW) == 0
        finally:
            accepted.close()
