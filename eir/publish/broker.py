"""The connection to the MQTT broker (aiomqtt, MQTT v5): credentials, TLS, the client, and the
backoff between attempts. Both a node's session (`eir.publish.session`) and ``eir publish``
(`eir.publish.publisher`) connect through here.
"""

from __future__ import annotations

import asyncio
import os
import random
import ssl
import time
from collections.abc import Callable, Mapping

import aiomqtt
from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY

from eir.config import Broker, MqttConfig
from eir.errors import ConfigError, EirError
from eir.host import node_name  # its one definition (eir.host); named here as before

__all__ = [
    "Backoff",
    "BrokerError",
    "connect",
    "credentials",
    "make_client",
    "node_name",
    "tls_context",
]

#: how long the broker keeps a persistent session (`make_client`) of a client gone away
SESSION_EXPIRY_S = 86_400


class BrokerError(EirError):
    """The broker could not be reached, refused us, or did not confirm in time."""


def _read_secret(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise ConfigError(f"mqtt.{what}_file: {path}: {exc.strerror}") from None


def credentials(
    config: MqttConfig, environ: Mapping[str, str] = os.environ
) -> tuple[str | None, str | None]:
    """(username, password): each from its file when one is named, else its variable."""
    username = (
        _read_secret(config.username_file, "username")
        if config.username_file
        else environ.get(config.username_env) or None
    )
    password = (
        _read_secret(config.password_file, "password")
        if config.password_file
        else environ.get(config.password_env) or None
    )
    if password is not None and username is None:
        raise ConfigError("mqtt: a password without a username")
    return username, password


def tls_context(config: MqttConfig) -> ssl.SSLContext | None:
    if config.broker is None or not config.broker.tls:
        return None
    try:
        context = ssl.create_default_context(cafile=config.ca_file or None)
        if config.cert_file:
            context.load_cert_chain(config.cert_file, config.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"mqtt: TLS files: {exc}") from None
    if config.tls_insecure:
        context.check_hostname = False
    return context


def make_client(
    config: MqttConfig,
    broker: Broker,
    identifier: str,
    will: aiomqtt.Will | None = None,
    environ: Mapping[str, str] = os.environ,
    persistent: bool = False,
) -> aiomqtt.Client:
    """The client; ``persistent``: the broker keeps its subscriptions and queues their QoS 1
    messages while it is away (a day), as an aggregator needs every node's deltas."""
    username, password = credentials(config, environ)
    properties = None
    if persistent:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=username,
        password=password,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        will=will,
        keepalive=config.keepalive_s,
        timeout=10,
        tls_context=tls_context(config),
        tls_insecure=config.tls_insecure if broker.tls else None,
        clean_start=False if persistent else MQTT_CLEAN_START_FIRST_ONLY,
        properties=properties,
    )


class Backoff:
    """Exponential reconnection delays with full jitter, reset by a good connection."""

    def __init__(self, low: float, high: float, rng: Callable[[], float] = random.random) -> None:
        self.low, self.high = low, high
        self._next = low
        self._random = rng

    def delay(self) -> float:
        value = self._next * (0.5 + self._random() / 2)
        self._next = min(self._next * 2, self.high)
        return value

    def reset(self) -> None:
        self._next = self.low


async def connect(
    make: Callable[[], aiomqtt.Client], deadline: float, say: Callable[[str], None]
) -> aiomqtt.Client:
    """Enter a client's connection, retrying until ``deadline`` (monotonic)."""
    backoff = Backoff(0.2, 2.0)
    while True:
        client = make()
        try:
            await client.__aenter__()
            return client
        except aiomqtt.MqttError as exc:
            if time.monotonic() >= deadline:
                raise BrokerError(f"cannot reach the broker: {exc}") from None
            say(f"eir: broker not reachable ({exc}); retrying")
            await asyncio.sleep(min(backoff.delay(), max(0.0, deadline - time.monotonic())))
