"""Configuration: TOML (tomllib) into frozen dataclasses, validated once, unknown keys rejected.

Every key has an embedded default, so eir runs with no file at all. ``conf/eir.toml`` documents
each key with that default. Errors read ``FILE: key: message``.

Layer 0: standard library only.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eir.errors import ConfigError
from eir.identity import DEFAULT_TEST_TAC_PREFIXES, Anomaly
from eir.model import ListName

#: What an anomaly does: ``ignore`` (reported, no effect) or the answer it forces.
ANOMALY_ACTIONS = ("ignore", "white", "grey", "black", "unknown")
UNKNOWN_ANSWERS = ("white", "grey", "unknown")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class StoreConfig:
    path: str = "var/eir.lmdb"
    #: initial LMDB map size; it grows by doubling when full, up to max_map_size_mb
    map_size_mb: int = 1024
    max_map_size_mb: int = 262144
    #: fsync on every commit (LMDB's default); off trades crash durability for speed
    sync: bool = True
    #: lookups share one read snapshot for at most this long: a load is seen within it
    read_snapshot_ms: int = 50


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    #: answer for an IMEI on no list: white, grey, or unknown (Diameter 5422, MAP unknownEquipment)
    unknown: str = "white"
    #: which list wins when one level holds entries on several lists
    precedence: tuple[ListName, ...] = (ListName.BLACK, ListName.GREY, ListName.WHITE)
    #: TAC prefixes that count as test equipment (anomaly test-tac)
    test_tac_prefixes: tuple[str, ...] = DEFAULT_TEST_TAC_PREFIXES
    #: what each anomaly does; an anomaly decides after pair and exact-IMEI entries, before ranges
    anomalies: Mapping[Anomaly, str] = field(
        default_factory=lambda: {
            Anomaly.CHECK_DIGIT: "grey",
            Anomaly.SAME_DIGITS: "grey",
            Anomaly.ZERO_TAC: "grey",
            Anomaly.TEST_TAC: "ignore",
        }
    )


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = "info"


TRANSPORTS = ("tcp", "sctp")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """``[tcp://|sctp://]HOST:PORT`` (IPv6 hosts in brackets); port 0 picks a free port."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.transport}://{_bracketed(self.host)}:{self.port}"


def _bracketed(host: str) -> str:
    """An IPv6 address in brackets, as a URL writes it."""
    return f"[{host}]" if ":" in host else host


def parse_endpoint(text: str, default_port: int | None = None) -> Endpoint:
    """Parse an endpoint; raises ValueError with a one-line reason."""
    transport = "tcp"
    rest = text.strip()
    if "://" in rest:
        transport, rest = rest.split("://", 1)
        if transport not in TRANSPORTS:
            raise ValueError(f"{text!r}: transport {transport!r} is not tcp or sctp")
    port_text: str | None
    if rest.startswith("["):
        host, sep, tail = rest[1:].partition("]")
        if not sep or (tail and not tail.startswith(":")):
            raise ValueError(f"{text!r}: an IPv6 address is written [ADDRESS]:PORT")
        port_text = tail[1:] if tail else None
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
    elif ":" in rest:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets: [ADDRESS]:PORT")
    else:
        host, port_text = rest, None
    if not host:
        raise ValueError(f"{text!r}: no host")
    if port_text is None:
        if default_port is None:
            raise ValueError(f"{text!r}: no port (HOST:PORT)")
        port = default_port
    elif not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: port {port_text!r} is not 0 to 65535")
    else:
        port = int(port_text)
    return Endpoint(transport, host, port)


@dataclass(frozen=True, slots=True)
class DiameterPeerConfig:
    """A peer the EIR dials (a DRA): it connects, sends CER, and reconnects every Tc."""

    address: Endpoint
    #: the peer's Origin-Host when known: no dialling while it is connected to us already
    host: str = ""


@dataclass(frozen=True, slots=True)
class DiameterConfig:
    #: where to accept Diameter connections (the --diameter-listen option overrides it)
    listen: tuple[Endpoint, ...] = (Endpoint("tcp", "127.0.0.1", 3868),)
    origin_host: str = "eir.localdomain"
    origin_realm: str = "localdomain"
    #: Destination-Realms served; empty serves any (others get 3003 DIAMETER_REALM_NOT_SERVED)
    realms: tuple[str, ...] = ()
    #: Host-IP-Address values of the CEA; empty: the address the connection arrived on
    host_ip_addresses: tuple[str, ...] = ()
    vendor_id: int = 0
    #: Tw: a DWR after this much silence, the connection closed after as much again unanswered
    watchdog_s: float = 30.0
    #: Tc: seconds between attempts to reach a configured peer
    reconnect_s: float = 30.0
    #: a connection that sends no CER (or answers no CER of ours) in this time is closed
    cer_timeout_s: float = 10.0
    max_message_bytes: int = 65536
    max_in_flight: int = 1024
    max_connections: int = 1024
    #: connections that have not finished their handshake (CER/CEA) have a pool of their own;
    #: when it is full an older pending connection makes room (eir/transport/stream.py)
    max_pending_connections: int = 64
    #: an address holding more pending connections than this yields room first
    max_pending_per_address: int = 8
    #: a message left incomplete this long closes its connection (a slow-loris peer)
    read_timeout_s: float = 10.0
    #: allow-list; empty lists allow anyone (others get CEA 3010 DIAMETER_UNKNOWN_PEER)
    allowed_hosts: tuple[str, ...] = ()
    allowed_realms: tuple[str, ...] = ()
    allowed_networks: tuple[str, ...] = ()
    #: Grouped AVPs nesting deeper than this are answered 5004 (a top-level AVP is at depth 1)
    max_avp_depth: int = 8
    #: a message with more AVPs than this (all levels counted) is answered 5009
    max_avps: int = 1024
    #: a CER with the Origin-Host of an open connection from another address: "keep" the open
    #: one unless its watchdog found it dead (the newcomer gets CEA 5012), or "replace" it
    duplicate_peer: str = "keep"
    #: answer 3010 to application requests whose Origin-Host is not the one of the peer's CER
    require_origin_match: bool = False
    peers: tuple[DiameterPeerConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class M3uaAspConfig:
    """A configured ASP (``[[m3ua.asps]]``): an MSC/VLR, SGSN or STP allowed to activate."""

    name: str
    #: the ASP Identifier its ASPUP must carry; -1: any (or none)
    asp_identifier: int = -1
    #: source networks it connects from (addresses or CIDR); empty: any
    networks: tuple[str, ...] = ()
    #: Routing Contexts it may activate; empty: m3ua.routing_contexts
    routing_contexts: tuple[int, ...] = ()
    #: whether it may activate in override mode
    override: bool = False


@dataclass(frozen=True, slots=True)
class M3uaConfig:
    #: where to accept M3UA associations (the --m3ua-listen option overrides it)
    listen: tuple[Endpoint, ...] = (Endpoint("tcp", "127.0.0.1", 2905),)
    #: Routing Contexts served; empty accepts any
    routing_contexts: tuple[int, ...] = ()
    #: Network Appearance that DATA must carry; -1: not checked
    network_appearance: int = -1
    #: our SCCP subsystem; other subsystems get UDTS/XUDTS (unequipped user)
    ssn: int = 9
    #: our point code as OPC of answers (ITU, 14 bits); -1: the DPC the request was sent to
    point_code: int = -1
    #: our global title (digits) as calling party of answers; "": echo the called address
    global_title: str = ""
    #: signalling gateways to connect to as an ASP (reconnecting every reconnect_s)
    peers: tuple[Endpoint, ...] = ()
    #: our ASPAC traffic mode when we are the ASP: loadshare or override
    traffic_mode: str = "loadshare"
    reconnect_s: float = 5.0
    max_message_bytes: int = 65536
    max_connections: int = 1024
    #: source networks allowed to connect (addresses or CIDR); empty: any
    allowed_networks: tuple[str, ...] = ()
    #: an association not ASP-ACTIVE this long after connecting is closed; 0: never
    handshake_timeout_s: float = 10.0
    #: BEAT after this much silence; nothing received for as long again: close; 0: no BEAT
    beat_interval_s: float = 30.0
    #: configured ASPs; when any, an ASP must match one (source, ASP Identifier, contexts)
    asps: tuple[M3uaAspConfig, ...] = ()
    #: connections that have not finished their handshake (ASPUP and ASPAC) have a pool of
    #: their own; when it is full an older pending connection makes room
    #: (eir/transport/stream.py)
    max_pending_connections: int = 64
    #: an address holding more pending connections than this yields room first
    max_pending_per_address: int = 8
    #: a message left incomplete this long closes its connection (a slow-loris peer)
    read_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    #: processes that share the listening ports (SO_REUSEPORT) and the LMDB environment
    workers: int = 1


CHECK_EVENTS = ("all", "non-white", "none")
#: environment variables that hold the MQTT credentials unless the config names files
USERNAME_ENV = "EIR_MQTT_USERNAME"
PASSWORD_ENV = "EIR_MQTT_PASSWORD"


@dataclass(frozen=True, slots=True)
class Broker:
    """``mqtt://HOST[:PORT]`` (1883) or ``mqtts://HOST[:PORT]`` (TLS, 8883)."""

    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{_bracketed(self.host)}:{self.port}"


def parse_broker(text: str) -> Broker:
    """Parse a broker URL; raises ValueError with a one-line reason."""
    scheme, sep, rest = text.strip().partition("://")
    if not sep or scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"{text!r}: write the broker as mqtt://HOST:PORT or mqtts://HOST:PORT")
    tls = scheme == "mqtts"
    endpoint = parse_endpoint(rest.rstrip("/"), 8883 if tls else 1883)
    return Broker(endpoint.host, endpoint.port, tls)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    #: the broker; None: no MQTT at all (no events, no list updates)
    broker: Broker | None = None
    #: topic prefix of this network: <prefix>/check/<status>, <prefix>/lists/...
    prefix: str = "eir"
    #: this node's name in events and its client id; "": the host name
    node: str = ""
    #: credentials come from files or the environment, never from this file
    username_file: str = ""
    password_file: str = ""
    username_env: str = USERNAME_ENV
    password_env: str = PASSWORD_ENV
    #: TLS (with an mqtts:// broker): CA bundle, client certificate and key
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    #: accept a broker certificate whose name does not match (labs only)
    tls_insecure: bool = False
    keepalive_s: int = 30
    #: reconnection backoff: doubles from the first to the last value, with jitter
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0


@dataclass(frozen=True, slots=True)
class EventsConfig:
    #: which checks are published: all, non-white (grey, black, unknown), none
    checks: str = "non-white"
    #: share of those checks published (1.0: every one)
    sample: float = 1.0
    #: publish only the IMSI's MCC and MNC (first 5 digits), the rest as '*'
    mask_imsi: bool = True
    #: events waiting for the broker; past it new events are dropped and counted
    queue_size: int = 10000
    #: Diameter peer and M3UA association up/down events
    peers: bool = True
    #: an event whenever the lists change (a load, an applied update)
    lists: bool = True


@dataclass(frozen=True, slots=True)
class DistributionConfig:
    #: follow <prefix>/lists/ and apply published list updates to this node's store
    subscribe: bool = True
    #: an update's parts not all received within this time: dropped and fetched again later
    fetch_timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    #: Prometheus text endpoint (GET /metrics); None: off
    listen: Endpoint | None = Endpoint("tcp", "127.0.0.1", 9464)


@dataclass(frozen=True, slots=True)
class Config:
    store: StoreConfig = field(default_factory=StoreConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    log: LogConfig = field(default_factory=LogConfig)
    diameter: DiameterConfig = field(default_factory=DiameterConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    m3ua: M3uaConfig = field(default_factory=M3uaConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    distribution: DistributionConfig = field(default_factory=DistributionConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    #: the file it came from, or "<defaults>"
    origin: str = "<defaults>"


def _expect(value: object, kind: type | tuple[type, ...], where: str) -> Any:
    # bool is an int in Python; a TOML boolean is never a valid number here.
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}: expected {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: expected {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        int: "an integer",
        str: "a string",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def _reject_unknown(table: Mapping[str, object], known: set[str], where: str) -> None:
    for key in table:
        if key not in known:
            choices = ", ".join(sorted(known))
            raise ConfigError(f"{where}{key}: unknown key (known here: {choices})")


def _store(table: Mapping[str, object], where: str) -> StoreConfig:
    known = {f.name for f in dataclasses.fields(StoreConfig)}
    _reject_unknown(table, known, where)
    base = StoreConfig()
    path = _expect(table.get("path", base.path), str, where + "path")
    if not path:
        raise ConfigError(f"{where}path: must not be empty")
    size = _expect(table.get("map_size_mb", base.map_size_mb), int, where + "map_size_mb")
    top = _expect(
        table.get("max_map_size_mb", base.max_map_size_mb), int, where + "max_map_size_mb"
    )
    if size < 1:
        raise ConfigError(f"{where}map_size_mb: must be at least 1")
    if top < size:
        raise ConfigError(f"{where}max_map_size_mb: must be at least map_size_mb ({size})")
    sync = _expect(table.get("sync", base.sync), bool, where + "sync")
    age = _expect(
        table.get("read_snapshot_ms", base.read_snapshot_ms), int, where + "read_snapshot_ms"
    )
    if not 0 <= age <= 60000:
        raise ConfigError(f"{where}read_snapshot_ms: must be 0 to 60000")
    return StoreConfig(
        path=path, map_size_mb=size, max_map_size_mb=top, sync=sync, read_snapshot_ms=age
    )


def _policy(table: Mapping[str, object], where: str) -> PolicyConfig:
    known = {f.name for f in dataclasses.fields(PolicyConfig)}
    _reject_unknown(table, known, where)
    base = PolicyConfig()
    unknown = _expect(table.get("unknown", base.unknown), str, where + "unknown")
    if unknown not in UNKNOWN_ANSWERS:
        raise ConfigError(f"{where}unknown: {unknown!r} is not one of {', '.join(UNKNOWN_ANSWERS)}")
    precedence = base.precedence
    if "precedence" in table:
        raw = _expect(table["precedence"], list, where + "precedence")
        names = [_expect(v, str, where + "precedence") for v in raw]
        valid = {n.value for n in ListName}
        if sorted(names) != sorted(valid):
            raise ConfigError(
                f"{where}precedence: must name black, grey and white once each, got {names}"
            )
        precedence = tuple(ListName(n) for n in names)
    prefixes = base.test_tac_prefixes
    if "test_tac_prefixes" in table:
        raw = _expect(table["test_tac_prefixes"], list, where + "test_tac_prefixes")
        checked: list[str] = []
        for value in raw:
            text = _expect(value, str, where + "test_tac_prefixes")
            if not re.fullmatch(r"[0-9]{1,8}", text):
                raise ConfigError(
                    f"{where}test_tac_prefixes: {text!r} is not 1 to 8 digits of a TAC"
                )
            checked.append(text)
        prefixes = tuple(checked)
    anomalies = dict(base.anomalies)
    if "anomalies" in table:
        sub = _expect(table["anomalies"], dict, where + "anomalies")
        _reject_unknown(sub, {a.value for a in Anomaly}, where + "anomalies.")
        for key, value in sub.items():
            action = _expect(value, str, f"{where}anomalies.{key}")
            if action not in ANOMALY_ACTIONS:
                raise ConfigError(
                    f"{where}anomalies.{key}: {action!r} is not one of {', '.join(ANOMALY_ACTIONS)}"
                )
            anomalies[Anomaly(key)] = action
    return PolicyConfig(
        unknown=unknown, precedence=precedence, test_tac_prefixes=prefixes, anomalies=anomalies
    )


def _log(table: Mapping[str, object], where: str) -> LogConfig:
    _reject_unknown(table, {"level"}, where)
    level = _expect(table.get("level", "info"), str, where + "level")
    if level not in LOG_LEVELS:
        raise ConfigError(f"{where}level: {level!r} is not one of {', '.join(LOG_LEVELS)}")
    return LogConfig(level=level)


def _strings(
    table: Mapping[str, object], key: str, default: tuple[str, ...], where: str
) -> tuple[str, ...]:
    if key not in table:
        return default
    raw = _expect(table[key], list, where + key)
    return tuple(_expect(v, str, where + key) for v in raw)


def _number(
    table: Mapping[str, object],
    key: str,
    default: float,
    low: float,
    high: float,
    where: str,
    integer: bool = False,
) -> Any:
    value = _expect(table.get(key, default), int if integer else (int, float), where + key)
    if not low <= value <= high:
        raise ConfigError(f"{where}{key}: must be {low:g} to {high:g}")
    return value


def _endpoints(values: tuple[str, ...], where: str, default_port: int) -> tuple[Endpoint, ...]:
    out = []
    for text in values:
        try:
            out.append(parse_endpoint(text, default_port))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return tuple(out)


def _admission(
    table: Mapping[str, object], base: DiameterConfig | M3uaConfig, where: str
) -> dict[str, Any]:
    """The connection admission keys, the same in [diameter] and [m3ua]."""
    return {
        "max_pending_connections": _number(
            table,
            "max_pending_connections",
            base.max_pending_connections,
            1,
            1_000_000,
            where,
            integer=True,
        ),
        "max_pending_per_address": _number(
            table,
            "max_pending_per_address",
            base.max_pending_per_address,
            1,
            1_000_000,
            where,
            integer=True,
        ),
        "read_timeout_s": float(
            _number(table, "read_timeout_s", base.read_timeout_s, 0.5, 3600, where)
        ),
    }


def _diameter(table: Mapping[str, object], where: str) -> DiameterConfig:
    known = {f.name for f in dataclasses.fields(DiameterConfig)}
    _reject_unknown(table, known, where)
    base = DiameterConfig()
    listen = base.listen
    if "listen" in table:
        listen = _endpoints(_strings(table, "listen", (), where), where + "listen", 3868)
    text: dict[str, str] = {}
    for key in ("origin_host", "origin_realm"):
        value = _expect(table.get(key, getattr(base, key)), str, where + key)
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", value):
            raise ConfigError(f"{where}{key}: {value!r} is not a host or realm name")
        text[key] = value
    networks = _strings(table, "allowed_networks", (), where)
    import ipaddress

    for net in networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(
                f"{where}allowed_networks: {net!r} is not an address or network"
            ) from None
    addresses = _strings(table, "host_ip_addresses", (), where)
    for addr in addresses:
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            raise ConfigError(f"{where}host_ip_addresses: {addr!r} is not an IP address") from None
    peers: list[DiameterPeerConfig] = []
    for i, raw in enumerate(_expect(table.get("peers", []), list, where + "peers")):
        here = f"{where}peers[{i}]."
        entry = _expect(raw, dict, here[:-1])
        _reject_unknown(entry, {"address", "host"}, here)
        if "address" not in entry:
            raise ConfigError(f"{here}address: missing")
        (address,) = _endpoints(
            (_expect(entry["address"], str, here + "address"),), here + "address", 3868
        )
        peers.append(
            DiameterPeerConfig(address, _expect(entry.get("host", ""), str, here + "host"))
        )
    duplicate = _expect(
        table.get("duplicate_peer", base.duplicate_peer), str, where + "duplicate_peer"
    )
    if duplicate not in ("keep", "replace"):
        raise ConfigError(f"{where}duplicate_peer: {duplicate!r} is not keep or replace")
    return DiameterConfig(
        listen=listen,
        origin_host=text["origin_host"],
        origin_realm=text["origin_realm"],
        realms=tuple(r.lower() for r in _strings(table, "realms", (), where)),
        host_ip_addresses=addresses,
        vendor_id=_number(table, "vendor_id", 0, 0, 2**32 - 1, where, integer=True),
        watchdog_s=float(_number(table, "watchdog_s", base.watchdog_s, 6, 3600, where)),
        reconnect_s=float(_number(table, "reconnect_s", base.reconnect_s, 1, 3600, where)),
        cer_timeout_s=float(_number(table, "cer_timeout_s", base.cer_timeout_s, 1, 600, where)),
        max_message_bytes=_number(
            table,
            "max_message_bytes",
            base.max_message_bytes,
            4096,
            16 * 2**20,
            where,
            integer=True,
        ),
        max_in_flight=_number(
            table, "max_in_flight", base.max_in_flight, 1, 1_000_000, where, integer=True
        ),
        max_connections=_number(
            table, "max_connections", base.max_connections, 1, 1_000_000, where, integer=True
        ),
        **_admission(table, base, where),
        allowed_hosts=_strings(table, "allowed_hosts", (), where),
        allowed_realms=_strings(table, "allowed_realms", (), where),
        allowed_networks=networks,
        max_avp_depth=_number(
            table, "max_avp_depth", base.max_avp_depth, 2, 64, where, integer=True
        ),
        max_avps=_number(table, "max_avps", base.max_avps, 16, 65536, where, integer=True),
        duplicate_peer=duplicate,
        require_origin_match=_expect(
            table.get("require_origin_match", base.require_origin_match),
            bool,
            where + "require_origin_match",
        ),
        peers=tuple(peers),
    )


def _m3ua(table: Mapping[str, object], where: str) -> M3uaConfig:
    known = {f.name for f in dataclasses.fields(M3uaConfig)}
    _reject_unknown(table, known, where)
    base = M3uaConfig()
    listen = base.listen
    if "listen" in table:
        listen = _endpoints(_strings(table, "listen", (), where), where + "listen", 2905)
    peers = _endpoints(_strings(table, "peers", (), where), where + "peers", 2905)
    contexts = _contexts(table, where)
    gt = _expect(table.get("global_title", ""), str, where + "global_title")
    if gt and not (gt.isdigit() and len(gt) <= 20):
        raise ConfigError(f"{where}global_title: {gt!r} is not up to 20 digits")
    mode = _expect(table.get("traffic_mode", base.traffic_mode), str, where + "traffic_mode")
    if mode not in ("loadshare", "override"):
        raise ConfigError(f"{where}traffic_mode: {mode!r} is not loadshare or override")
    asps: list[M3uaAspConfig] = []
    for i, raw in enumerate(_expect(table.get("asps", []), list, where + "asps")):
        here = f"{where}asps[{i}]."
        entry = _expect(raw, dict, here[:-1])
        _reject_unknown(entry, {f.name for f in dataclasses.fields(M3uaAspConfig)}, here)
        name = _expect(entry.get("name", ""), str, here + "name")
        if not name:
            raise ConfigError(f"{here}name: missing")
        if name in {a.name for a in asps}:
            raise ConfigError(f"{here}name: {name!r} is configured twice")
        asps.append(
            M3uaAspConfig(
                name=name,
                asp_identifier=_number(
                    entry, "asp_identifier", -1, -1, 2**32 - 1, here, integer=True
                ),
                networks=_networks(entry, "networks", here),
                routing_contexts=_contexts(entry, here),
                override=_expect(entry.get("override", False), bool, here + "override"),
            )
        )
    return M3uaConfig(
        listen=listen,
        routing_contexts=contexts,
        network_appearance=_number(
            table, "network_appearance", -1, -1, 2**32 - 1, where, integer=True
        ),
        ssn=_number(table, "ssn", 9, 1, 254, where, integer=True),
        point_code=_number(table, "point_code", -1, -1, 16383, where, integer=True),
        global_title=gt,
        peers=peers,
        traffic_mode=mode,
        reconnect_s=float(_number(table, "reconnect_s", base.reconnect_s, 1, 3600, where)),
        max_message_bytes=_number(
            table,
            "max_message_bytes",
            base.max_message_bytes,
            4096,
            16 * 2**20,
            where,
            integer=True,
        ),
        max_connections=_number(
            table, "max_connections", base.max_connections, 1, 1_000_000, where, integer=True
        ),
        allowed_networks=_networks(table, "allowed_networks", where),
        handshake_timeout_s=float(
            _number(table, "handshake_timeout_s", base.handshake_timeout_s, 0, 3600, where)
        ),
        beat_interval_s=float(
            _number(table, "beat_interval_s", base.beat_interval_s, 0, 3600, where)
        ),
        asps=tuple(asps),
        **_admission(table, base, where),
    )


def _contexts(table: Mapping[str, object], where: str) -> tuple[int, ...]:
    contexts = []
    for value in _expect(table.get("routing_contexts", []), list, where + "routing_contexts"):
        rc = _expect(value, int, where + "routing_contexts")
        if not 0 <= rc < 2**32:
            raise ConfigError(f"{where}routing_contexts: {rc} is not a 32-bit value")
        contexts.append(rc)
    return tuple(contexts)


def _networks(table: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    import ipaddress

    networks = _strings(table, key, (), where)
    for net in networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(f"{where}{key}: {net!r} is not an address or network") from None
    return networks


def _service(table: Mapping[str, object], where: str) -> ServiceConfig:
    _reject_unknown(table, {"workers"}, where)
    return ServiceConfig(workers=_number(table, "workers", 1, 1, 256, where, integer=True))


PREFIX_RE = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
NODE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _file_key(table: Mapping[str, object], key: str, where: str) -> str:
    return str(_expect(table.get(key, ""), str, where + key))


def _mqtt(table: Mapping[str, object], where: str) -> MqttConfig:
    for secret in ("username", "password"):
        if secret in table:
            raise ConfigError(
                f"{where}{secret}: credentials never go in the config file: "
                f"use {secret}_file or the {secret}_env variable"
            )
    known = {f.name for f in dataclasses.fields(MqttConfig)}
    _reject_unknown(table, known, where)
    base = MqttConfig()
    text = _expect(table.get("broker", ""), str, where + "broker")
    broker = None
    if text:
        try:
            broker = parse_broker(text)
        except ValueError as exc:
            raise ConfigError(f"{where}broker: {exc}") from None
    prefix = _expect(table.get("prefix", base.prefix), str, where + "prefix")
    if not PREFIX_RE.fullmatch(prefix):
        raise ConfigError(
            f"{where}prefix: {prefix!r} is not topic levels of letters, digits "
            "and ._- separated by / (no wildcards, no leading or trailing /)"
        )
    node = _expect(table.get("node", ""), str, where + "node")
    if node and not NODE_RE.fullmatch(node):
        raise ConfigError(f"{where}node: {node!r} is not 1 to 64 of letters, digits and ._-")
    low = float(_number(table, "reconnect_min_s", base.reconnect_min_s, 0.05, 3600, where))
    high = float(_number(table, "reconnect_max_s", base.reconnect_max_s, 0.05, 3600, where))
    if high < low:
        raise ConfigError(f"{where}reconnect_max_s: must be at least reconnect_min_s ({low:g})")
    files = {
        k: _file_key(table, k, where)
        for k in ("username_file", "password_file", "ca_file", "cert_file", "key_file")
    }
    if bool(files["cert_file"]) != bool(files["key_file"]):
        raise ConfigError(f"{where}cert_file: a client certificate needs key_file too")
    return MqttConfig(
        broker=broker,
        prefix=prefix,
        node=node,
        username_env=_expect(
            table.get("username_env", base.username_env), str, where + "username_env"
        ),
        password_env=_expect(
            table.get("password_env", base.password_env), str, where + "password_env"
        ),
        tls_insecure=_expect(table.get("tls_insecure", False), bool, where + "tls_insecure"),
        keepalive_s=_number(table, "keepalive_s", base.keepalive_s, 5, 3600, where, integer=True),
        reconnect_min_s=low,
        reconnect_max_s=high,
        **files,
    )


def _events(table: Mapping[str, object], where: str) -> EventsConfig:
    known = {f.name for f in dataclasses.fields(EventsConfig)}
    _reject_unknown(table, known, where)
    base = EventsConfig()
    checks = _expect(table.get("checks", base.checks), str, where + "checks")
    if checks not in CHECK_EVENTS:
        raise ConfigError(f"{where}checks: {checks!r} is not one of {', '.join(CHECK_EVENTS)}")
    return EventsConfig(
        checks=checks,
        sample=float(_number(table, "sample", base.sample, 0, 1, where)),
        mask_imsi=_expect(table.get("mask_imsi", base.mask_imsi), bool, where + "mask_imsi"),
        queue_size=_number(
            table, "queue_size", base.queue_size, 1, 10_000_000, where, integer=True
        ),
        peers=_expect(table.get("peers", base.peers), bool, where + "peers"),
        lists=_expect(table.get("lists", base.lists), bool, where + "lists"),
    )


def _distribution(table: Mapping[str, object], where: str) -> DistributionConfig:
    _reject_unknown(table, {"subscribe", "fetch_timeout_s"}, where)
    return DistributionConfig(
        subscribe=_expect(table.get("subscribe", True), bool, where + "subscribe"),
        fetch_timeout_s=float(_number(table, "fetch_timeout_s", 60.0, 1, 86400, where)),
    )


def parse_metrics_listen(text: str) -> Endpoint | None:
    """``HOST:PORT`` of the metrics endpoint, or "" for none; raises ValueError."""
    if not text:
        return None
    endpoint = parse_endpoint(text, 9464)
    if endpoint.transport != "tcp":
        raise ValueError(f"{text!r}: the metrics endpoint is HTTP over TCP")
    return endpoint


def _metrics(table: Mapping[str, object], where: str) -> MetricsConfig:
    _reject_unknown(table, {"listen"}, where)
    text = _expect(table.get("listen", "127.0.0.1:9464"), str, where + "listen")
    try:
        return MetricsConfig(listen=parse_metrics_listen(text))
    except ValueError as exc:
        raise ConfigError(f"{where}listen: {exc}") from None


SECTIONS = (
    "store",
    "policy",
    "log",
    "diameter",
    "service",
    "m3ua",
    "mqtt",
    "events",
    "distribution",
    "metrics",
)


def parse_config(data: Mapping[str, object], origin: str = "<defaults>") -> Config:
    """Validate a parsed TOML document."""
    prefix = f"{origin}: "
    _reject_unknown(data, set(SECTIONS), prefix)
    store = _store(_expect(data.get("store", {}), dict, prefix + "store"), prefix + "store.")
    policy = _policy(_expect(data.get("policy", {}), dict, prefix + "policy"), prefix + "policy.")
    log = _log(_expect(data.get("log", {}), dict, prefix + "log"), prefix + "log.")
    diameter = _diameter(
        _expect(data.get("diameter", {}), dict, prefix + "diameter"), prefix + "diameter."
    )
    service = _service(
        _expect(data.get("service", {}), dict, prefix + "service"), prefix + "service."
    )
    m3ua = _m3ua(_expect(data.get("m3ua", {}), dict, prefix + "m3ua"), prefix + "m3ua.")
    mqtt = _mqtt(_expect(data.get("mqtt", {}), dict, prefix + "mqtt"), prefix + "mqtt.")
    events = _events(_expect(data.get("events", {}), dict, prefix + "events"), prefix + "events.")
    distribution = _distribution(
        _expect(data.get("distribution", {}), dict, prefix + "distribution"),
        prefix + "distribution.",
    )
    metrics = _metrics(
        _expect(data.get("metrics", {}), dict, prefix + "metrics"), prefix + "metrics."
    )
    return Config(
        store=store,
        policy=policy,
        log=log,
        diameter=diameter,
        service=service,
        m3ua=m3ua,
        mqtt=mqtt,
        events=events,
        distribution=distribution,
        metrics=metrics,
        origin=origin,
    )


def load_config(path: str | Path | None) -> Config:
    """Read and validate ``path``; None gives the embedded defaults."""
    if path is None:
        return Config()
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: not UTF-8 text") from None
    return parse_config(data, origin=name)


def to_toml(config: Config) -> str:
    """The effective configuration as TOML (``eir check-config`` prints it)."""
    s, p = config.store, config.policy
    lines = [
        "[store]",
        f'path = "{s.path}"',
        f"map_size_mb = {s.map_size_mb}",
        f"max_map_size_mb = {s.max_map_size_mb}",
        f"sync = {'true' if s.sync else 'false'}",
        f"read_snapshot_ms = {s.read_snapshot_ms}",
        "",
        "[policy]",
        f'unknown = "{p.unknown}"',
        "precedence = [" + ", ".join(f'"{n}"' for n in p.precedence) + "]",
        "test_tac_prefixes = [" + ", ".join(f'"{t}"' for t in p.test_tac_prefixes) + "]",
        "",
        "[policy.anomalies]",
        *(f'{a.value} = "{p.anomalies[a]}"' for a in Anomaly),
        "",
        "[log]",
        f'level = "{config.log.level}"',
        "",
        "[service]",
        f"workers = {config.service.workers}",
        "",
        "[diameter]",
        *_diameter_toml(config.diameter),
        "",
        "[m3ua]",
        *_m3ua_toml(config.m3ua),
        "",
        "[mqtt]",
        *_mqtt_toml(config.mqtt),
        "",
        "[events]",
        f'checks = "{config.events.checks}"',
        f"sample = {config.events.sample:g}",
        f"mask_imsi = {_bool(config.events.mask_imsi)}",
        f"queue_size = {config.events.queue_size}",
        f"peers = {_bool(config.events.peers)}",
        f"lists = {_bool(config.events.lists)}",
        "",
        "[distribution]",
        f"subscribe = {_bool(config.distribution.subscribe)}",
        f"fetch_timeout_s = {config.distribution.fetch_timeout_s:g}",
        "",
        "[metrics]",
        'listen = "'
        + (
            ""
            if config.metrics.listen is None
            else str(config.metrics.listen).removeprefix("tcp://")
        )
        + '"',
    ]
    return "\n".join(lines) + "\n"


def _toml_list(values: tuple[object, ...]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _diameter_toml(d: DiameterConfig) -> list[str]:
    lines = [
        f"listen = {_toml_list(d.listen)}",
        f'origin_host = "{d.origin_host}"',
        f'origin_realm = "{d.origin_realm}"',
        f"realms = {_toml_list(d.realms)}",
        f"host_ip_addresses = {_toml_list(d.host_ip_addresses)}",
        f"vendor_id = {d.vendor_id}",
        f"watchdog_s = {d.watchdog_s:g}",
        f"reconnect_s = {d.reconnect_s:g}",
        f"cer_timeout_s = {d.cer_timeout_s:g}",
        f"max_message_bytes = {d.max_message_bytes}",
        f"max_in_flight = {d.max_in_flight}",
        f"max_connections = {d.max_connections}",
        f"max_pending_connections = {d.max_pending_connections}",
        f"max_pending_per_address = {d.max_pending_per_address}",
        f"read_timeout_s = {d.read_timeout_s:g}",
        f"allowed_hosts = {_toml_list(d.allowed_hosts)}",
        f"allowed_realms = {_toml_list(d.allowed_realms)}",
        f"allowed_networks = {_toml_list(d.allowed_networks)}",
        f"max_avp_depth = {d.max_avp_depth}",
        f"max_avps = {d.max_avps}",
        f'duplicate_peer = "{d.duplicate_peer}"',
        f"require_origin_match = {_bool(d.require_origin_match)}",
    ]
    for peer in d.peers:
        lines += ["", "[[diameter.peers]]", f'address = "{peer.address}"']
        if peer.host:
            lines.append(f'host = "{peer.host}"')
    return lines


def _m3ua_toml(m: M3uaConfig) -> list[str]:
    lines = [
        f"listen = {_toml_list(m.listen)}",
        "routing_contexts = [" + ", ".join(str(rc) for rc in m.routing_contexts) + "]",
        f"network_appearance = {m.network_appearance}",
        f"ssn = {m.ssn}",
        f"point_code = {m.point_code}",
        f'global_title = "{m.global_title}"',
        f"peers = {_toml_list(m.peers)}",
        f'traffic_mode = "{m.traffic_mode}"',
        f"reconnect_s = {m.reconnect_s:g}",
        f"max_message_bytes = {m.max_message_bytes}",
        f"max_connections = {m.max_connections}",
        f"max_pending_connections = {m.max_pending_connections}",
        f"max_pending_per_address = {m.max_pending_per_address}",
        f"read_timeout_s = {m.read_timeout_s:g}",
        f"allowed_networks = {_toml_list(m.allowed_networks)}",
        f"handshake_timeout_s = {m.handshake_timeout_s:g}",
        f"beat_interval_s = {m.beat_interval_s:g}",
    ]
    for asp in m.asps:
        lines += [
            "",
            "[[m3ua.asps]]",
            f'name = "{asp.name}"',
            f"asp_identifier = {asp.asp_identifier}",
            f"networks = {_toml_list(asp.networks)}",
            "routing_contexts = [" + ", ".join(str(rc) for rc in asp.routing_contexts) + "]",
            f"override = {_bool(asp.override)}",
        ]
    return lines


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _mqtt_toml(m: MqttConfig) -> list[str]:
    return [
        f'broker = "{"" if m.broker is None else m.broker}"',
        f'prefix = "{m.prefix}"',
        f'node = "{m.node}"',
        f'username_file = "{m.username_file}"',
        f'password_file = "{m.password_file}"',
        f'username_env = "{m.username_env}"',
        f'password_env = "{m.password_env}"',
        f'ca_file = "{m.ca_file}"',
        f'cert_file = "{m.cert_file}"',
        f'key_file = "{m.key_file}"',
        f"tls_insecure = {_bool(m.tls_insecure)}",
        f"keepalive_s = {m.keepalive_s}",
        f"reconnect_min_s = {m.reconnect_min_s:g}",
        f"reconnect_max_s = {m.reconnect_max_s:g}",
    ]
