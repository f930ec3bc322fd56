"""Addresses in the configuration and on the command line: ``[tcp://|sctp://]HOST:PORT``
endpoints and ``mqtt[s]://HOST[:PORT]`` broker URLs (IPv6 hosts in brackets, RFC 3986 3.2.2).

Parsers raise `eir.config.checks.InvalidValueError` (a ValueError) with a one-line reason.

Layer 0: standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

from eir.config.checks import InvalidValueError

TRANSPORTS = ("tcp", "sctp")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """``[tcp://|sctp://]HOST:PORT`` (IPv6 hosts in brackets); port 0 picks a free port."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.transport}://{bracketed(self.host)}:{self.port}"


def bracketed(host: str) -> str:
    """An IPv6 address in brackets, as a URL writes it."""
    return f"[{host}]" if ":" in host else host


def parse_endpoint(text: str, default_port: int | None = None) -> Endpoint:
    """Parse an endpoint; raises `InvalidValueError` (a ValueError) with a one-line reason."""
    transport = "tcp"
    rest = text.strip()
    if "://" in rest:
        transport, rest = rest.split("://", 1)
        if transport not in TRANSPORTS:
            raise InvalidValueError(f"{text!r}: transport {transport!r} is not tcp or sctp")
    host, port_text = _host_and_port(text, rest)
    if not host:
        raise InvalidValueError(f"{text!r}: no host")
    return Endpoint(transport, host, _port(text, port_text, default_port))


def _host_and_port(text: str, rest: str) -> tuple[str, str | None]:
    if rest.startswith("["):
        host, sep, tail = rest[1:].partition("]")
        if not sep or (tail and not tail.startswith(":")):
            raise InvalidValueError(f"{text!r}: an IPv6 address is written [ADDRESS]:PORT")
        return host, tail[1:] if tail else None
    if rest.count(":") == 1:
        host, port_text = rest.split(":")
        return host, port_text
    if ":" in rest:
        raise InvalidValueError(f"{text!r}: write an IPv6 address in brackets: [ADDRESS]:PORT")
    return rest, None


def _port(text: str, port_text: str | None, default_port: int | None) -> int:
    if port_text is None:
        if default_port is None:
            raise InvalidValueError(f"{text!r}: no port (HOST:PORT)")
        return default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise InvalidValueError(f"{text!r}: port {port_text!r} is not 0 to 65535")
    return int(port_text)


@dataclass(frozen=True, slots=True)
class Broker:
    """``mqtt://HOST[:PORT]`` (1883) or ``mqtts://HOST[:PORT]`` (TLS, 8883)."""

    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{bracketed(self.host)}:{self.port}"


def parse_broker(text: str) -> Broker:
    """Parse a broker URL; raises `InvalidValueError` (a ValueError) with a one-line reason."""
    scheme, sep, rest = text.strip().partition("://")
    if not sep or scheme not in ("mqtt", "mqtts"):
        raise InvalidValueError(
            f"{text!r}: write the broker as mqtt://HOST:PORT or mqtts://HOST:PORT"
        )
    tls = scheme == "mqtts"
    endpoint = parse_endpoint(rest.rstrip("/"), 8883 if tls else 1883)
    return Broker(endpoint.host, endpoint.port, tls)


def parse_metrics_listen(text: str) -> Endpoint | None:
    """``HOST:PORT`` of the metrics endpoint, or "" for none; raises `InvalidValueError`."""
    if not text:
        return None
    endpoint = parse_endpoint(text, 9464)
    if endpoint.transport != "tcp":
        raise InvalidValueError(f"{text!r}: the metrics endpoint is HTTP over TCP")
    return endpoint
