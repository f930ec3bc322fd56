"""Helpers for the Diameter tests: requests, a policy-backed application, pcap + tshark."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from eir.config import PolicyConfig
from eir.diameter import codec
from eir.diameter.message import Avp, Message
from eir.diameter.node import NodeIdentity
from eir.diameter.peer import PeerConnection, PeerSettings, Role
from eir.diameter.s13.client import EcaView, decode_eca, ecr
from eir.diameter.s13.server import S13Server
from eir.model import ListName
from eir.policy import decide, unknown_result
from eir.store.api import Mode
from eir.store.loader import LoadOptions, parse_files
from eir.store.memory import MemoryStore
from tests.support.logs import said

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "diameter"

EIR = NodeIdentity("eir.test.example", "test.example")
MME = NodeIdentity("mme1.epc.example", "epc.example")

BLACK = "490154203237518"
GREY_RANGE_IMEI = "86123456123456"
PAIR_IMEI = "353456789012348"
PAIR_IMSI = "001010123456789"


def vector(name: str) -> bytes:
    text = (VECTORS / f"{name}.hex").read_text()
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    return bytes.fromhex("".join("".join(lines).split()))


def make_ecr(
    imei: str | None = BLACK,
    *,
    imsi: str | None = None,
    sv: str | None = None,
    session: str = "mme1.epc.example;1;42",
    realm: str = "test.example",
    hbh: int = 0x1234,
    e2e: int = 0x5678,
    meid: bytes | None = None,
    extra: tuple[Avp, ...] = (),
) -> bytes:
    return codec.encode_message_pycrate(
        ecr(
            session_id=session,
            origin_host=MME.origin_host,
            origin_realm=MME.origin_realm,
            destination_realm=realm,
            imei=imei,
            software_version=sv,
            imsi=imsi,
            hbh=hbh,
            e2e=e2e,
            meid=meid,
            extra=extra,
        )
    )


DEMO = Path(__file__).resolve().parents[2] / "conf" / "lists" / "demo.csv"


def demo_store() -> MemoryStore:
    """The demo lists of `make run` in memory."""
    problems: list[str] = []
    batch = parse_files([str(DEMO)], LoadOptions(ListName.BLACK, "demo"), problems.append)
    assert not problems, problems
    store = MemoryStore()
    store.apply(batch, Mode.REPLACE, [(ListName.BLACK, "demo")], now=1)
    return store


def application(
    policy: PolicyConfig | None = None, local: NodeIdentity = EIR, store: MemoryStore | None = None
) -> S13Server:
    settings = policy or PolicyConfig()
    lists = store or demo_store()
    return S13Server(
        local, lambda req: decide(req, lists.lookup, settings), lambda: unknown_result(settings)
    )


def settings(local: NodeIdentity = EIR, **kw: object) -> PeerSettings:
    node = replace(local, host_ip_addresses=("192.0.2.1",), origin_state_id=7)
    return PeerSettings(node=node, **kw)  # type: ignore[arg-type]


def pump(a: PeerConnection, b: PeerConnection, now: float, *, rounds: int = 20) -> None:
    """Move bytes both ways (answering queued requests) until both are quiet."""
    for _ in range(rounds):
        moved = False
        for src, dst in ((a, b), (b, a)):
            src.process(1 << 30)
            data = src.data_to_send()
            if data:
                moved = True
                dst.receive_data(data, now)
        if not moved:
            return


def connected_pair(
    app: S13Server | None = None, now: float = 0.0, server_settings: PeerSettings | None = None
) -> tuple[PeerConnection, PeerConnection]:
    server = PeerConnection(
        server_settings or settings(), Role.RESPONDER, now, "192.0.2.9", app or application()
    )
    client = PeerConnection(settings(MME), Role.INITIATOR, now, "192.0.2.1")
    pump(client, server, now)
    return client, server


def split_messages(data: bytes) -> list[bytes]:
    out = []
    while data:
        length = int.from_bytes(data[1:4], "big")
        out.append(data[:length])
        data = data[length:]
    return out


def decode(data: bytes) -> Message:
    return codec.decode_message_pycrate(data)


# --- a real `eir serve` and a blocking client -------------------------------------------------

EIR_BIN = str(Path(sys.executable).parent / "eir")
LISTENING = re.compile(r"^eir: listening (\w+) (\w+) (.+):(\d+)$")


class Served:
    """A running `eir serve`: ``raw`` holds its stderr lines as written, ``lines`` the same as
    ``LOGGER: MESSAGE`` (`tests.support.logs.said`: ``eir: ready``), whatever the format."""

    def __init__(self, proc: subprocess.Popen[str], lines: list[str], raw: list[str]) -> None:
        self.proc = proc
        self.lines = lines
        self.raw = raw

    def port(self, protocol: str = "diameter", transport: str = "tcp") -> int:
        for line in self.lines:
            m = LISTENING.match(line)
            if m and m.group(1) == protocol and m.group(2) == transport:
                return int(m.group(4))
        raise AssertionError(f"no {protocol} {transport} listener in {self.lines}")


@contextmanager
def serve(
    db: Path, *args: str, timeout: float = 60.0, env_extra: dict[str, str] | None = None
) -> Iterator[Served]:
    """`eir serve` as a subprocess; yields once it logged `eir: ready`."""
    env = dict(os.environ) | (env_extra or {})
    defaults = [] if "--m3ua-listen" in args else ["--m3ua-listen", "tcp://127.0.0.1:0"]
    defaults += [] if "--metrics-listen" in args else ["--metrics-listen", "127.0.0.1:0"]
    defaults += [] if "--diameter-listen" in args else ["--diameter-listen", "tcp://127.0.0.1:0"]
    proc = subprocess.Popen(
        [EIR_BIN, "serve", "--db", str(db), *args, *defaults],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    raw: list[str] = []
    reader: threading.Thread | None = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                raise AssertionError(f"eir serve exited {proc.wait()}: {lines}")
            raw.append(line.rstrip("\n"))
            lines.append(said(raw[-1]))
            if lines[-1].startswith("eir: ready"):
                break
        else:
            raise AssertionError(f"eir serve not ready in {timeout}s: {lines}")
        # keep reading stderr, so that the daemon never blocks on a full pipe
        reader = threading.Thread(target=_drain, args=(proc, lines, raw), daemon=True)
        reader.start()
        yield Served(proc, lines, raw)
    finally:
        _stop(proc)
        if reader is None:
            proc.stderr.close()
        else:  # its last lines; the pipe ends (and the reader closes it) once the workers are gone
            reader.join(timeout=5)


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL if the daemon is still there after 30 s; reaps it either way."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


def _drain(proc: subprocess.Popen[str], lines: list[str], raw: list[str]) -> None:
    assert proc.stderr is not None
    with proc.stderr:
        for line in proc.stderr:
            raw.append(line.rstrip("\n"))
            lines.append(said(raw[-1]))
    lines.append("<eof>")


class BlockingClient:
    """An MME over a plain socket, driving our own sans-IO peer in the initiator role."""

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        local: NodeIdentity = MME,
        source: str | None = None,
    ) -> None:
        self.sock = socket.create_connection(
            (host, port), timeout=10, source_address=None if source is None else (source, 0)
        )
        self.conn = PeerConnection(settings(local), Role.INITIATOR, time.monotonic())
        self.local = local
        self._flush()
        while self.conn.state.name not in ("OPEN", "CLOSED"):
            self._read()
        self.hbh = 1000

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _read(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            self.conn.connection_lost()
            return
        self.conn.receive_data(data, time.monotonic())
        self._flush()

    def request(self, message: bytes) -> bytes:
        from eir.diameter.peer import AnswerReceived

        self.sock.sendall(message)
        while True:
            event = self.conn.next_event()
            if isinstance(event, AnswerReceived):
                return event.message
            if event is None:
                if self.conn.closed:
                    raise ConnectionError("closed")
                self._read()

    def check(self, imei: str | None, imsi: str | None = None, **kw: object) -> EcaView:
        self.hbh += 1
        data = self.request(make_ecr(imei, imsi=imsi, hbh=self.hbh, **kw))  # type: ignore[arg-type]
        msg = codec.decode_message_pycrate(data)
        assert msg.hbh == self.hbh
        return decode_eca(msg)

    def close(self) -> None:
        from eir.diameter.dictionary import DisconnectCause

        if not self.conn.closed:
            self.conn.disconnect(DisconnectCause.REBOOTING, time.monotonic())
            self._flush()
            try:
                while not self.conn.closed:
                    self._read()
            except OSError:
                pass
        self.sock.close()


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out
