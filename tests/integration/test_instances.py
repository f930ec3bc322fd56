"""One `eir serve` per port and per store; workers that die with their supervisor (issue 13)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from eir.diameter.node import NodeIdentity
from eir.model import EquipmentStatus
from eir.startup import WORKERS_LOCK
from tests.support.diameter import BLACK, EIR_BIN, BlockingClient, Served, child_pids, serve
from tests.support.logs import said

S = EquipmentStatus


def refused(db: Path, *args: str, timeout: float = 60.0) -> list[str]:
    """Run `eir serve` that must refuse to start: its stderr lines, once it exited 1. One
    that gets ready instead is stopped and fails the test."""
    proc = subprocess.Popen(
        [EIR_BIN, "serve", "--db", str(db), "--metrics-listen", "", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        with proc.stderr:
            for line in proc.stderr:
                lines.append(said(line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if any(line.startswith("eir: ready") for line in lines):
                raise AssertionError(f"a second instance started: {lines}")
            time.sleep(0.02)
        assert proc.poll() is not None, f"still running after {timeout}s: {lines}"
    finally:
        if proc.poll() is None:  # a SIGKILL would leave its workers behind before the fix
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()
    reader.join(10)
    assert proc.returncode == 1, lines
    assert not any("Traceback" in line for line in lines), lines
    assert len([line for line in lines if line.strip()]) == 1, lines
    return lines


def answers_black(port: int, clients: int = 8) -> None:
    """Fresh peers each get the blacklisted IMEI answered from the demo lists."""
    for i in range(clients):
        client = BlockingClient(port, local=NodeIdentity(f"fresh{i}.x", "x"))
        try:
            assert client.check(BLACK).equipment_status is S.BLACKLISTED
        finally:
            client.close()


def workers(count: int) -> tuple[str, ...]:
    return ("--workers", str(count)) if count > 1 else ()


@pytest.mark.parametrize(("first", "second"), [(2, 2), (2, 1), (1, 2)])
def test_a_second_instance_on_the_same_ports_is_refused(
    demo_db: Path, tmp_path: Path, first: int, second: int
) -> None:
    with serve(demo_db, *workers(first)) as served:
        port = served.port()
        lines = refused(
            tmp_path / "other",
            "--create",
            "--diameter-listen",
            f"tcp://127.0.0.1:{port}",
            "--m3ua-listen",
            "tcp://127.0.0.1:0",
            *workers(second),
        )
        assert lines[0].startswith("eir: ") and "in use" in lines[0], lines
        assert f"diameter tcp 127.0.0.1:{port}" in lines[0], lines
        answers_black(port)
        m3ua = served.port("m3ua")
        lines = refused(
            tmp_path / "other",
            "--create",
            "--diameter-listen",
            "tcp://127.0.0.1:0",
            "--m3ua-listen",
            f"tcp://127.0.0.1:{m3ua}",
            *workers(second),
        )
        assert f"m3ua tcp 127.0.0.1:{m3ua}" in lines[0] and "in use" in lines[0], lines
        answers_black(port)
    assert served.proc.returncode == 0


@pytest.mark.parametrize("count", [1, 2])
def test_a_second_instance_on_the_same_store_is_refused(demo_db: Path, count: int) -> None:
    with serve(demo_db, "--workers", "2") as served:
        lines = refused(
            demo_db,
            "--diameter-listen",
            "tcp://127.0.0.1:0",
            "--m3ua-listen",
            "tcp://127.0.0.1:0",
            *workers(count),
        )
        assert f"pid {served.proc.pid}" in lines[0], lines
        answers_black(served.port())


def _alive(pid: int) -> bool:
    """Running (a zombie is not: nobody may reap an orphan in a container)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_workers_and_resource_tracker_go_when_the_supervisor_is_killed(demo_db: Path) -> None:
    children: list[int] = []
    try:
        with serve(demo_db, "--workers", "2") as served:
            children = child_pids(served.proc.pid)
            spawned = [pid for pid in children if "spawn_main" in _cmdline(pid)]
            assert len(spawned) == 2, [(pid, _cmdline(pid)) for pid in children]
            # started by multiprocessing's spawn; it must go with the workers
            assert any("resource_tracker" in _cmdline(pid) for pid in children)
            served.proc.send_signal(signal.SIGKILL)
            served.proc.wait()
        # at once, as a service manager would: it waits for the workers to finish stopping
        with serve(demo_db, "--workers", "2") as again:
            deadline = time.monotonic() + 20
            while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
                time.sleep(0.05)
            left = [(pid, _cmdline(pid)) for pid in children if _alive(pid)]
            assert not left, f"left running after the supervisor's SIGKILL: {left}"
            answers_black(again.port(), clients=2)
        assert again.proc.returncode == 0
    finally:
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


HOLD = """
import fcntl, sys
handle = open(sys.argv[1], "a+")
fcntl.flock(handle, fcntl.LOCK_SH)
print("held", flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("count", [1, 2])
def test_orphans_holding_the_store_refuse_a_start(demo_db: Path, count: int) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(demo_db / WORKERS_LOCK)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline() == "held\n"
        lines = refused(
            demo_db,
            "--diameter-listen",
            "tcp://127.0.0.1:0",
            "--m3ua-listen",
            "tcp://127.0.0.1:0",
            *workers(count),
        )
        assert str(holder.pid) in lines[0] and str(demo_db) in lines[0], lines
    finally:
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()
    with serve(demo_db, *workers(count)) as served:
        answers_black(served.port(), clients=1)


def test_lists_can_be_read_and_loaded_while_serving(demo_db: Path, tmp_path: Path) -> None:
    from tests.support.cli import eir

    extra = tmp_path / "extra.csv"
    extra.write_text("imei\n35209900176148\n")
    with serve(demo_db, "--workers", "2") as served:
        assert isinstance(served, Served)
        assert (
            eir("load", extra, "--list", "grey", "--source", "t", "--db", demo_db).returncode == 0
        )
        result = eir("lookup", "--db", demo_db, "35209900176148")
        assert result.returncode == 0 and "greylisted" in result.stdout, result
        assert eir("stats", "--db", demo_db).returncode == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_two_instances_started_at_once_on_one_port(tmp_path: Path) -> None:
    """Both pass a probe of the port before either listens (the workers take a second to
    import): only one may serve it."""
    port = _free_port()
    procs = [
        subprocess.Popen(
            [
                EIR_BIN,
                "serve",
                "--db",
                str(tmp_path / f"db{i}"),
                "--create",
                "--workers",
                "2",
                "--diameter-listen",
                f"127.0.0.1:{port}",
                "--m3ua-listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "",
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        for i in range(2)
    ]
    lines: list[list[str]] = [[], []]

    def read(i: int) -> None:
        stream = procs[i].stderr
        assert stream is not None
        with stream:
            for line in stream:
                lines[i].append(said(line.rstrip("\n")))

    for i in range(2):
        threading.Thread(target=read, args=(i,), daemon=True).start()

    def settled(i: int) -> bool:
        return procs[i].poll() is not None or "eir: ready (2 workers)" in lines[i]

    deadline = time.monotonic() + 60
    try:
        while not all(settled(i) for i in range(2)) and time.monotonic() < deadline:
            time.sleep(0.02)
        ready = [i for i in range(2) if "eir: ready (2 workers)" in lines[i]]
        assert len(ready) == 1, lines
        other = 1 - ready[0]
        assert procs[other].wait(30) == 1, lines
        assert [line for line in lines[other] if line] == [
            f"eir: cannot listen on diameter tcp 127.0.0.1:{port}: the port is in use "
            "(another eir serve?)"
        ], lines
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("count", [1, 2])
def test_metrics_port_taken_is_refused_before_anything_starts(demo_db: Path, count: int) -> None:
    """It was found after the workers had started, which the supervisor's exit left running."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = subprocess.run(
            [
                EIR_BIN,
                "serve",
                "--db",
                str(demo_db),
                "--metrics-listen",
                f"127.0.0.1:{port}",
                "--diameter-listen",
                "127.0.0.1:0",
                "--m3ua-listen",
                "127.0.0.1:0",
                *workers(count),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 1, proc.stderr
    assert [said(line) for line in proc.stderr.splitlines()] == [
        f"eir: cannot listen on metrics tcp 127.0.0.1:{port}: the port is in use "
        "(another eir serve?)"
    ], proc.stderr
