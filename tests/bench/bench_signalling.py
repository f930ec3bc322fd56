"""``make bench`` (signalling part): the EIR answering S13 ECRs, or MAP CheckIMEI over M3UA,
against a bare asyncio server (``--protocol s13|map``), all driven by ``eir-sim``.

eir-sim (closed loop, 2 processes, 8 connections, every answer checked) drives in turn:

1. a bare asyncio server that reads each message whole and answers it with fixed bytes: the
   handshakes (CEA; ASPUP-ACK, ASPAC-ACK), and a whitelisting ECA carrying the request's ids and
   Session-Id (or, for MAP, an End with the Begin's otid): the floor of Python + asyncio on this
   machine, and the measure of eir-sim itself (target: 200,000 requests/s);
2. `eir serve` with one worker, answering from an LMDB store of 1,000,000 blacklisted IMEIs
   (10 % of the requests are listed);
3. `eir serve --workers 2`.

For each: answered/s, p50/p99 latency (eir-sim's report), the server's CPU microseconds per
answer (utime + stime of the server processes from /proc) and eir-sim's own CPU per request.
Targets: S13 (issue 3) <= 8 us per answer with one worker, MAP (issue 4) <= 12 us; p99 <= 2 ms
with 64 in flight; two workers >= 1.7 x one worker. Figures go to stdout and
``var/bench/<protocol>.json``; eir-sim's reports to ``var/bench/<protocol>-<server>.sim.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.support.diameter import child_pids  # noqa: E402
from tests.support.logs import said  # noqa: E402

BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")


# --- the bare servers ----------------------------------------------------------------------------


def _diameter_answers() -> tuple[bytes, bytes, bytes, bytes]:
    """Pre-encoded CEA, DWA, DPA and the ECA tail (after the Session-Id): whitelisted."""
    from eir.diameter import codec
    from eir.diameter.base import cea, dpa, dwa
    from eir.diameter.message import Message
    from eir.diameter.node import NodeIdentity
    from eir.diameter.s13.server import S13Server
    from eir.model import CheckResult, EquipmentStatus, Rule

    local = NodeIdentity("bare.bench", "localdomain")
    node = local
    dummy = Message(257, 0, 0x80, 0, 0, ())
    white = CheckResult(EquipmentStatus.WHITELISTED, Rule.UNKNOWN)
    app = S13Server(local, lambda _r: white, lambda: white)
    from eir.diameter.s13.client import ecr

    request = codec.encode_message_pycrate(
        ecr(
            session_id="x;1;2",
            origin_host="h",
            origin_realm="r",
            destination_realm="localdomain",
            imei="35209900176148",
        )
    )
    answer = app.answer(request, "bench")
    tail = answer[20 + 8 + 8 :]  # after the header and the 13-byte Session-Id ("x;1;2" + pad)
    return (
        codec.encode_message_pycrate(cea(node, dummy)),
        codec.encode_message_pycrate(dwa(node, dummy)),
        codec.encode_message_pycrate(dpa(node, dummy)),
        tail,
    )


def _s13_bare(
    buf: bytearray,
    out: list[bytes],
    answers: tuple[bytes, bytes, bytes, bytes],
    heads: dict[int, bytes],
) -> int:
    cea_, dwa_, dpa_, tail = answers
    pos = 0
    n = len(buf)
    while n - pos >= 20:
        length = int.from_bytes(buf[pos + 1 : pos + 4], "big")
        if n - pos < length or length < 20:
            break
        if buf[pos + 5 : pos + 8] == b"\x00\x01\x44":  # ECR: its ids and Session-Id, a fixed rest
            span = (int.from_bytes(buf[pos + 25 : pos + 28], "big") + 3) & ~3
            head = heads.get(span)
            if head is None:
                size = 20 + span + len(tail)
                head = heads[span] = (
                    b"\x01"
                    + size.to_bytes(3, "big")
                    + b"\x40\x00\x01\x44"
                    + bytes(buf[pos + 8 : pos + 12])
                )
            out.append(head + buf[pos + 12 : pos + 20 + span] + tail)
        elif buf[pos + 4] & 0x80:  # CER, DWR, DPR
            code = int.from_bytes(buf[pos + 5 : pos + 8], "big")
            template = {257: cea_, 280: dwa_, 282: dpa_}.get(code)
            if template is not None:
                out.append(template[:12] + bytes(buf[pos + 12 : pos + 20]) + template[20:])
        pos += length
    return pos


def _map_bare() -> tuple[dict[bytes, bytes], Callable[[bytes], bytes]]:
    """ACKs by M3UA message class and type, and the End for a Begin (whitelisted, v3)."""
    from eir.model import CheckResult, EquipmentStatus, Rule
    from eir.sigtran import m3ua, sccp
    from eir.sigtran.checkimei import CheckImei
    from eir.sigtran.m3ua import Message, ProtocolData
    from eir.sigtran.tcap import TcapServer

    acks = {
        b"\x03\x01": m3ua.encode(Message(m3ua.ASPUP_ACK)),
        b"\x04\x01": m3ua.encode(Message(m3ua.ASPAC_ACK)),
        b"\x03\x02": m3ua.encode(Message(m3ua.ASPDN_ACK)),
    }
    server = TcapServer(
        CheckImei(lambda _r: CheckResult(EquipmentStatus.WHITELISTED, Rule.UNKNOWN))
    )
    layouts: dict[int, tuple[int, bytes, int]] = {}

    def end(request: bytes) -> bytes:
        """The first request of each length is answered properly; later ones of that length
        by patching the otid into the same answer (the bench sends one shape)."""
        known = layouts.get(len(request))
        if known is None:
            fast = m3ua.scan_data(request)
            assert fast is not None
            pd = fast[0]
            raw = sccp.scan_unitdata(pd.data)
            answer_tcap = server.answer(raw.data) or b""
            data = sccp.reply(raw, answer_tcap)
            reply = m3ua.encode_data(
                ProtocolData(pd.dpc, pd.opc, pd.si, pd.ni, pd.mp, pd.sls, data)
            )
            at = request.index(raw.data) + 4
            otid = request[at : at + 4]
            layouts[len(request)] = known = (at, reply, reply.index(b"\x49\x04" + otid) + 2)
        at, reply, dtid_at = known
        return reply[:dtid_at] + request[at : at + 4] + reply[dtid_at + 4 :]

    return acks, end


def bare_server(ready: multiprocessing.connection.Connection, protocol: str = "s13") -> None:
    """Reads each message whole and answers it: CER/DWR/DPR and ECRs (S13), ASPUP/ASPAC/ASPDN
    and DATA (M3UA), with fixed answers: the floor of Python + asyncio on this machine."""
    answers = _diameter_answers() if protocol == "s13" else None
    acks, end = _map_bare() if protocol == "map" else ({}, None)
    heads: dict[int, bytes] = {}

    def m3ua_bare(buf: bytearray, out: list[bytes]) -> int:
        pos = 0
        n = len(buf)
        while n - pos >= 8:
            length = int.from_bytes(buf[pos + 4 : pos + 8], "big")
            if n - pos < length or length < 8:
                break
            body = bytes(buf[pos : pos + length])
            if body[2:4] == b"\x01\x01":
                assert end is not None
                out.append(end(body))
            elif body[2:4] in acks:
                out.append(acks[body[2:4]])
            pos += length
        return pos

    class Bare(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.buf = bytearray()

        def data_received(self, data: bytes) -> None:
            buf = self.buf
            buf += data
            out: list[bytes] = []
            used = (
                _s13_bare(buf, out, answers, heads) if answers is not None else m3ua_bare(buf, out)
            )
            del buf[:used]
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


def drive(
    port: int,
    server_pids: list[int],
    args: argparse.Namespace,
    lists: list[str],
    mix: str,
    name: str,
) -> dict[str, float]:
    """eir-sim, closed loop, against the server; its JSON report plus the server's CPU."""
    directory = Path(args.dir)
    report = directory / f"{args.protocol}-{name}.sim.json"
    command = [
        str(BIN / "eir-sim"),
        "run",
        "--target",
        f"tcp://127.0.0.1:{port}",
        "--protocol",
        args.protocol,
        "--concurrency",
        str(args.inflight),
        "--connections",
        str(args.conns),
        "--processes",
        str(args.clients),
        "--duration",
        "1",
        "--mix",
        mix,
        "--live",
        "never",
    ]
    if lists:
        command += ["--lists", *lists]
    subprocess.run(command, check=False, capture_output=True)  # warm-up
    command[command.index("--duration") + 1] = str(args.seconds)
    cpu0 = cpu_seconds(server_pids)
    proc = subprocess.run(
        [*command, "--json", str(report)], capture_output=True, text=True, check=False
    )
    cpu = cpu_seconds(server_pids) - cpu0
    if not report.exists():
        raise SystemExit(f"eir-sim failed: {proc.stderr}")
    doc = json.loads(report.read_text())
    if doc["mismatches"] or doc["errors"] or doc["timeouts"]:
        print(
            f"warning: {name}: {doc['mismatches']} mismatches, {doc['errors']} errors, "
            f"{doc['timeouts']} timeouts: {proc.stderr.strip()}",
            file=sys.stderr,
        )
    answered = doc["answered"]
    return {
        "answered_per_s": doc["rate"],
        "answered": answered,
        "p50_ms": doc["latency_ms"]["p50"],
        "p99_ms": doc["latency_ms"]["p99"],
        "max_ms": doc["latency_ms"]["max"],
        "server_cpu_us_per_answer": cpu / answered * 1e6 if answered else 0.0,
        "sim_cpu_us_per_request": doc["client"]["cpu_us_per_request"],
        "mismatches": doc["mismatches"],
        "in_flight": args.inflight,
    }


def start_eir(
    db: Path, workers: int, protocol: str = "s13", config: Path | None = None
) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [
            str(BIN / "eir"),
            "serve",
            *(["--config", str(config)] if config is not None else []),
            "--db",
            str(db),
            "--diameter-listen",
            "tcp://127.0.0.1:0",
            "--m3ua-listen",
            "tcp://127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--workers",
            str(workers),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONOPTIMIZE": "1"},
    )
    assert proc.stderr is not None
    port = 0
    while True:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit(f"eir serve failed: exit {proc.wait()}")
        line = said(line.rstrip("\n"))
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


def prepare_store(directory: Path, rows: int) -> tuple[Path, Path]:
    """The EIR's store of `rows` blacklisted IMEIs, and a 10,000-row sample of that list for
    eir-sim (it expects unknown IMEIs to be on no list: its generated ones are from other TACs
    than the list's, so the sample is enough and loads in a fraction of a second)."""
    directory.mkdir(parents=True, exist_ok=True)
    listed = directory / f"black-{rows}.txt"
    if not listed.exists():
        subprocess.run(
            [
                str(BIN / "eir-sim"),
                "generate",
                str(listed),
                "--count",
                str(rows),
                "--format",
                "txt",
                "--seed",
                "3",
            ],
            check=True,
            capture_output=True,
        )
    db = directory / f"diameter-{rows}.lmdb"
    if not db.exists():
        subprocess.run(
            [
                str(BIN / "eir"),
                "load",
                str(listed),
                "--list",
                "black",
                "--db",
                str(db),
                "--mode",
                "replace",
            ],
            check=True,
            capture_output=True,
        )
    sample = directory / f"black-{rows}-sample.txt"
    if not sample.exists():
        lines = listed.read_text().split()
        sample.write_text("\n".join(random.Random(5).sample(lines, min(10_000, len(lines)))) + "\n")
    return db, sample


def drive_bare(args: argparse.Namespace) -> dict[str, float]:
    """The bare asyncio server, driven like the EIR: the floor."""
    ctx = multiprocessing.get_context("fork")
    ready_out, ready_in = ctx.Pipe(duplex=False)
    bare = ctx.Process(target=bare_server, args=(ready_in, args.protocol))
    bare.start()
    port = ready_out.recv()
    assert bare.pid is not None
    bare_args = argparse.Namespace(**{**vars(args), "inflight": args.bare_inflight})
    result = drive(port, [bare.pid], bare_args, [], "unknown=1", "bare")
    os.kill(bare.pid, signal.SIGTERM)
    bare.join()
    return result


def check_log_cost(rounds: int = 100_000, repeats: int = 15) -> dict[str, float]:
    """Nanoseconds per decision of `eir.checker.checker` (counted in the metrics) for a white
    IMEI on no list, with each ``log.checks``: what the per-check log adds to the answer path,
    measured in this process over a store that finds nothing at once (so that the policy's
    look-up does not drown a fraction of a microsecond), in CPU time (other processes on the
    machine do not count), the modes interleaved, the best of `repeats` kept."""
    import logging
    import time
    import timeit
    from dataclasses import replace
    from functools import partial
    from typing import cast

    from eir.checker import check_log, checker
    from eir.config import Config
    from eir.devices.record import EMPTY_INDEX, DeviceIndex
    from eir.identity import Imei, Imsi
    from eir.model import NO_HITS, CheckRequest, Hits
    from eir.observe.metrics import Metrics
    from eir.store.lmdb_store import LmdbStore

    class Empty:
        def lookup(self, imei14: str, imsi: str | None) -> Hits:
            return NO_HITS

        def device_index(self) -> DeviceIndex:
            return EMPTY_INDEX

    logging.basicConfig(level=logging.INFO, handlers=[logging.NullHandler()])
    request = CheckRequest(Imei.parse("35209900176148"), Imsi.parse("001019876543210"), "s13")
    store = cast(LmdbStore, Empty())
    # "no log": the checker without a check log at all, as the answer path was before it
    checks = {"no log": checker(Config(), store, Metrics(), None)}
    for mode in ("none", "non-white", "all"):
        config = replace(Config(), log=replace(Config().log, checks=mode))
        checks[mode] = checker(config, store, Metrics(), None, notes=check_log(config))
    best = dict.fromkeys(checks, float("inf"))
    modes = list(checks.items())
    for turn in range(repeats):
        first = turn % len(modes)
        for mode, check in modes[first:] + modes[:first]:  # each first in turn
            took = timeit.timeit(partial(check, request), number=rounds, timer=time.process_time)
            best[mode] = min(best[mode], took / rounds * 1e9)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", choices=["s13", "map"], default="s13")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument(
        "--inflight", type=int, default=64, help="requests in flight against the EIR"
    )
    parser.add_argument(
        "--bare-inflight", type=int, default=512, help="requests in flight against the bare server"
    )
    parser.add_argument("--clients", type=int, default=2, help="eir-sim processes")
    parser.add_argument("--conns", type=int, default=8, help="connections in all")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", default=str(ROOT / "var" / "bench"))
    parser.add_argument(
        "--mix", default="black=0.1", help="eir-sim's mix against eir serve (white=1: all white)"
    )
    parser.add_argument(
        "--log-checks",
        choices=("none", "non-white", "all"),
        help="eir serve's log.checks (default: the configuration's default)",
    )
    parser.add_argument(
        "--servers",
        default="bare,eir_1w,eir_2w",
        help="which of bare, eir_1w, eir_2w to drive (comma-separated)",
    )
    args = parser.parse_args()
    directory = Path(args.dir)
    db, sample = prepare_store(directory, args.rows)
    results: dict[str, dict[str, float]] = {}
    servers = args.servers.split(",")
    config: Path | None = None
    if args.log_checks is not None:
        config = directory / f"log-checks-{args.log_checks}.toml"
        config.write_text(f'[log]\nchecks = "{args.log_checks}"\n')
    costs = check_log_cost()
    print(
        "checker ns per white answer by log.checks: "
        + ", ".join(f"{mode} {ns:.0f}" for mode, ns in costs.items())
    )

    if "bare" in servers:
        results["bare"] = drive_bare(args)
    for workers in (1, 2):
        if f"eir_{workers}w" not in servers:
            continue
        proc, port = start_eir(db, workers, args.protocol, config)
        pids = [proc.pid] if workers == 1 else child_pids(proc.pid)
        results[f"eir_{workers}w"] = drive(
            port, pids, args, [str(sample)], args.mix, f"eir-{workers}w"
        )
        stop(proc)

    print(
        f"{'server':10} {'answers/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/answer':>14} "
        f"{'eir-sim CPU us/request':>23}"
    )
    for name, r in results.items():
        print(
            f"{name:10} {r['answered_per_s']:10.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['server_cpu_us_per_answer']:14.1f} {r['sim_cpu_us_per_request']:23.1f}"
        )
    summary: dict[str, object] = {
        "results": results,
        "check_log_ns": costs,
        "cores": os.cpu_count(),
        "args": vars(args),
    }
    if not {"bare", "eir_1w", "eir_2w"} <= results.keys():
        (directory / f"{args.protocol}-partial.json").write_text(
            json.dumps(summary, indent=2) + "\n"
        )
        return 0
    ratio = (
        results["eir_1w"]["server_cpu_us_per_answer"] / results["bare"]["server_cpu_us_per_answer"]
    )
    scale = results["eir_2w"]["answered_per_s"] / results["eir_1w"]["answered_per_s"]
    print(f"EIR CPU per answer / bare server's: {ratio:.2f}")
    print(
        f"two workers / one worker throughput: {scale:.2f} (on {os.cpu_count()} cores, "
        "shared with the load client)"
    )
    print(
        f"eir-sim against the bare server: {results['bare']['answered_per_s']:,.0f} "
        f"requests/s with {args.clients} processes, "
        f"{results['bare']['sim_cpu_us_per_request']:.1f} us CPU per request "
        "(target: 200,000/s)"
    )
    summary |= {"cpu_ratio": ratio, "two_worker_scale": scale}
    (directory / f"{args.protocol}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
