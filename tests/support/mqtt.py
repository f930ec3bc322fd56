"""A real mosquitto for tests, run with the configuration shipped in ``conf/mosquitto``.

Only what a test machine needs is changed in the shipped file: the listener's port (a free
one), the password file and persistence directory (in the test's own directory), and
``user`` (mosquitto started as root would otherwise switch to the ``mosquitto`` user, which
cannot write there). The ACL file is the shipped one, unchanged.
"""

from __future__ import annotations

import getpass
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "conf" / "mosquitto"
USERS = {
    "eir-node": "node-secret",
    "eir-publisher": "publisher-secret",
    "eir-monitor": "monitor-secret",
    "eir-aggregator": "aggregator-secret",
}


def mosquitto_or_skip() -> str:
    path = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if path is None:
        pytest.skip("mosquitto is not installed (make test installs it with apt-get)")
    return path


def credentials(user: str) -> dict[str, str]:
    """The environment that gives eir this user's credentials."""
    return {"EIR_MQTT_USERNAME": user, "EIR_MQTT_PASSWORD": USERS[user]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1: (ca, certificate, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificates for the TLS test")
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.crt", folder / "ca.key"
    cert, key, csr = folder / "server.crt", folder / "server.key", folder / "server.csr"
    extensions = folder / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    for command in (
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            ca_key,
            "-out",
            ca,
            "-days",
            "2",
            "-subj",
            "/CN=eir test CA",
        ],
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
        [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            extensions,
        ],
    ):
        subprocess.run([openssl, *map(str, command)], check=True, capture_output=True)
    return ca, cert, key


class Broker:
    def __init__(self, folder: Path, tls: tuple[Path, Path, Path] | None = None) -> None:
        self.binary = mosquitto_or_skip()
        self.folder = folder
        self.port = free_port()
        self.tls_port = free_port() if tls is not None else 0
        self.proc: subprocess.Popen[bytes] | None = None
        data = folder / "mosquitto"
        data.mkdir(parents=True, exist_ok=True)
        self.passwd = data / "passwd"
        self.passwd.touch()
        passwd_tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        for user, password in USERS.items():
            subprocess.run(
                [passwd_tool, "-b", str(self.passwd), user, password],
                check=True,
                capture_output=True,
            )
        text = (SHIPPED / "eir.conf").read_text()
        replaced = {
            "listener 1883 127.0.0.1": f"listener {self.port} 127.0.0.1",
            "password_file var/mosquitto/passwd": f"password_file {self.passwd}",
            "acl_file conf/mosquitto/acl": f"acl_file {SHIPPED / 'acl'}",
            "persistence_location var/mosquitto/": f"persistence_location {data}/",
        }
        for old, new in replaced.items():
            assert old in text, f"conf/mosquitto/eir.conf no longer has {old!r}"
            text = text.replace(old, new)
        if tls is not None:  # the shipped file's commented TLS listener, on a free port
            ca, cert, key = tls
            text += (
                f"\nlistener {self.tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\n"
                f"keyfile {key}\n"
            )
        self.conf = data / "eir.conf"
        self.conf.write_text(text + f"\nuser {getpass.getuser()}\n")
        self.log = data / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mosquitto not listening: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no goodbye, no final save."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def broker(folder: Path, tls: tuple[Path, Path, Path] | None = None) -> Iterator[Broker]:
    b = Broker(folder, tls)
    b.start()
    try:
        yield b
    finally:
        b.stop()


class Watcher:
    """A blocking paho client that records what arrives on some topics."""

    def __init__(
        self,
        b: Broker,
        user: str | None = "eir-monitor",
        password: str | None = None,
        topics: tuple[str, ...] = ("eir/#",),
    ) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.connected: list[int] = []
        self.subscribed: list[int] = []
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"watch-{time.monotonic_ns()}",
            protocol=paho.MQTTv5,
        )
        if user is not None:
            self.client.username_pw_set(user, password if password is not None else USERS[user])
        self.topics = topics
        self.client.on_message = self._message
        self.client.on_connect = self._connect
        self.client.on_subscribe = self._subscribe
        self.client.connect("127.0.0.1", b.port)
        self.client.loop_start()

    def _connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.append(int(reason.value))
        if not reason.is_failure:
            for topic in self.topics:
                client.subscribe(topic, qos=1)

    def _subscribe(self, _c: paho.Client, _u: Any, mid: int, _codes: Any, _p: Any) -> None:
        self.subscribed.append(mid)

    def wait_subscribed(self, timeout: float = 10) -> None:
        """Until the broker acknowledged every subscription (SUBACK)."""
        deadline = time.monotonic() + timeout
        while len(self.subscribed) < len(self.topics) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.subscribed) >= len(self.topics), "no SUBACK"

    def _message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def wait_connected(self, timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        while not self.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.connected, "no CONNACK"
        return self.connected[0]

    def json_on(self, prefix: str) -> list[dict[str, Any]]:
        out = []
        for topic, payload, _retained in list(self.messages):
            if topic.startswith(prefix) and payload:
                out.append(json.loads(payload))
        return out

    def wait_for(self, prefix: str, predicate: Any = None, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in self.json_on(prefix):
                if predicate is None or predicate(body):
                    return body
            time.sleep(0.05)
        raise AssertionError(
            f"nothing on {prefix} in {timeout}s: {[t for t, _p, _r in self.messages][-20:]}"
        )

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
