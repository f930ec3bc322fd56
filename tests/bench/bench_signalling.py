"""``make bench`` (signalling part): the EIR answering S13 ECRs, or MAP CheckIMEI over M3UA,
against a bare asyncio server (``--protocol s13|map``).

One load client (client processes over blocking sockets, requests pipelined, `--inflight` in
flight in total) drives, one after the other:

1. a bare asyncio server that reads each Diameter header and body and writes back a fixed
   148-byte answer with the request's hop-by-hop and end-to-end ids: the floor of Python +
   asyncio on this machine;
2. `eir serve` with one worker, answering ECRs from an LMDB store of 1,000,000 blacklisted IMEIs
   (10 % of the requests are listed), through the fast extractor and the ECA template;
3. `eir serve --workers 2`.

For each: answered/s, p50/p99 latency (from the client), and the server's CPU microseconds per
answer (utime + stime of the server processes from /proc). Targets: S13 (issue 3) <= 8 us per
answer with one worker, MAP (issue 4) <= 12 us; p99 <= 2 ms with 64 in flight; two workers >= 1.7 x
one worker. For MAP the bare server frames by the M3UA header and writes back a fixed DATA, and
the client is an ASP (ASPUP, ASPAC) sending DATA / SCCP UDT / TCAP Begin v3.
Figures go to stdout and ``var/bench/<protocol>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.diameter_support import child_pids  # noqa: E402

BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")


# --- the bare server ---------------------------------------------------------------------------

def bare_server(ready: multiprocessing.connection.Connection, protocol: str = "s13") -> None:
    answer = bytearray(148)
    answer[0] = 1
    answer[1:4] = (148).to_bytes(3, "big")
    answer[4] = 0x40
    answer[5:8] = (324).to_bytes(3, "big")
    answer[8:12] = (16777252).to_bytes(4, "big")
    template = bytes(answer)
    if protocol == "map":
        from eir.sigtran import m3ua as _m3ua
        from eir.sigtran.m3ua import ProtocolData

        template = _m3ua.encode_data_fast(ProtocolData(2, 1, 3, 2, 0, 0, bytes(100)))
    offset, size = (1, 3) if protocol == "s13" else (4, 4)

    class Bare(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.buf = bytearray()

        def data_received(self, data: bytes) -> None:
            buf = self.buf
            buf += data
            out = []
            pos = 0
            n = len(buf)
            while n - pos >= 20:
                length = int.from_bytes(buf[pos + offset : pos + offset + size], "big")
                if n - pos < length or length < 8:
                    break
                body = bytes(buf[pos : pos + length])  # read header and body, as a server does
                if offset == 1:
                    out.append(template[:12] + body[12:20] + template[20:])
                else:
                    out.append(template)
                pos += length
            del buf[:pos]
            if out:
                self.transport.write(b"".join(out))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Bare, "127.0.0.1", 0)
        ready.send(server.sockets[0].getsockname()[1])
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()

    asyncio.run(main())


# --- the load client ---------------------------------------------------------------------------

def _requests(imeis: list[str], count: int) -> list[bytes]:
    from eir.diameter import codec
    from eir.diameter.s13 import ecr

    out = []
    for i in range(count):
        msg = ecr(session_id=f"mme.bench;{i}", origin_host="mme.bench", origin_realm="bench",
                  destination_realm="localdomain", imei=imeis[i % len(imeis)],
                  software_version="01", imsi="001010000000001", hbh=i, e2e=i)
        out.append(codec.encode(msg))
    return out


def _map_requests(imeis: list[str], count: int) -> list[bytes]:
    from eir.identity import Imei
    from eir.sigtran import m3ua
    from tests.sigtran_support import check_imei, over_sccp

    return [m3ua.encode_data_fast(over_sccp(check_imei(3, Imei.parse(imeis[i % len(imeis)])
                                                       .to_tbcd())))
            for i in range(count)]


def _asp_handshake(sock: socket.socket) -> None:
    from eir.sigtran import m3ua
    from eir.sigtran.m3ua import Message

    sock.sendall(m3ua.encode(Message(m3ua.ASPUP)) + m3ua.encode(Message(m3ua.ASPAC)))
    data = b""
    while b"\x01\x00\x04\x03" not in data:  # ASPAC-ACK
        data += sock.recv(65536)


def _handshake(sock: socket.socket, capabilities: bool, protocol: str = "s13") -> None:
    if not capabilities:
        return
    if protocol == "map":
        _asp_handshake(sock)
        return
    from eir.diameter import base, codec
    from eir.diameter.base import NodeIdentity
    from eir.diameter.s13 import LocalIdentity

    node = NodeIdentity(LocalIdentity(f"mme{sock.getsockname()[1]}.bench", "bench"))
    sock.sendall(codec.encode(base.cer(node, 1, 1)))
    data = b""
    while len(data) < 4 or len(data) < int.from_bytes(data[1:4], "big"):
        data += sock.recv(65536)


class _Conn:
    __slots__ = ("buf", "next", "sent", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.sent: deque[float] = deque()
        self.next = 0


def client(port: int, conns: int, depth: int, seconds: float, imeis: list[str],
           capabilities: bool, out: multiprocessing.connection.Connection,
           protocol: str = "s13") -> None:
    requests = _requests(imeis, 4096) if protocol == "s13" else _map_requests(imeis, 4096)
    offset, size = (1, 3) if protocol == "s13" else (4, 4)
    sel = selectors.DefaultSelector()
    states = []
    for _ in range(conns):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _handshake(sock, capabilities, protocol)
        sock.setblocking(False)
        state = _Conn(sock)
        states.append(state)
        sel.register(sock, selectors.EVENT_READ, state)
    latencies: list[float] = []
    answered = 0
    start = time.perf_counter()
    end = start + seconds
    now = start
    for state in states:
        batch = [requests[(state.next + k) % 4096] for k in range(depth)]
        state.next += depth
        state.sent.extend([now] * depth)
        state.sock.sendall(b"".join(batch))
    while now < end:
        for key, _ in sel.select(0.5):
            state = key.data
            data = state.sock.recv(262144)
            now = time.perf_counter()
            buf = state.buf
            buf += data
            pos = 0
            count = 0
            n = len(buf)
            while n - pos >= 8:
                length = int.from_bytes(buf[pos + offset : pos + offset + size], "big")
                if n - pos < length:
                    break
                pos += length
                count += 1
            del buf[:pos]
            sent = state.sent
            for _ in range(count):
                latencies.append(now - sent.popleft())
            answered += count
            if now < end and count:
                nxt = state.next
                state.sock.sendall(b"".join(requests[(nxt + k) % 4096] for k in range(count)))
                state.next = nxt + count
                sent.extend([now] * count)
        now = time.perf_counter()
    elapsed = time.perf_counter() - start
    out.send((answered, elapsed, latencies[:: max(1, len(latencies) // 200000)]))
    for state in states:
        state.sock.close()


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def drive(port: int, server_pids: list[int], args: argparse.Namespace, imeis: list[str],
          capabilities: bool) -> dict[str, float]:
    protocol = args.protocol
    ctx = multiprocessing.get_context("fork")
    procs = []
    pipes = []
    depth = max(1, args.inflight // (args.clients * args.conns))
    # warm-up
    warm_out, warm_in = ctx.Pipe(duplex=False)
    warm = ctx.Process(target=client, args=(port, 1, depth, 1.0, imeis, capabilities, warm_in,
                                            protocol))
    warm.start()
    warm_out.recv()
    warm.join()
    cpu0 = cpu_seconds(server_pids)
    for _ in range(args.clients):
        recv_end, send_end = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=client, args=(port, args.conns, depth, args.seconds, imeis,
                                                capabilities, send_end, protocol))
        proc.start()
        procs.append(proc)
        pipes.append(recv_end)
    results = [p.recv() for p in pipes]
    for proc in procs:
        proc.join()
    cpu = cpu_seconds(server_pids) - cpu0
    answered = sum(r[0] for r in results)
    elapsed = max(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])

    def pick(q: float) -> float:
        return float(lat[min(len(lat) - 1, int(q * len(lat)))]) * 1000

    return {"answered_per_s": answered / elapsed, "answered": answered,
            "p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": lat[-1] * 1000,
            "server_cpu_us_per_answer": cpu / answered * 1e6,
            "in_flight": depth * args.clients * args.conns}


def start_eir(db: Path, workers: int, protocol: str = "s13") -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([str(BIN / "eir"), "serve", "--db", str(db), "--diameter-listen",
                             "tcp://127.0.0.1:0", "--m3ua-listen", "tcp://127.0.0.1:0",
                             "--workers", str(workers)],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONOPTIMIZE": "1"})
    assert proc.stderr is not None
    port = 0
    while True:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit(f"eir serve failed: exit {proc.wait()}")
        if line.startswith("eir: listening " + ("diameter" if protocol == "s13" else "m3ua")):
            port = int(line.rsplit(":", 1)[1])
        if line.startswith("eir: ready"):
            break
    # keep the pipe drained
    import threading

    def drain(stream: object) -> None:
        for _ in stream:  # type: ignore[attr-defined]
            pass

    threading.Thread(target=drain, args=(proc.stderr,), daemon=True).start()
    return proc, port


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def prepare_store(directory: Path, rows: int) -> tuple[Path, list[str]]:
    directory.mkdir(parents=True, exist_ok=True)
    listed = directory / f"black-{rows}.txt"
    if not listed.exists():
        subprocess.run([str(BIN / "eir-sim"), "generate", str(listed), "--count", str(rows),
                        "--format", "txt", "--seed", "3"], check=True, capture_output=True)
    db = directory / f"diameter-{rows}.lmdb"
    if not db.exists():
        subprocess.run([str(BIN / "eir"), "load", str(listed), "--list", "black", "--db",
                        str(db), "--mode", "replace"], check=True, capture_output=True)
    lines = listed.read_text().split()
    rng = random.Random(5)
    listed_sample = rng.sample(lines, 400)
    from sim.workload import generate_imeis

    unlisted = generate_imeis(3600, seed=99).as_text()
    imeis = listed_sample + list(unlisted)
    rng.shuffle(imeis)
    return db, imeis


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", choices=["s13", "map"], default="s13")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--conns", type=int, default=4, help="connections per client process")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args()
    directory = Path(args.dir)
    db, imeis = prepare_store(directory, args.rows)
    results: dict[str, dict[str, float]] = {}

    ctx = multiprocessing.get_context("fork")
    ready_out, ready_in = ctx.Pipe(duplex=False)
    bare = ctx.Process(target=bare_server, args=(ready_in, args.protocol))
    bare.start()
    port = ready_out.recv()
    assert bare.pid is not None
    results["bare"] = drive(port, [bare.pid], args, imeis, capabilities=False)
    os.kill(bare.pid, signal.SIGTERM)
    bare.join()

    for workers in (1, 2):
        proc, port = start_eir(db, workers, args.protocol)
        pids = [proc.pid] if workers == 1 else child_pids(proc.pid)
        results[f"eir_{workers}w"] = drive(port, pids, args, imeis, capabilities=True)
        stop(proc)

    print(f"{'server':10} {'answers/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/answer':>14}")
    for name, r in results.items():
        print(f"{name:10} {r['answered_per_s']:10.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['server_cpu_us_per_answer']:14.1f}")
    ratio = (results["eir_1w"]["server_cpu_us_per_answer"]
             / results["bare"]["server_cpu_us_per_answer"])
    scale = results["eir_2w"]["answered_per_s"] / results["eir_1w"]["answered_per_s"]
    print(f"EIR CPU per answer / bare server's: {ratio:.2f}")
    print(f"two workers / one worker throughput: {scale:.2f} (on {os.cpu_count()} cores, "
          "shared with the load client)")
    summary = {"results": results, "cpu_ratio": ratio, "two_worker_scale": scale,
               "cores": os.cpu_count(), "args": vars(args)}
    (directory / f"{args.protocol}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
