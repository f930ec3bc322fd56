"""`eir.notify` (the datagrams, abstract names, a failure logged once) and `eir.reload` (what
changed, what is applied, what a broken file does) in this process."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from eir.config import Config, load_config, parse_config
from eir.errors import ConfigFileError
from eir.notify import Notifier, address_of, message
from eir.reload import Reloader, changes, merged
from eir.reload import status as reload_status


def test_message_and_addresses() -> None:
    assert (
        message(ready=1, status="ready: x", mainpid=7) == b"READY=1\nSTATUS=ready: x\nMAINPID=7\n"
    )
    assert address_of("@eir/notify") == b"\0eir/notify"
    assert address_of("/run/systemd/notify") == "/run/systemd/notify"


def test_nothing_without_notify_socket() -> None:
    assert Notifier({}).ready("ready") is False


def test_datagrams_to_an_abstract_socket() -> None:
    name = f"@eir-unit-notify-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address_of(name))
        sock.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": name})
        assert notifier.reloading() and notifier.ready("reloaded") and notifier.stopping()
        reloading = sock.recv(4096).decode().splitlines()
        assert reloading[0] == "RELOADING=1" and reloading[2].startswith("MONOTONIC_USEC=")
        assert sock.recv(4096).startswith(b"READY=1\nSTATUS=reloaded\nMAINPID=")
        assert sock.recv(4096) == b"STOPPING=1\nSTATUS=stopping\n"


def test_a_failure_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.WARNING, "eir.notify"):
        assert notifier.ready("ready") is False
        assert notifier.stopping() is False
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot notify the service manager at {tmp_path / 'gone'}: "
        "[Errno 2] No such file or directory"
    ]


def test_changes_reloadable_or_not() -> None:
    new = parse_config(
        {"log": {"level": "debug"}, "service": {"workers": 2}, "policy": {"unknown": "grey"}},
        "x.toml",
    )
    found = changes(Config(), new)
    assert [c.line for c in found] == [
        "policy.unknown white -> grey",
        "log.level info -> debug",
        "service.workers 1 -> 2 needs a restart; still 1",
    ]
    kept = merged(Config(), new, [c for c in found if c.reloadable])
    assert (kept.log.level, kept.policy.unknown, kept.service.workers) == ("debug", "grey", 1)


def test_reloader_applies_and_keeps_on_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "eir.reload.say",
        lambda line, level=logging.INFO: said.append((logging.getLevelName(level), line)),
    )
    path = tmp_path / "eir.toml"
    path.write_text('[log]\nlevel = "info"\n')
    applied: list[Config] = []
    reloader = Reloader(load_config(path), lambda: load_config(path), applied.append)
    path.write_text('[log]\nlevel = "debug"\n[service]\nworkers = 3\n')
    assert reloader.reload() is None
    assert [(c.log.level, c.service.workers) for c in applied] == [("debug", 1)]
    path.write_text('[log]\nlevel = "loud"\nbad = 1\n')
    unknown = f"{path}: log.bad: unknown key (known here: checks, checks_per_second, format, level)"
    assert reloader.reload() == unknown  # the first error: the service manager's status
    assert len(applied) == 1
    path.unlink()
    assert reloader.reload() == f"{path}: no such file"
    assert said == [
        ("INFO", f"eir: reloaded {path}: log.level info -> debug"),
        ("INFO", f"eir: reloaded {path}: service.workers 1 -> 3 needs a restart; still 1"),
        ("WARNING", f"eir: cannot reload: {unknown}"),
        (
            "WARNING",
            f"eir: cannot reload: {path}: log.level: 'loud' is not one of debug, info, warning, "
            "error",
        ),
        ("WARNING", f"eir: cannot reload: {path}: no such file"),
    ]
    assert len(applied) == 1


def test_reload_status_says_a_failure() -> None:
    assert reload_status(None) == "reloaded"
    assert reload_status("eir.toml: log.level: 'loud' is not one of debug, info") == (
        "reload failed: eir.toml: log.level: 'loud' is not one of debug, info"
    )
    assert reload_status("first line\nsecond") == "reload failed: first line"


def test_every_error_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        "[nope]\n[store]\nmap_size = 5\n[[diameter.peers]]\naddress = 5\n"
        "[[diameter.peers]]\nhost = 1\n"
    )
    with pytest.raises(ConfigFileError) as raised:
        load_config(path)
    assert raised.value.exit_code == 1
    assert raised.value.messages == [
        f"{path}: nope: unknown key (known here: cases, diameter, distribution, events, "
        "lifecycle, lists, log, m3ua, metrics, mqtt, observations, pairs, policy, service, "
        "store, versions)",
        f"{path}: store.map_size: unknown key (known here: create, map_size_mb, "
        "max_map_size_mb, max_remove, path, read_snapshot_ms, sync)",
        f"{path}: diameter.peers[0].address: expected a string, got int",
        f"{path}: diameter.peers[1].address: missing",
        f"{path}: diameter.peers[1].host: expected a string, got int",
    ]
