"""`eir serve` as a service (issue 19): the systemd unit's ExecStart run as systemd would, the
notify protocol over a fake ``NOTIFY_SOCKET``, SIGHUP reloads, the metrics a service exposes,
one exit code and every error of a bad configuration, and startup failures that say one line.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from eir.model import EquipmentStatus
from tests.support.cli import env
from tests.support.diameter import BLACK, EIR_BIN, LISTENING, BlockingClient
from tests.support.logs import TEXT_LINE, said
from tests.support.mqtt import broker, credentials, mosquitto_or_skip

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "conf" / "systemd" / "eir.service"
S = EquipmentStatus


def exec_start(config: Path) -> list[str]:
    """The unit's ExecStart, with this checkout's eir and the test's configuration."""
    lines = [line for line in UNIT.read_text().splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1, lines
    argv = shlex.split(lines[0].removeprefix("ExecStart="))
    assert argv[:2] == ["/usr/local/bin/eir", "serve"] and "/etc/eir/eir.toml" in argv
    return [
        EIR_BIN if a == argv[0] else str(config) if a == "/etc/eir/eir.toml" else a for a in argv
    ]


def config_text(db: Path, level: str = "info", extra: str = "") -> str:
    return (
        f'[store]\npath = "{db}"\n[log]\nlevel = "{level}"\n'
        '[diameter]\nlisten = ["tcp://127.0.0.1:0"]\n'
        '[m3ua]\nlisten = ["tcp://127.0.0.1:0"]\n'
        '[metrics]\nlisten = "127.0.0.1:0"\n' + extra
    )


class Notifications:
    """A fake service manager's NOTIFY_SOCKET: a bound unix datagram socket."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(b"\0" + address[1:].encode() if address.startswith("@") else address)
        self.address = address

    def next(self, timeout: float = 60.0) -> dict[str, str]:
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.splitlines())

    def close(self) -> None:
        self.sock.close()


class Daemon:
    """A running `eir serve`: its stderr lines as they come."""

    def __init__(self, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env() | (extra_env or {}),
        )
        #: the lines as ``LOGGER: MESSAGE`` (``eir: ready``), and as written
        self.lines: list[str] = []
        self.raw: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            for line in self.proc.stderr:
                with self.changed:
                    self.raw.append(line.rstrip("\n"))
                    self.lines.append(said(line.rstrip("\n")))
                    self.changed.notify_all()
        with self.changed:
            self.raw.append("<eof>")
            self.lines.append("<eof>")
            self.changed.notify_all()

    def wait_for(
        self, wanted: Callable[[str], bool], after: int = 0, timeout: float = 60, raw: bool = False
    ) -> str:
        """The first line from index ``after`` that is ``wanted`` (as written with ``raw``)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in (self.raw if raw else self.lines)[after:]:
                    if wanted(line):
                        return line
                    if line == "<eof>":
                        raise AssertionError(f"eir exited {self.proc.wait()}: {self.lines}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"not seen in {timeout}s: {self.lines}")
                self.changed.wait(left)

    def port(self, protocol: str) -> int:
        for line in self.lines:
            m = LISTENING.match(line)
            if m and m.group(1) == protocol:
                return int(m.group(4))
        raise AssertionError(f"no {protocol} listener in {self.lines}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.reader.join(timeout=10)
        return code


@contextmanager
def daemon(argv: list[str], extra_env: dict[str, str] | None = None) -> Iterator[Daemon]:
    running = Daemon(argv, extra_env)
    try:
        yield running
    finally:
        running.stop()


def connects_and_leaves(port: int) -> None:
    """A connection closed before its CER: eir logs it at DEBUG only."""
    socket.create_connection(("127.0.0.1", port), timeout=10).close()


def answers_black(port: int) -> None:
    client = BlockingClient(port)
    try:
        assert client.check(BLACK).equipment_status is S.BLACKLISTED
    finally:
        client.close()


def test_unit_file_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: the systemd package)")
    unit = tmp_path / "eir.service"  # verify wants ExecStart's program to exist
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/eir", EIR_BIN))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    text = UNIT.read_text()
    for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure"):
        assert line in text.splitlines()


def test_exec_start_notifies_reloads_and_stops(tmp_path: Path, demo_db: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text(config_text(demo_db))
    notify = Notifications(str(tmp_path / "notify"))
    try:
        with daemon(exec_start(config), {"NOTIFY_SOCKET": notify.address}) as eir:
            ready = notify.next()
            assert ready["READY"] == "1" and ready["MAINPID"] == str(eir.proc.pid)
            assert ready["STATUS"].startswith("ready: metrics http 127.0.0.1:")
            eir.wait_for(lambda s: s == "eir: ready")  # said with READY=1 (its reader may lag)
            port = eir.port("diameter")
            answers_black(port)
            connects_and_leaves(port)  # at info, says nothing
            seen = len(eir.lines)

            config.write_text(config_text(demo_db, "debug"))
            eir.proc.send_signal(signal.SIGHUP)
            reloading = notify.next()
            assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
            assert notify.next()["READY"] == "1"
            line = eir.wait_for(lambda s: s.startswith("eir: reloaded"), seen)
            assert line == f"eir: reloaded {config}: log.level info -> debug"
            assert not any(re.search(r"\bDEBUG\b", s) for s in eir.raw[:seen])
            answers_black(port)  # still answering
            connects_and_leaves(port)  # and now logging at debug
            eir.wait_for(lambda s: re.search(r"\bDEBUG\b", s) is not None, seen, raw=True)
            assert eir.proc.poll() is None

            eir.proc.send_signal(signal.SIGTERM)
            assert notify.next()["STOPPING"] == "1"
            assert eir.proc.wait(timeout=30) == 0
    finally:
        notify.close()


def test_reload_keeps_what_needs_a_restart_and_a_broken_file(tmp_path: Path, demo_db: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text(config_text(demo_db))
    notify = Notifications(str(tmp_path / "notify"))
    try:
        with daemon(exec_start(config), {"NOTIFY_SOCKET": notify.address}) as eir:
            assert notify.next()["READY"] == "1"
            eir.wait_for(lambda s: s == "eir: ready")
            port = eir.port("diameter")
            seen = len(eir.lines)
            config.write_text(
                config_text(demo_db, extra='[service]\nworkers = 2\n[policy]\nunknown = "grey"\n')
            )
            eir.proc.send_signal(signal.SIGHUP)
            assert notify.next()["RELOADING"] == "1"
            assert notify.next()["STATUS"] == "reloaded"
            eir.wait_for(lambda s: "service.workers" in s, seen)
            assert eir.lines[seen:] == [
                f"eir: reloaded {config}: policy.unknown white -> grey",
                f"eir: reloaded {config}: service.workers 1 -> 2 needs a restart; still 1",
            ]
            client = BlockingClient(port)
            assert client.check("35209900176148").equipment_status is S.GREYLISTED  # reloaded
            client.close()

            # a file that does not read: every error at WARNING, eir serving as it did
            seen = len(eir.lines)
            config.write_text('[store]\nmap_size = 5\n[log]\nlevel = "loud"\n')
            eir.proc.send_signal(signal.SIGHUP)
            assert notify.next()["RELOADING"] == "1"
            failed = notify.next()
            unknown = (
                f"{config}: store.map_size: unknown key (known here: create, map_size_mb, "
                "max_map_size_mb, max_remove, path, read_snapshot_ms, sync)"
            )
            assert (failed["READY"], failed["STATUS"]) == ("1", f"reload failed: {unknown}")
            eir.wait_for(lambda s: "log.level" in s, seen)
            assert eir.lines[seen:] == [
                f"eir: cannot reload: {unknown}",
                f"eir: cannot reload: {config}: log.level: 'loud' is not one of debug, info, "
                "warning, error",
            ]
            assert [level_of(line) for line in eir.raw[seen:]] == ["WARNING", "WARNING"]

            seen = len(eir.lines)
            config.unlink()
            eir.proc.send_signal(signal.SIGHUP)
            assert notify.next()["RELOADING"] == "1"
            assert notify.next()["STATUS"] == f"reload failed: {config}: no such file"
            line = eir.wait_for(lambda s: s.startswith("eir: cannot reload"), seen)
            assert line == f"eir: cannot reload: {config}: no such file"
            assert level_of(eir.raw[eir.lines.index(line, seen)]) == "WARNING"
            answers_black(port)
            client = BlockingClient(port)
            assert client.check("35209900176148").equipment_status is S.GREYLISTED  # kept
            client.close()
            assert eir.stop() == 0
    finally:
        notify.close()


def level_of(line: str) -> str:
    """The level of a text log line."""
    found = TEXT_LINE.match(line)
    assert found is not None, line
    return found["level"]


def test_reload_keeps_the_command_line_log_options(tmp_path: Path, demo_db: Path) -> None:
    """``--log-level warning --log-format json`` over a file that says info and text: a reload
    of the unchanged file changes neither, and the peers' INFO lines stay unsaid."""
    config = tmp_path / "eir.toml"
    config.write_text(config_text(demo_db))  # level = "info", format text by default
    argv = [*exec_start(config), "--log-level", "warning", "--log-format", "json"]
    with daemon(argv) as eir:
        eir.wait_for(lambda s: s == "eir: ready")
        port = eir.port("diameter")
        answers_black(port)
        eir.proc.send_signal(signal.SIGHUP)
        assert eir.wait_for(lambda s: s.startswith("eir: reloaded")) == (
            f"eir: reloaded {config}: no change"
        )
        answers_black(port)  # a peer up and down again: INFO, not said at warning
        assert eir.stop() == 0
    records = [json.loads(line) for line in eir.raw[:-1]]  # every line JSON; then <eof>
    assert eir.raw[-1] == "<eof>"
    said_lines = [f"{r['logger']}: {r['message']}" for r in records]
    assert not [s for s in said_lines if "log.level" in s or "log.format" in s], said_lines
    assert [r for r in records if r["level"] == "info" and r["logger"] != "eir"] == []
    assert said_lines[-1] == "eir: stopping"


def test_reload_turns_the_check_log_on(tmp_path: Path, demo_db: Path) -> None:
    """``log.checks`` from none to non-white by SIGHUP: the next black check gets its line."""
    config = tmp_path / "eir.toml"
    config.write_text(config_text(demo_db).replace("[log]\n", '[log]\nchecks = "none"\n'))
    with daemon(exec_start(config)) as eir:
        eir.wait_for(lambda s: s == "eir: ready")
        port = eir.port("diameter")
        answers_black(port)  # no line: log.checks = "none"
        config.write_text(config_text(demo_db))  # log.checks by default: non-white
        eir.proc.send_signal(signal.SIGHUP)
        reloaded = eir.wait_for(lambda s: s.startswith("eir: reloaded"))
        assert reloaded == f"eir: reloaded {config}: log.checks none -> non-white"
        before = eir.lines[: eir.lines.index(reloaded)]
        assert not [s for s in before if s.startswith("eir.checks")], before
        answers_black(port)
        line = eir.wait_for(lambda s: s.startswith("eir.checks"))
        assert line.startswith("eir.checks: check imei 490154203237518 imsi - over s13 from ")
        assert line.endswith(": black (imei: imei 49015420323751 on black from demo)")
        assert eir.stop() == 0


def test_workers_notify_once_all_ready_and_reload(tmp_path: Path, demo_db: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text(config_text(demo_db))
    notify = Notifications(f"@eir-test-notify-{tmp_path.name}-{time.monotonic_ns()}")
    argv = [*exec_start(config), "--workers", "2"]
    try:
        with daemon(argv, {"NOTIFY_SOCKET": notify.address}) as eir:
            ready = notify.next()
            eir.wait_for(lambda s: s == "eir: ready (2 workers)")  # said with READY=1
            assert ready["READY"] == "1" and ready["MAINPID"] == str(eir.proc.pid)
            port = eir.port("diameter")
            assert ready["STATUS"] == (  # every listener, as a process serving alone says them
                f"ready: metrics http 127.0.0.1:{eir.port('metrics')}, "
                f"diameter tcp 127.0.0.1:{port}, m3ua tcp 127.0.0.1:{eir.port('m3ua')} (2 workers)"
            )
            seen = len(eir.lines)
            config.write_text(config_text(demo_db, "debug"))
            eir.proc.send_signal(signal.SIGHUP)
            assert notify.next()["RELOADING"] == "1"
            assert notify.next()["READY"] == "1"
            eir.wait_for(lambda s: s.startswith("eir: reloaded"), seen)
            for _ in range(4):  # whichever worker takes it logs at debug now
                answers_black(port)
                connects_and_leaves(port)
            eir.wait_for(lambda s: re.search(r"\bDEBUG\b", s) is not None, seen, raw=True)
            reloaded = [s for s in eir.lines if s.startswith("eir: reloaded")]
            assert reloaded == [f"eir: reloaded {config}: log.level info -> debug"]  # once
            metrics = scrape(eir.port("metrics"))
            assert re.search(r'^process_cpu_seconds_total\{worker="1"\} ', metrics, re.M)

            seen = len(eir.lines)
            config.write_text('[log]\nlevel = "loud"\n')
            eir.proc.send_signal(signal.SIGHUP)
            assert notify.next()["RELOADING"] == "1"
            loud = f"{config}: log.level: 'loud' is not one of debug, info, warning, error"
            assert notify.next()["STATUS"] == f"reload failed: {loud}"
            line = eir.wait_for(lambda s: s.startswith("eir: cannot reload"), seen)
            assert line == f"eir: cannot reload: {loud}"
            assert level_of(eir.raw[eir.lines.index(line, seen)]) == "WARNING"
            answers_black(port)
            assert [s for s in eir.lines if "cannot reload" in s] == [line]  # said once
            eir.proc.send_signal(signal.SIGTERM)
            assert notify.next()["STOPPING"] == "1"
            assert eir.proc.wait(timeout=30) == 0
    finally:
        notify.close()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text: str = answer.read().decode()
    return text


def test_metrics_have_build_info_and_process(tmp_path: Path, demo_db: Path) -> None:
    import platform
    from importlib.metadata import version

    import lmdb

    from eir import __version__

    config = tmp_path / "eir.toml"
    config.write_text(config_text(demo_db))
    with daemon(exec_start(config)) as eir:
        eir.wait_for(lambda s: s == "eir: ready")
        text = scrape(eir.port("metrics"))
    labels = (
        f'lmdb="{lmdb.__version__}",pycrate="{version("pycrate")}",'
        f'python="{platform.python_version()}",version="{__version__}"'
    )
    assert f"eir_build_info{{{labels}}} 1.0" in text.splitlines()
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
        "process_max_fds",
    ):
        assert re.search(rf"^{name} \d", text, re.M), name


def test_bad_config_says_every_error_and_exits_1(tmp_path: Path, demo_db: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text(
        '[store]\nmap_size = 5\n[log]\nlevel = "loud"\n[diameter]\nwatchdog_s = "soon"\n'
    )
    result = subprocess.run(
        [*exec_start(config), "--db", str(demo_db)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env(),
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"eir: {config}: store.map_size: unknown key (known here: create, map_size_mb, "
        "max_map_size_mb, max_remove, path, read_snapshot_ms, sync)",
        f"eir: {config}: log.level: 'loud' is not one of debug, info, warning, error",
        f"eir: {config}: diameter.watchdog_s: expected an integer or float, got str",
    ]


def failed_start(*args: str | Path, extra_env: dict[str, str] | None = None) -> list[str]:
    """`eir serve ...` that must fail to start: its stderr lines, once it exited 1."""
    result = subprocess.run(
        [EIR_BIN, "serve", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env() | (extra_env or {}),
        check=False,
    )
    assert result.returncode == 1, result.stderr
    return [said(line) for line in result.stderr.splitlines()]


#: an address no interface of a test machine has (TEST-NET-1, RFC 5737)
UNASSIGNED = "192.0.2.1"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_bind_failure_with_a_broker_says_one_line(
    tmp_path: Path, demo_db: Path, workers: str
) -> None:
    mosquitto_or_skip()
    with broker(tmp_path / "mqtt") as mqtt:
        lines = failed_start(
            "--db",
            demo_db,
            "--workers",
            workers,
            "--broker",
            mqtt.url,
            "--diameter-listen",
            f"tcp://{UNASSIGNED}:3868",
            "--m3ua-listen",
            "tcp://127.0.0.1:0",
            "--metrics-listen",
            "",
            extra_env=credentials("eir-node"),
        )
    # every port is tried before anything starts, alone as with a supervisor
    assert lines == [
        f"eir: cannot listen on diameter tcp {UNASSIGNED}:3868: Cannot assign requested address"
    ]


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--diameter-listen", f"tcp://{UNASSIGNED}:3868", f"diameter tcp {UNASSIGNED}:3868"),
        ("--diameter-listen", f"tcp://{UNASSIGNED}:0", f"diameter tcp {UNASSIGNED}:0"),
        ("--m3ua-listen", f"tcp://{UNASSIGNED}:2905", f"m3ua tcp {UNASSIGNED}:2905"),
        ("--metrics-listen", f"{UNASSIGNED}:9090", f"metrics tcp {UNASSIGNED}:9090"),
        ("--metrics-listen", f"{UNASSIGNED}:0", f"metrics tcp {UNASSIGNED}:0"),
    ],
)
def test_every_bind_failure_is_said_alike(
    demo_db: Path, workers: str, option: str, value: str, said: str
) -> None:
    listen = {
        "--diameter-listen": "tcp://127.0.0.1:0",
        "--m3ua-listen": "tcp://127.0.0.1:0",
        "--metrics-listen": "127.0.0.1:0",
    }
    listen[option] = value
    args = [x for pair in listen.items() for x in pair]
    lines = failed_start("--db", demo_db, "--workers", workers, *args)
    assert lines == [f"eir: cannot listen on {said}: Cannot assign requested address"]


def test_startup_failures_say_one_line(tmp_path: Path, demo_db: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        in_use = (
            f"eir: cannot listen on diameter tcp 127.0.0.1:{port}: the port is in use "
            "(another eir serve?)"
        )
        for workers in ("1", "2"):
            lines = failed_start(
                "--db",
                demo_db,
                "--workers",
                workers,
                "--diameter-listen",
                f"127.0.0.1:{port}",
                "--metrics-listen",
                "",
            )
            assert lines == [in_use], workers
    assert failed_start("--db", tmp_path / "none", "--metrics-listen", "") == [
        f"eir: {tmp_path / 'none'}: no list store here (create one with `eir load`, or serve an "
        "empty one with --create)"
    ]
    afile = tmp_path / "afile"
    afile.write_text("x\n")
    assert failed_start("--db", afile, "--create", "--metrics-listen", "") == [
        f"eir: {afile}: cannot open the list store: File exists"
    ]
    config = tmp_path / "eir.toml"
    config.write_text(config_text(demo_db))
    with daemon(exec_start(config)) as first:
        first.wait_for(lambda s: s == "eir: ready")
        assert failed_start("--config", config) == [
            f"eir: {demo_db}: another eir serve (pid {first.proc.pid}) is serving this store"
        ]
    assert failed_start("--config", tmp_path, "--db", demo_db) == [
        f"eir: {tmp_path}: cannot read: Is a directory"
    ]
