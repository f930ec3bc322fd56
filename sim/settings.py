"""Run settings from the command line and from scenario files (TOML), validated once with
the checks of `eir.config.checks` (worded as eir-sim words them).

A scenario file holds the command line's settings under the same names (``-`` written ``_``),
plus ``[gates]`` and one ``[[flow]]`` table per stream of traffic (protocol, target, pacing,
mix...). Command-line options override the file; options of a flow apply to every flow.
``--target URL`` sets every flow's target, ``--target NAME=URL`` the flow (or protocol) NAME's.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from eir.config import Config, PolicyConfig, load_config
from eir.config.checks import (
    NotOneOfError,
    OutOfRangeError,
    WrongTypeError,
    number,
    of_type,
    one_of,
    within,
)
from eir.config.keys import DuplicateRuleConfig, ObservationsConfig
from eir.errors import ConfigError
from eir.sigtran import sccp
from eir.sigtran.m3ua import TrafficMode
from sim.link import Target, TargetError, parse_target
from sim.msc_role import MapOptions
from sim.probes import DEFAULT_MIX, MixError, check_mix, parse_mix


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Gates:
    max_p99_ms: float | None = None
    min_rate: float | None = None
    max_error_rate: float | None = None


@dataclass(frozen=True)
class Flow:
    name: str
    protocol: str = "s13"
    target: Target | None = None
    rate: float | None = None
    concurrency: int | None = None
    ramp_s: float = 0.0
    ramp_from: float = 0.0
    connections: int = 1
    processes: int = 1
    mix: Mapping[str, float] | None = None  # None: the default for the lists given
    realm: str = "sim.example"
    destination_realm: str = "localdomain"
    map: MapOptions = field(default_factory=MapOptions)
    #: SCTP: our own addresses, bound together (a multi-homed association)
    local: tuple[str, ...] = ()

    @property
    def open_loop(self) -> bool:
        return self.rate is not None


@dataclass(frozen=True)
class RunSettings:
    flows: tuple[Flow, ...]
    duration_s: float | None = None
    requests: int | None = None
    lists: tuple[str, ...] = ()
    seed: int = 1
    timeout_s: float = 5.0
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    pool: int = 20_000
    max_in_flight: int = 100_000
    gates: Gates = Gates()
    json: str | None = None
    html: str | None = None
    live: str = "auto"
    description: str = ""
    #: the report's title (``--title``, or the scenario's ``title``)
    title: str = ""
    #: a Prometheus metrics URL of the target, for its ``eir_build_info``
    target_metrics: str | None = None
    #: the pairs sent by group (``identities.csv`` of `sim.identity_files`)
    identities: str | None = None
    #: observation delta files: the classes eir learns from them are expected
    observations: tuple[str, ...] = ()
    #: the device database and approved-models list loaded into the EIR (`eir devices load`)
    devices: str | None = None
    approved: str | None = None
    #: the duplicate rules the expectation applies (``--policy-config``'s, else the default)
    rules: tuple[DuplicateRuleConfig, ...] = field(
        default_factory=lambda: ObservationsConfig().duplicate_rules
    )

    def describe(self) -> dict[str, Any]:
        """The settings as the JSON report shows them."""
        return {
            "duration_s": self.duration_s,
            "requests": self.requests,
            "lists": list(self.lists),
            **({"identities": self.identities} if self.identities else {}),
            **({"observations": list(self.observations)} if self.observations else {}),
            **({"devices": self.devices} if self.devices else {}),
            **({"approved": self.approved} if self.approved else {}),
            "seed": self.seed,
            "timeout_s": self.timeout_s,
            "pool": self.pool,
            "gates": {
                "max_p99_ms": self.gates.max_p99_ms,
                "min_rate": self.gates.min_rate,
                "max_error_rate": self.gates.max_error_rate,
            },
            "flows": [
                {
                    "name": f.name,
                    "protocol": f.protocol,
                    "target": str(f.target),
                    "rate": f.rate,
                    "concurrency": f.concurrency,
                    "ramp_s": f.ramp_s,
                    "connections": f.connections,
                    "processes": f.processes,
                    "mix": dict(f.mix or {}),
                    **(
                        {"map_version": f.map.version, "sccp": f.map.sccp_type}
                        if f.protocol == "map"
                        else {"destination_realm": f.destination_realm}
                    ),
                }
                for f in self.flows
            ],
        }


#: flow keys a scenario's [[flow]] (or the command line) may set
FLOW_KEYS = {
    "name",
    "protocol",
    "target",
    "rate",
    "concurrency",
    "ramp",
    "ramp_from",
    "connections",
    "processes",
    "mix",
    "realm",
    "destination_realm",
    "map_version",
    "sccp",
    "opc",
    "dpc",
    "network_indicator",
    "routing_context",
    "network_appearance",
    "traffic_mode",
    "called_gt",
    "calling_gt",
    "called_ssn",
    "calling_ssn",
    "local",
}
RUN_KEYS = {
    "title",
    "description",
    "target_metrics",
    "duration",
    "requests",
    "lists",
    "identities",
    "observations",
    "devices",
    "approved",
    "seed",
    "timeout",
    "policy_config",
    "pool",
    "max_in_flight",
    "json",
    "html",
    "live",
    "gates",
    "flow",
}
GATE_KEYS = {"max_p99_ms", "min_rate", "max_error_rate"}


PROTOCOLS = ("s13", "map")
SCCP_TYPES = ("udt", "xudt")
TRAFFIC_MODES = {"loadshare": TrafficMode.LOADSHARE, "override": TrafficMode.OVERRIDE}
LIVE = ("auto", "always", "never")


def _checked(value: object, key: str, where: str, low: float, integer: bool) -> int | float:
    """A number of at least ``low`` (eir.config's checks, eir-sim's wording)."""
    try:
        number(value)
    except WrongTypeError:
        raise SettingsError(f"{where}: {key} must be a number") from None
    try:
        return within(number(value, integer=integer), low)
    except WrongTypeError:
        raise SettingsError(f"{where}: {key} must be a whole number") from None
    except OutOfRangeError as exc:
        raise SettingsError(f"{where}: {key} {exc}") from None


def _real(value: object, key: str, where: str, low: float) -> float:
    return float(_checked(value, key, where, low, integer=False))


def _whole(value: object, key: str, where: str, low: int) -> int:
    return int(_checked(value, key, where, low, integer=True))


def _text(value: object, key: str, where: str) -> str:
    try:
        text: str = of_type(value, str)
    except WrongTypeError:
        raise SettingsError(f"{where}: {key} must be a string") from None
    return text


def _choice(value: object, key: str, where: str, options: Sequence[str], verb: str = "is") -> str:
    """One word of ``options``: ``where: key is a, b or c`` otherwise."""
    try:
        return one_of(_text(value, key, where), options)
    except NotOneOfError:
        spoken = f"{', '.join(options[:-1])} or {options[-1]}"
        raise SettingsError(f"{where}: {key} {verb} {spoken}") from None


def _flow(values: Mapping[str, object], where: str, index: int) -> Flow:
    unknown = set(values) - FLOW_KEYS
    if unknown:
        raise SettingsError(f"{where}: unknown flow setting {sorted(unknown)[0]!r}")
    protocol = _choice(values.get("protocol", "s13"), "protocol", where, PROTOCOLS, "must be")
    name = _text(
        values.get("name", protocol if index == 0 else f"{protocol}-{index}"), "name", where
    )
    target = _flow_target(values, where)
    rate, concurrency = _pacing(values, where)
    flow = Flow(
        name=name,
        protocol=protocol,
        target=target,
        mix=_flow_mix(values.get("mix"), where),
        map=_map_options(values, where),
        rate=rate,
        concurrency=concurrency,
        ramp_s=_real(values.get("ramp", 0), "ramp", where, 0),
        ramp_from=_real(values.get("ramp_from", 0), "ramp_from", where, 0),
        connections=_whole(values.get("connections", 1), "connections", where, 1),
        processes=_whole(values.get("processes", 1), "processes", where, 1),
        realm=_text(values.get("realm", "sim.example"), "realm", where),
        destination_realm=_text(
            values.get("destination_realm", "localdomain"), "destination_realm", where
        ),
        local=_addresses(values.get("local", []), where),
    )
    return _checked_flow(flow, where)


def _flow_target(values: Mapping[str, object], where: str) -> Target | None:
    if values.get("target") is None:
        return None
    try:
        return parse_target(_text(values["target"], "target", where))
    except TargetError as exc:
        raise SettingsError(f"{where}: {exc}") from None


def _pacing(values: Mapping[str, object], where: str) -> tuple[float | None, int | None]:
    """The rate (open loop) or the concurrency (closed loop), not both."""
    rate = values.get("rate")
    concurrency = values.get("concurrency")
    if rate is not None and concurrency is not None:
        raise SettingsError(
            f"{where}: give rate (open loop) or concurrency (closed loop), not both"
        )
    return (
        None if rate is None else _real(rate, "rate", where, 0.001),
        None if concurrency is None else _whole(concurrency, "concurrency", where, 1),
    )


def _flow_mix(raw: object, where: str) -> dict[str, float] | None:
    """``KIND=SHARE,...`` or a table; None: the default for the lists given."""
    if raw is None:
        return None
    try:
        if isinstance(raw, str):
            return parse_mix(raw)
        if isinstance(raw, Mapping):
            return check_mix({str(k): _real(v, f"mix.{k}", where, 0) for k, v in raw.items()})
    except MixError as exc:
        raise SettingsError(f"{where}: {exc}") from None
    raise SettingsError(f"{where}: mix is KIND=SHARE,... or a table")


def _map_options(values: Mapping[str, object], where: str) -> MapOptions:
    version = _whole(values.get("map_version", 3), "map_version", where, 1)
    if version not in (1, 2, 3):
        raise SettingsError(f"{where}: map_version is 1, 2 or 3")
    sccp_type = _choice(values.get("sccp", "udt"), "sccp", where, SCCP_TYPES)
    mode = _choice(
        values.get("traffic_mode", "loadshare"), "traffic_mode", where, tuple(TRAFFIC_MODES)
    )
    called_ssn = _optional_int(values, "called_ssn", 255, where)
    calling_ssn = _optional_int(values, "calling_ssn", 255, where)
    return MapOptions(
        version=version,
        sccp_type=sccp_type,
        opc=_int_or(values, "opc", 0xFFFFFF, 100, where),
        dpc=_int_or(values, "dpc", 0xFFFFFF, 200, where),
        ni=_int_or(values, "network_indicator", 3, 2, where),
        routing_context=_optional_int(values, "routing_context", 0xFFFFFFFF, where),
        network_appearance=_optional_int(values, "network_appearance", 0xFFFFFFFF, where),
        traffic_mode=TRAFFIC_MODES[mode],
        called=_party(
            sccp.SSN_EIR if called_ssn is None else called_ssn,
            _gt(values, "called_gt", "491720000009", where),
        ),
        calling=_party(
            sccp.SSN_MSC if calling_ssn is None else calling_ssn,
            _gt(values, "calling_gt", "491720000008", where),
        ),
    )


def _optional_int(values: Mapping[str, object], key: str, high: int, where: str) -> int | None:
    value = values.get(key)
    if value is None:
        return None
    found = _whole(value, key, where, 0)
    if found > high:
        raise SettingsError(f"{where}: {key} is at most {high}")
    return found


def _int_or(values: Mapping[str, object], key: str, high: int, default: int, where: str) -> int:
    found = _optional_int(values, key, high, where)
    return default if found is None else found


def _gt(values: Mapping[str, object], key: str, default: str, where: str) -> str:
    digits = _text(values.get(key, default), key, where)
    if not digits.isdigit() or not 1 <= len(digits) <= 20:
        raise SettingsError(f"{where}: {key} must be 1 to 20 decimal digits")
    return digits


def _party(ssn: int, digits: str) -> sccp.Address:
    """An SCCP party routed on its SSN, with an E.164 global title (GTI 4; Q.713 3.4)."""
    return sccp.Address(True, ssn, None, sccp.GlobalTitle(4, digits))


def _checked_flow(flow: Flow, where: str) -> Flow:
    if flow.ramp_s and flow.rate is None:
        raise SettingsError(f"{where}: a ramp needs a rate")
    if flow.connections < flow.processes:
        flow = replace(flow, connections=flow.processes)
    if flow.connections > 9999 or flow.processes > 999:
        raise SettingsError(f"{where}: at most 9999 connections and 999 processes")
    return flow


def _addresses(value: object, where: str) -> tuple[str, ...]:
    import ipaddress

    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise SettingsError(f"{where}: local must be a list of addresses")
    out = []
    for item in items:
        try:
            out.append(str(ipaddress.ip_address(str(item))))
        except ValueError:
            raise SettingsError(f"{where}: local {item!r} is not an IP address") from None
    return tuple(out)


def load_scenario(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise SettingsError(f"{path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    unknown = set(data) - RUN_KEYS
    if unknown:
        raise SettingsError(f"{path}: unknown setting {sorted(unknown)[0]!r}")
    return data


def build(
    scenario: Mapping[str, Any],
    overrides: Mapping[str, Any],
    flow_overrides: Mapping[str, Any],
    targets: list[str],
    where: str = "command line",
) -> RunSettings:
    """Settings from a scenario's values, then the command line's on top."""
    values = {**scenario, **{k: v for k, v in overrides.items() if v is not None}}
    flows = _aimed(_flows(scenario, flow_overrides, where), targets)
    duration = values.get("duration")
    requests = values.get("requests")
    if duration is None and requests is None:
        duration = 10.0
    gates = _gates(values, overrides, where)
    config = _config(values)
    lists = _lists(values, where)
    live = _choice(values.get("live", "auto"), "live", where, LIVE)
    return RunSettings(
        flows=tuple(flows),
        duration_s=None if duration is None else _real(duration, "duration", where, 0.001),
        requests=None if requests is None else _whole(requests, "requests", where, 1),
        lists=lists,
        seed=_whole(values.get("seed", 1), "seed", where, 0),
        timeout_s=_real(values.get("timeout", 5.0), "timeout", where, 0.001),
        policy=config.policy,
        rules=config.observations.duplicate_rules,
        identities=_optional_text(values.get("identities"), "identities", where),
        observations=_files(values.get("observations"), "observations", where),
        devices=_optional_text(values.get("devices"), "devices", where),
        approved=_optional_text(values.get("approved"), "approved", where),
        pool=_whole(values.get("pool", 20_000), "pool", where, 1),
        max_in_flight=_whole(values.get("max_in_flight", 100_000), "max_in_flight", where, 1),
        gates=gates,
        json=values.get("json"),
        html=values.get("html"),
        live=live,
        description=_text(values.get("description", ""), "description", where),
        title=_text(values.get("title", ""), "title", where),
        target_metrics=_metrics_url(values.get("target_metrics"), where),
    )


def _metrics_url(value: object, where: str) -> str | None:
    """An http(s) URL of the target's metrics page, or None."""
    if value is None:
        return None
    url = _text(value, "target_metrics", where)
    if not url.startswith(("http://", "https://")):
        raise SettingsError(f"{where}: target_metrics {url!r} is not an http:// or https:// URL")
    return url


def _flows(
    scenario: Mapping[str, Any], flow_overrides: Mapping[str, Any], where: str
) -> list[Flow]:
    """The scenario's [[flow]] tables (or one flow), each with the command line's on top."""
    flows_in = scenario.get("flow") or [{}]
    if not isinstance(flows_in, list) or not all(isinstance(f, dict) for f in flows_in):
        raise SettingsError(f"{where}: flow must be an array of tables ([[flow]])")
    set_flow = _flow_overrides(flow_overrides, where)
    flows = []
    for index, table in enumerate(flows_in):
        merged = {k: v for k, v in {**table, **set_flow}.items() if v is not None}
        flows.append(
            _flow(merged, where if not scenario else f"{where} [[flow]] {index + 1}", index)
        )
    names = [f.name for f in flows]
    if len(set(names)) != len(names):
        raise SettingsError(f"{where}: two flows are named alike; give each a name")
    return flows


def _flow_overrides(flow_overrides: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The flow options given on the command line; a rate given drops a scenario's
    concurrency, and the other way round."""
    set_flow = {k: v for k, v in flow_overrides.items() if v is not None}
    if "rate" in set_flow and "concurrency" in set_flow:
        raise SettingsError(
            f"{where}: give --rate (open loop) or --concurrency (closed loop), not both"
        )
    if "rate" in set_flow:
        set_flow["concurrency"] = None
    elif "concurrency" in set_flow:
        set_flow["rate"] = None
    return set_flow


def _aimed(flows: list[Flow], targets: list[str]) -> list[Flow]:
    """Each ``--target [NAME=]URL`` applied; every flow checked to have a target, and a
    closed loop of 16 when neither rate nor concurrency is given."""
    for spec in targets:
        name, sep, url = spec.partition("=")
        chosen = [i for i, f in enumerate(flows) if name in (f.name, f.protocol)]
        if not sep or "://" in name:
            chosen, url = list(range(len(flows))), spec
        elif not chosen:
            raise SettingsError(f"--target {spec}: no flow or protocol is named {name!r}")
        try:
            target = parse_target(url)
        except TargetError as exc:
            raise SettingsError(str(exc)) from None
        for i in chosen:
            flows[i] = replace(flows[i], target=target)
    for flow in flows:
        if flow.local and flow.target is not None and flow.target.transport != "sctp":
            raise SettingsError(f"flow {flow.name}: local addresses need an sctp:// target")
        if flow.target is None:
            raise SettingsError(
                f"flow {flow.name}: no target (give --target [tcp://|sctp://]HOST:PORT)"
            )
    return [
        f if f.rate is not None or f.concurrency is not None else replace(f, concurrency=16)
        for f in flows
    ]


def _gates(values: Mapping[str, Any], overrides: Mapping[str, Any], where: str) -> Gates:
    gates_in = values.get("gates") or {}
    unknown = set(gates_in) - GATE_KEYS
    if unknown:
        raise SettingsError(f"{where}: unknown gate {sorted(unknown)[0]!r}")
    gates = Gates(**{k: _real(gates_in[k], k, where, 0) for k in gates_in})
    return replace(
        gates, **{k: float(v) for k, v in overrides.items() if k in GATE_KEYS and v is not None}
    )


def _config(values: Mapping[str, Any]) -> Config:
    """The eir configuration file (its [policy] and duplicate rules), to expect what eir
    answers; the defaults without one."""
    if not values.get("policy_config"):
        return Config()
    try:
        return load_config(str(values["policy_config"]))
    except ConfigError as exc:
        raise SettingsError(str(exc)) from None


def _lists(values: Mapping[str, Any], where: str) -> tuple[str, ...]:
    return _files(values.get("lists"), "lists", where)


def _files(value: object, key: str, where: str) -> tuple[str, ...]:
    """An array of file names (None: none)."""
    files = value or ()
    if isinstance(files, str) or not isinstance(files, list | tuple):
        raise SettingsError(f"{where}: {key} is an array of file names")
    if not all(isinstance(x, str) for x in files):
        raise SettingsError(f"{where}: {key} is an array of file names")
    return tuple(files)


def _optional_text(value: object, key: str, where: str) -> str | None:
    return None if value is None else _text(value, key, where)


def default_mix(lists_available: dict[str, bool]) -> dict[str, float]:
    """The default mix for what the lists hold; without lists every request is unknown."""
    mix = {k: v for k, v in DEFAULT_MIX.items() if lists_available.get(k, True)}
    return check_mix(mix)
