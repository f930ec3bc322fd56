"""eir-sim against the real `eir serve` on loopback: both protocols, the mixes, several
processes, scenarios, the gates failing when they should, the report files, and replay."""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from eir.diameter.peer import PeerConnection, Role
from tests.support.cli import EIR_SIM, env
from tests.support.diameter import DEMO, application, demo_store, make_ecr, serve, settings
from tests.support.pcap import write_pcap

ROOT = Path(__file__).resolve().parents[2]
FULL_MIX = "black=0.2,grey=0.1,white=0.1,pair=0.1,anomaly=0.1,malformed=0.1"


def sim(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EIR_SIM, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
        check=False,
        cwd=ROOT,
    )


def report(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def test_s13_every_kind_checked_against_the_daemon(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "s13.json"
    html = tmp_path / "s13.html"
    with serve(demo_db) as served:
        result = sim(
            "run",
            "--target",
            f"tcp://127.0.0.1:{served.port()}",
            "--protocol",
            "s13",
            "--concurrency",
            "8",
            "--connections",
            "2",
            "--requests",
            "3000",
            "--lists",
            DEMO,
            "--mix",
            FULL_MIX,
            "--seed",
            "5",
            "--json",
            out,
            "--html",
            html,
            "--live",
            "never",
        )
    assert result.returncode == 0, result.stderr + result.stdout
    doc = report(out)
    assert doc["sent"] == doc["answered"] == 3000
    assert doc["mismatches"] == doc["errors"] == doc["timeouts"] == 0
    assert set(doc["equipment_status"]) == {"black", "grey", "white"}
    assert {"2001", "5004", "5005"} <= set(doc["result_code"])
    assert doc["latency_ms"]["p99"] > 0 and doc["timeline"] and doc["client"]["cpu_s"] > 0
    assert "<svg" in html.read_text()
    assert "s13" in result.stdout and "equipment status" in result.stdout


@pytest.mark.parametrize("version", ["1", "2", "3"])
def test_map_open_loop_every_kind_checked(demo_db: Path, tmp_path: Path, version: str) -> None:
    out = tmp_path / "map.json"
    with serve(demo_db) as served:
        result = sim(
            "run",
            "--target",
            f"127.0.0.1:{served.port('m3ua')}",
            "--protocol",
            "map",
            "--map-version",
            version,
            "--sccp",
            "xudt" if version == "2" else "udt",
            "--rate",
            "400",
            "--duration",
            "2",
            "--lists",
            DEMO,
            "--mix",
            FULL_MIX,
            "--json",
            out,
            "--live",
            "never",
        )
    assert result.returncode == 0, result.stderr + result.stdout
    doc = report(out)
    assert doc["sent"] == doc["answered"] and 700 <= doc["sent"] <= 820
    assert doc["mismatches"] == 0
    assert {
        "result",
        "error:unexpectedDataValue",
        "p-abort:badlyFormattedTransactionPortion",
    } <= set(doc["result_code"])
    assert doc["rate"] == pytest.approx(400, rel=0.2)


def _results_in_metrics(served: Any, protocol: str) -> dict[str, float]:
    """eir_checks_total of `protocol` summed over the statuses, by result."""
    from tests.integration.test_mqtt import metrics

    out: dict[str, float] = {}
    for key, value in metrics(served).items():
        found = re.fullmatch(r"eir_checks_total\{protocol=(.+),result=(.+),status=.+\}", key)
        if found and found.group(1) == protocol:
            out[found.group(2)] = out.get(found.group(2), 0) + value
    return out


def _wait_results(served: Any, protocol: str, want: dict[str, int]) -> dict[str, float]:
    deadline = time.monotonic() + 20
    seen = _results_in_metrics(served, protocol)
    while seen != want and time.monotonic() < deadline:  # the metrics are sampled each second
        time.sleep(0.1)
        seen = _results_in_metrics(served, protocol)
    return seen


def test_sim_reports_results_under_the_names_of_the_daemons_metrics(
    demo_db: Path, tmp_path: Path
) -> None:
    """One naming (eir.sigtran.outcomes, eir.diameter.results): each result eir-sim reports is
    an `eir_checks_total` label of the same protocol with the same count."""
    mix = "black=0.2,grey=0.1,white=0.1,pair=0.1,anomaly=0.1,malformed=0.4"
    with serve(demo_db) as served:
        for protocol, port in (("map", served.port("m3ua")), ("s13", served.port())):
            out = tmp_path / f"{protocol}.json"
            result = sim(
                "run",
                "--target",
                f"tcp://127.0.0.1:{port}",
                "--protocol",
                protocol,
                "--requests",
                "600",
                "--concurrency",
                "8",
                "--lists",
                DEMO,
                "--mix",
                mix,
                "--seed",
                "3",
                "--json",
                out,
                "--live",
                "never",
            )
            assert result.returncode == 0, result.stderr + result.stdout
            doc = report(out)
            assert doc["flows"][0]["protocol"] == protocol
            want = doc["result_code"]
            assert _wait_results(served, protocol, want) == want
    assert {
        "result",
        "error:unexpectedDataValue",
        "error:dataMissing",
        "reject:invoke:mistypedArgument",
        "reject:invoke:unrecognizedOperation",
        "p-abort:badlyFormattedTransactionPortion",
    } <= set(report(tmp_path / "map.json")["result_code"])
    assert {"2001", "5004", "5005"} <= set(report(tmp_path / "s13.json")["result_code"])


def test_several_processes_and_a_scenario_of_two_flows(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    with serve(demo_db) as served:
        result = sim(
            "run",
            "--scenario",
            "conf/scenarios/smoke.toml",
            "--target",
            f"s13=tcp://127.0.0.1:{served.port()}",
            "--target",
            f"map=tcp://127.0.0.1:{served.port('m3ua')}",
            "--duration",
            "2",
            "--processes",
            "2",
            "--connections",
            "2",
            "--json",
            out,
            "--live",
            "never",
        )
    assert result.returncode == 0, result.stderr + result.stdout
    doc = report(out)
    assert [f["name"] for f in doc["flows"]] == ["s13", "map"]
    assert all(f["answered"] == f["sent"] >= 350 for f in doc["flows"])
    assert doc["client"]["processes"] == 4
    assert doc["mismatches"] == 0 and doc["gates"]["passed"]


def test_gates_fail_when_they_should(demo_db: Path, tmp_path: Path) -> None:
    grey_unknown = tmp_path / "eir.toml"
    grey_unknown.write_text('[policy]\nunknown = "grey"\n')
    with serve(demo_db) as served:
        target = f"tcp://127.0.0.1:{served.port()}"
        slow = sim(
            "run", "--target", target, "--requests", "200", "--min-rate", "1e9", "--live", "never"
        )
        assert slow.returncode == 1 and "under --min-rate" in slow.stderr
        tight = sim(
            "run",
            "--target",
            target,
            "--requests",
            "200",
            "--max-p99-ms",
            "0.000001",
            "--live",
            "never",
        )
        assert tight.returncode == 1 and "over --max-p99-ms" in tight.stderr
        # the simulator believes unknown IMEIs are greylisted; the EIR says white
        wrong = sim(
            "run",
            "--target",
            target,
            "--requests",
            "200",
            "--policy-config",
            grey_unknown,
            "--mix",
            "unknown=1",
            "--live",
            "never",
        )
        assert wrong.returncode == 1
        assert "expected 2001 grey, got 2001 white" in wrong.stderr
        assert "mismatch" in wrong.stdout and "unknown: imei" in wrong.stdout
        good = sim(
            "run",
            "--target",
            target,
            "--requests",
            "200",
            "--max-error-rate",
            "0",
            "--max-p99-ms",
            "5000",
            "--live",
            "never",
        )
        assert good.returncode == 0, good.stderr


def test_usage_and_connection_errors() -> None:
    assert sim("run").returncode == 2
    bad_mix = sim("run", "--target", "127.0.0.1:1", "--mix", "purple=1")
    assert bad_mix.returncode == 2 and "purple" in bad_mix.stderr
    no_lists = sim("run", "--target", "127.0.0.1:1", "--mix", "black=0.5")
    assert no_lists.returncode == 1 and "--lists" in no_lists.stderr
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    refused = sim("run", "--target", f"127.0.0.1:{port}", "--requests", "1")
    assert refused.returncode == 1 and "cannot connect" in refused.stderr
    sctp = sim("run", "--target", f"sctp://127.0.0.1:{port}", "--requests", "1")
    assert sctp.returncode == 1 and "cannot connect" in sctp.stderr  # no SCTP here, or refused
    help_text = sim("run", "--help").stdout
    assert "--max-p99-ms" in help_text and "examples:" in help_text


class StallingEir:
    """A Diameter EIR that answers the CER, then holds every answer for `stall` seconds once."""

    def __init__(self, stall: float) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stall = stall
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with self.listener:
            sock, _ = self.listener.accept()
        with sock:
            self._answer(sock)

    def _answer(self, sock: socket.socket) -> None:
        peer = PeerConnection(
            settings(),
            Role.RESPONDER,
            time.monotonic(),
            "127.0.0.1",
            application(store=demo_store()),
        )
        stalled = False
        while True:
            data = sock.recv(65536)
            if not data:
                return
            peer.receive_data(data, time.monotonic())
            if peer.pending and not stalled:
                stalled = True
                time.sleep(self.stall)
                continue  # answer what came meanwhile on the next read
            peer.process(1 << 20)
            sock.sendall(peer.data_to_send())


def test_open_loop_latency_counts_from_the_intended_send_time(tmp_path: Path) -> None:
    """A server that stalls for a second cannot hide it: requests due meanwhile are late by
    up to that second, though each is answered at once when the server wakes."""
    eir = StallingEir(1.0)
    out = tmp_path / "stall.json"
    result = sim(
        "run",
        "--target",
        f"127.0.0.1:{eir.port}",
        "--destination-realm",
        "test.example",
        "--rate",
        "200",
        "--duration",
        "2",
        "--json",
        out,
        "--live",
        "never",
    )
    eir.thread.join(10)  # the simulator has gone: so has its connection
    assert result.returncode == 0, result.stderr + result.stdout
    doc = report(out)
    assert doc["latency_ms"]["max"] >= 900
    # half the requests were due during the stall: their latencies spread over 0 to 1 s
    assert doc["latency_ms"]["p90"] >= 400


def test_replay_of_hex_files_and_of_a_pcap(demo_db: Path, tmp_path: Path) -> None:
    capture = tmp_path / "ecrs.pcap"
    write_pcap(capture, [make_ecr(hbh=7), make_ecr("356938035643809", hbh=8)])
    vectors = ROOT / "tests" / "vectors"
    with serve(demo_db) as served:
        s13 = sim(
            "replay",
            vectors / "diameter" / "ecr_imei15.hex",
            "--target",
            f"127.0.0.1:{served.port()}",
        )
        pcap = sim("replay", capture, "--target", f"127.0.0.1:{served.port()}")
        map_ = sim(
            "replay",
            vectors / "map" / "tcap_begin_v2.hex",
            vectors / "map" / "m3ua_data_udt_v3.hex",
            "--target",
            f"tcp://127.0.0.1:{served.port('m3ua')}",
        )
    assert s13.returncode == 0, s13.stderr
    assert "Result-Code: 2001" in s13.stdout and "Equipment-Status vendor 10415: 1" in s13.stdout
    assert pcap.returncode == 0, pcap.stderr
    assert pcap.stdout.count("<-- Diameter answer") == 2
    assert map_.returncode == 0, map_.stderr
    assert map_.stdout.count("<-- M3UA DATA") == 2 and "blackListed" in map_.stdout
    bad = sim("replay", tmp_path / "nothing.hex", "--target", "127.0.0.1:1")
    assert bad.returncode == 2 and "no such file" in bad.stderr


def test_a_dead_eir_fails_the_run_and_the_live_line_shows_progress(
    demo_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dead.json"
    with serve(demo_db) as served:
        proc = subprocess.Popen(
            [
                EIR_SIM,
                "run",
                "--target",
                f"127.0.0.1:{served.port()}",
                "--rate",
                "200",
                "--duration",
                "30",
                "--json",
                str(out),
                "--live",
                "always",
                "--timeout",
                "1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
            cwd=ROOT,
        )
        # Kill the EIR once the live line shows 600 requests sent (a loaded machine may take
        # longer than usual to get there: wait for it, never a fixed time).
        seen = _read_until(proc, lambda text: _sent(text) >= 600, deadline_s=60)
        served.proc.kill()
        stdout, rest = proc.communicate(timeout=60)
        stderr = seen + rest
    assert proc.returncode == 1, stderr
    assert "every connection was lost" in stderr
    assert " s  sent" in stderr and "rate" in stderr and "p99" in stderr  # the live line
    doc = report(out)
    assert 400 <= doc["sent"] < 6000 and doc["answered"] >= 400
    assert "connection lost" in " ".join(doc["error_kinds"]) or doc["errors"] == 0
    assert "stopped early" in stdout or doc["stopped_early"]


def _sent(text: str) -> int:
    counts = re.findall(r"sent\s+([\d,]+)", text)
    return int(counts[-1].replace(",", "")) if counts else 0


def _read_until(proc: subprocess.Popen[str], done: Callable[[str], bool], deadline_s: float) -> str:
    """What the process wrote on stderr until `done` holds for it (or the deadline passes)."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            if done(b"".join(chunks).decode(errors="replace")):
                break
    os.set_blocking(fd, True)
    return b"".join(chunks).decode(errors="replace")
