"""Run settings from the command line and from scenario files (TOML), validated once.

A scenario file holds the command line's settings under the same names (``-`` written ``_``),
plus ``[gates]`` and one ``[[flow]]`` table per stream of traffic (protocol, target, pacing,
mix...). Command-line options override the file; options of a flow apply to every flow.
``--target URL`` sets every flow's target, ``--target NAME=URL`` the flow (or protocol) NAME's.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from eir.config import PolicyConfig, load_config
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

    def describe(self) -> dict[str, Any]:
        """The settings as the JSON report shows them."""
        return {
            "duration_s": self.duration_s,
            "requests": self.requests,
            "lists": list(self.lists),
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
    "description",
    "duration",
    "requests",
    "lists",
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


def _number(value: object, key: str, where: str, low: float, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(f"{where}: {key} must be a number")
    if integer and not isinstance(value, int):
        raise SettingsError(f"{where}: {key} must be a whole number")
    if value < low:
        raise SettingsError(f"{where}: {key} must be at least {low:g}")
    return value


def _text(value: object, key: str, where: str) -> str:
    if not isinstance(value, str):
        raise SettingsError(f"{where}: {key} must be a string")
    return value


def _flow(values: Mapping[str, object], where: str, index: int) -> Flow:
    unknown = set(values) - FLOW_KEYS
    if unknown:
        raise SettingsError(f"{where}: unknown flow setting {sorted(unknown)[0]!r}")
    protocol = _text(values.get("protocol", "s13"), "protocol", where)
    if protocol not in ("s13", "map"):
        raise SettingsError(f"{where}: protocol must be s13 or map")
    name = _text(
        values.get("name", protocol if index == 0 else f"{protocol}-{index}"), "name", where
    )
    target = None
    if values.get("target") is not None:
        try:
            target = parse_target(_text(values["target"], "target", where))
        except TargetError as exc:
            raise SettingsError(f"{where}: {exc}") from None
    rate = values.get("rate")
    concurrency = values.get("concurrency")
    if rate is not None and concurrency is not None:
        raise SettingsError(
            f"{where}: give rate (open loop) or concurrency (closed loop), not both"
        )
    mix: dict[str, float] | None = None
    raw_mix = values.get("mix")
    try:
        if isinstance(raw_mix, str):
            mix = parse_mix(raw_mix)
        elif isinstance(raw_mix, Mapping):
            mix = check_mix(
                {str(k): float(_number(v, f"mix.{k}", where, 0)) for k, v in raw_mix.items()}
            )
        elif raw_mix is not None:
            raise SettingsError(f"{where}: mix is KIND=SHARE,... or a table")
    except MixError as exc:
        raise SettingsError(f"{where}: {exc}") from None
    version = int(_number(values.get("map_version", 3), "map_version", where, 1, True))
    if version not in (1, 2, 3):
        raise SettingsError(f"{where}: map_version is 1, 2 or 3")
    sccp_type = _text(values.get("sccp", "udt"), "sccp", where)
    if sccp_type not in ("udt", "xudt"):
        raise SettingsError(f"{where}: sccp is udt or xudt")
    mode = _text(values.get("traffic_mode", "loadshare"), "traffic_mode", where)
    modes = {"loadshare": TrafficMode.LOADSHARE, "override": TrafficMode.OVERRIDE}
    if mode not in modes:
        raise SettingsError(f"{where}: traffic_mode is loadshare or override")

    def optional_int(key: str, high: int) -> int | None:
        value = values.get(key)
        if value is None:
            return None
        number = int(_number(value, key, where, 0, True))
        if number > high:
            raise SettingsError(f"{where}: {key} is at most {high}")
        return number

    def gt(key: str, default: str) -> str:
        digits = _text(values.get(key, default), key, where)
        if not digits.isdigit() or not 1 <= len(digits) <= 20:
            raise SettingsError(f"{where}: {key} must be 1 to 20 decimal digits")
        return digits

    called_ssn = optional_int("called_ssn", 255)
    calling_ssn = optional_int("calling_ssn", 255)
    options = MapOptions(
        version=version,
        sccp_type=sccp_type,
        opc=optional_int("opc", 0xFFFFFF) if "opc" in values else 100,  # type: ignore[arg-type]
        dpc=optional_int("dpc", 0xFFFFFF) if "dpc" in values else 200,  # type: ignore[arg-type]
        ni=optional_int("network_indicator", 3) if "network_indicator" in values else 2,  # type: ignore[arg-type]
        routing_context=optional_int("routing_context", 0xFFFFFFFF),
        network_appearance=optional_int("network_appearance", 0xFFFFFFFF),
        traffic_mode=modes[mode],
        called=sccp.Address(
            True,
            sccp.SSN_EIR if called_ssn is None else called_ssn,
            None,
            sccp.GlobalTitle(4, gt("called_gt", "491720000009")),
        ),
        calling=sccp.Address(
            True,
            sccp.SSN_MSC if calling_ssn is None else calling_ssn,
            None,
            sccp.GlobalTitle(4, gt("calling_gt", "491720000008")),
        ),
    )
    flow = Flow(
        name=name,
        protocol=protocol,
        target=target,
        rate=None if rate is None else float(_number(rate, "rate", where, 0.001)),
        concurrency=None
        if concurrency is None
        else int(_number(concurrency, "concurrency", where, 1, True)),
        ramp_s=float(_number(values.get("ramp", 0), "ramp", where, 0)),
        ramp_from=float(_number(values.get("ramp_from", 0), "ramp_from", where, 0)),
        connections=int(_number(values.get("connections", 1), "connections", where, 1, True)),
        processes=int(_number(values.get("processes", 1), "processes", where, 1, True)),
        mix=mix,
        realm=_text(values.get("realm", "sim.example"), "realm", where),
        destination_realm=_text(
            values.get("destination_realm", "localdomain"), "destination_realm", where
        ),
        map=options,
        local=_addresses(values.get("local", []), where),
    )
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
    flows_in = scenario.get("flow") or [{}]
    if not isinstance(flows_in, list) or not all(isinstance(f, dict) for f in flows_in):
        raise SettingsError(f"{where}: flow must be an array of tables ([[flow]])")
    set_flow = {k: v for k, v in flow_overrides.items() if v is not None}
    if "rate" in set_flow and "concurrency" in set_flow:
        raise SettingsError(
            f"{where}: give --rate (open loop) or --concurrency (closed loop), not both"
        )
    if "rate" in set_flow:
        set_flow["concurrency"] = None
    elif "concurrency" in set_flow:
        set_flow["rate"] = None
    flows = []
    for index, table in enumerate(flows_in):
        merged = {**table, **set_flow}
        merged = {k: v for k, v in merged.items() if v is not None}
        flows.append(
            _flow(merged, where if not scenario else f"{where} [[flow]] {index + 1}", index)
        )
    names = [f.name for f in flows]
    if len(set(names)) != len(names):
        raise SettingsError(f"{where}: two flows are named alike; give each a name")
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
    flows = [
        f if f.rate is not None or f.concurrency is not None else replace(f, concurrency=16)
        for f in flows
    ]
    duration = values.get("duration")
    requests = values.get("requests")
    if duration is None and requests is None:
        duration = 10.0
    gates_in = values.get("gates") or {}
    unknown = set(gates_in) - GATE_KEYS
    if unknown:
        raise SettingsError(f"{where}: unknown gate {sorted(unknown)[0]!r}")
    gates = Gates(**{k: float(_number(gates_in[k], k, where, 0)) for k in gates_in})
    gates = replace(
        gates, **{k: float(v) for k, v in overrides.items() if k in GATE_KEYS and v is not None}
    )
    policy = PolicyConfig()
    if values.get("policy_config"):
        try:
            policy = load_config(str(values["policy_config"])).policy
        except ConfigError as exc:
            raise SettingsError(str(exc)) from None
    lists = values.get("lists") or ()
    if isinstance(lists, str) or not all(isinstance(x, str) for x in lists):
        raise SettingsError(f"{where}: lists is an array of file names")
    live = _text(values.get("live", "auto"), "live", where)
    if live not in ("auto", "always", "never"):
        raise SettingsError(f"{where}: live is auto, always or never")
    return RunSettings(
        flows=tuple(flows),
        duration_s=None if duration is None else float(_number(duration, "duration", where, 0.001)),
        requests=None if requests is None else int(_number(requests, "requests", where, 1, True)),
        lists=tuple(lists),
        seed=int(_number(values.get("seed", 1), "seed", where, 0, True)),
        timeout_s=float(_number(values.get("timeout", 5.0), "timeout", where, 0.001)),
        policy=policy,
        pool=int(_number(values.get("pool", 20_000), "pool", where, 1, True)),
        max_in_flight=int(
            _number(values.get("max_in_flight", 100_000), "max_in_flight", where, 1, True)
        ),
        gates=gates,
        json=values.get("json"),
        html=values.get("html"),
        live=live,
        description=str(values.get("description", "")),
    )


def default_mix(lists_available: dict[str, bool]) -> dict[str, float]:
    """The default mix for what the lists hold; without lists every request is unknown."""
    mix = {k: v for k, v in DEFAULT_MIX.items() if lists_available.get(k, True)}
    return check_mix(mix)
