"""Connection admission against the real `eir serve`: idle or half-open connections never lock a
configured peer out, a message sent one byte at a time closes its connection, and refusals are
logged as counts, not one line each."""

from __future__ import annotations

import re
import resource
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from eir.model import EquipmentStatus
from eir.sigtran import m3ua
from tests.integration.test_mqtt import metrics_when
from tests.integration.test_sim import sim
from tests.support.diameter import BLACK, MME, BlockingClient, make_ecr, serve
from tests.support.sigtran import BLACK as MAP_BLACK
from tests.support.sigtran import Msc, check_imei, over_sccp

IDLE = 1_100  # more than max_connections (1024)
OTHER = "127.0.0.2"  # a second source address on loopback


@pytest.fixture(autouse=True)
def _enough_descriptors() -> None:
    """The idle connections and the daemon's side of them (it inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * IDLE
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@contextmanager
def idle_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` TCP connections from 127.0.0.1 that never send a byte."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.setblocking(False)
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def wait_closed(socks: list[socket.socket], at_least: int, timeout: float = 30.0) -> int:
    """Wait until the daemon has closed `at_least` of `socks` (it has seen them all then)."""
    deadline = time.monotonic() + timeout
    poller = select.poll()
    by_fd = {sock.fileno(): sock for sock in socks}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    closed = 0
    while time.monotonic() < deadline:
        for fd, _ in poller.poll(200):
            if _closed_by_peer(by_fd[fd]):
                closed += 1
                poller.unregister(fd)
        if closed >= at_least:
            return closed
    raise AssertionError(f"only {closed} of {len(socks)} connections closed, expected {at_least}")


def test_idle_connections_do_not_lock_out_a_diameter_peer(demo_db: Path) -> None:
    with serve(demo_db) as served:
        port = served.port()
        with idle_connections(port, IDLE) as socks:
            wait_closed(socks, IDLE - 1024)  # refused, whatever the pools
            client = BlockingClient(port, source=OTHER)
            assert client.conn.state.name == "OPEN"
            eca = client.check(BLACK)
            assert eca.equipment_status is EquipmentStatus.BLACKLISTED
            client.close()


def test_idle_connections_do_not_lock_out_an_asp(demo_db: Path) -> None:
    with serve(demo_db) as served:
        port = served.port("m3ua")
        with idle_connections(port, IDLE) as socks:
            wait_closed(socks, IDLE - 1024)
            msc = Msc(port, source=OTHER)
            answer = msc.exchange(over_sccp(check_imei(2, MAP_BLACK)))
            assert answer.opc == 200 and answer.dpc == 100
            msc.close()


REFUSED = re.compile(r"diameter: refused (a|[\d,]+) connections? from 127\.0\.0\.1")


def test_refusals_are_logged_as_counts(demo_db: Path) -> None:
    with serve(demo_db) as served:
        port = served.port()
        with idle_connections(port, IDLE) as socks:
            wait_closed(socks, IDLE - 1024)
        key = "eir_connections_refused_total{outcome=refused,protocol=diameter}"
        seen = metrics_when(served, lambda m: m.get(key, 0) >= IDLE - 1024)
        assert seen[key] >= IDLE - 1024, seen
        served.proc.terminate()  # the counts not logged yet are logged on the way out
        served.proc.wait(30)
    lines = [line for line in served.lines if "refus" in line and "127.0.0.1" in line]
    assert 1 <= len(lines) <= 4, lines[:10]
    counted = 0
    for line in lines:
        m = REFUSED.search(line)
        assert m is not None
        counted += 1 if m.group(1) == "a" else int(m.group(1).replace(",", ""))
    assert counted >= IDLE - 1024, lines
    assert any("in the last" in line for line in lines), lines


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "eir.toml"
    path.write_text(text)
    return str(path)


def _dribble(sock: socket.socket, message: bytes, pause_s: float, timeout: float) -> float:
    """Send `message` one byte every `pause_s` until the daemon closes the connection; returns
    how long that took (fails if the whole message was sent or `timeout` passed)."""
    started = time.monotonic()
    for byte in message[:-1]:  # never completes the message
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return time.monotonic() - started
        ready, _, _ = select.select([sock], [], [], pause_s)
        if ready:
            try:
                if sock.recv(65536) == b"":
                    return time.monotonic() - started
            except OSError:
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            break
    raise AssertionError(f"still open after {time.monotonic() - started:.1f} s")


def test_a_diameter_message_one_byte_at_a_time_closes_its_connection(
    demo_db: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, "[diameter]\nread_timeout_s = 1\n")
    with serve(demo_db, "--config", config) as served:
        port = served.port()
        slow = BlockingClient(port)
        took = _dribble(slow.sock, make_ecr(BLACK), 0.25, 15)
        slow.sock.close()
        assert 0.9 <= took < 6
        # a peer sending whole messages is not affected
        fast = BlockingClient(port)
        assert fast.check(BLACK).equipment_status is EquipmentStatus.BLACKLISTED
        fast.close()
    assert any("a message incomplete for 1 s" in line for line in served.lines), served.lines


def test_an_m3ua_message_one_byte_at_a_time_closes_its_association(
    demo_db: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, "[m3ua]\nread_timeout_s = 1\n")
    with serve(demo_db, "--config", config) as served:
        port = served.port("m3ua")
        slow = Msc(port)
        data = m3ua.encode_data(over_sccp(check_imei(2, MAP_BLACK)))
        took = _dribble(slow.sock, data, 0.25, 15)
        slow.sock.close()
        assert 0.9 <= took < 6
        fast = Msc(port)
        answer = fast.exchange(over_sccp(check_imei(2, MAP_BLACK)))
        assert answer.opc == 200
        fast.close()


@pytest.mark.parametrize("protocol", ["s13", "map"])
def test_a_burst_of_connections_from_one_client_gets_in(demo_db: Path, protocol: str) -> None:
    """eir-sim opens its connections all at once from 127.0.0.1, more than the pending pool
    holds, and finishes their handshakes after: none is refused or closed."""
    with serve(demo_db) as served:
        port = served.port("diameter" if protocol == "s13" else "m3ua")
        result = sim(
            "run",
            "--target",
            f"tcp://127.0.0.1:{port}",
            "--protocol",
            protocol,
            "--connections",
            "100",
            "--concurrency",
            "100",
            "--requests",
            "500",
            "--live",
            "never",
        )
    assert result.returncode == 0, result.stderr + result.stdout
    assert not [line for line in served.lines if "eir.transport" in line], served.lines


def test_refused_cers_are_logged_as_counts(demo_db: Path, tmp_path: Path) -> None:
    """A flood of CERs the allow-list refuses: each gets its CEA 3010, the log gets a few lines
    with counts (before, every refused CER was one line, twice)."""
    from eir.diameter import base, codec
    from eir.diameter.node import NodeIdentity

    conf = _config(tmp_path, '[diameter]\nallowed_hosts = ["mme*.example.org"]\n')
    cer = codec.encode_message_pycrate(
        base.cer(NodeIdentity("intruder.example.org", "example.org"), 1, 1)
    )
    floods = 200
    with serve(demo_db, "--config", conf) as served:
        port = served.port()
        for _ in range(floods):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(cer)
                answer = sock.recv(65536)
                assert int.from_bytes(answer[1:4], "big") <= len(answer)
                assert (3010).to_bytes(4, "big") in answer  # Result-Code 3010 UNKNOWN_PEER
        served.proc.terminate()  # the counts not logged yet are logged on the way out
        served.proc.wait(30)
    lines = [line for line in served.lines if "intruder" in line]
    assert 1 <= len(lines) <= 4, lines[:10]
    counted = sum(
        1 if m.group(1) == "a" else int(m.group(1).replace(",", ""))
        for line in lines
        if (m := REFUSED.search(line)) is not None
    )
    assert counted == floods, lines


def test_a_refused_source_takes_no_pending_slot(demo_db: Path, tmp_path: Path) -> None:
    """A source outside diameter.allowed_networks is refused before it enters the pending
    pool: it never displaces a pending connection of an allowed one (before, it did, and stayed
    pending until its CER)."""
    from eir.diameter import base, codec

    conf = _config(
        tmp_path,
        "[diameter]\nmax_pending_connections = 2\n"
        'max_pending_per_address = 1\nallowed_networks = ["127.0.0.2/32"]\n',
    )
    cer = codec.encode_message_pycrate(base.cer(MME, 1, 1))
    with serve(demo_db, "--config", conf) as served:
        port = served.port()
        allowed = [
            socket.create_connection(
                ("127.0.0.1", port), timeout=10, source_address=("127.0.0.2", 0)
            )
            for _ in range(2)
        ]
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as outsider:
                try:
                    outsider.sendall(cer)
                    while outsider.recv(65536):
                        pass
                except OSError:
                    pass  # reset: refused at once
        for sock in allowed:
            sock.sendall(cer)
            answer = sock.recv(65536)
            assert answer, "an allowed pending connection was closed to make room"
            result = codec.decode_message_pycrate(answer).find(268)  # Result-Code
            assert result is not None and int.from_bytes(result.data, "big") == 2001
            sock.close()
