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


@dataclass(frozen=True, slots=True)
class Config:
    store: StoreConfig = field(default_factory=StoreConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    log: LogConfig = field(default_factory=LogConfig)
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
    names = {int: "an integer", str: "a string", bool: "true or false", list: "a list",
             dict: "a table"}
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
    top = _expect(table.get("max_map_size_mb", base.max_map_size_mb), int,
                  where + "max_map_size_mb")
    if size < 1:
        raise ConfigError(f"{where}map_size_mb: must be at least 1")
    if top < size:
        raise ConfigError(f"{where}max_map_size_mb: must be at least map_size_mb ({size})")
    sync = _expect(table.get("sync", base.sync), bool, where + "sync")
    age = _expect(table.get("read_snapshot_ms", base.read_snapshot_ms), int,
                  where + "read_snapshot_ms")
    if not 0 <= age <= 60000:
        raise ConfigError(f"{where}read_snapshot_ms: must be 0 to 60000")
    return StoreConfig(path=path, map_size_mb=size, max_map_size_mb=top, sync=sync,
                       read_snapshot_ms=age)


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
    return PolicyConfig(unknown=unknown, precedence=precedence, test_tac_prefixes=prefixes,
                        anomalies=anomalies)


def _log(table: Mapping[str, object], where: str) -> LogConfig:
    _reject_unknown(table, {"level"}, where)
    level = _expect(table.get("level", "info"), str, where + "level")
    if level not in LOG_LEVELS:
        raise ConfigError(f"{where}level: {level!r} is not one of {', '.join(LOG_LEVELS)}")
    return LogConfig(level=level)


def parse_config(data: Mapping[str, object], origin: str = "<defaults>") -> Config:
    """Validate a parsed TOML document."""
    prefix = f"{origin}: "
    _reject_unknown(data, {"store", "policy", "log"}, prefix)
    store = _store(_expect(data.get("store", {}), dict, prefix + "store"), prefix + "store.")
    policy = _policy(_expect(data.get("policy", {}), dict, prefix + "policy"), prefix + "policy.")
    log = _log(_expect(data.get("log", {}), dict, prefix + "log"), prefix + "log.")
    return Config(store=store, policy=policy, log=log, origin=origin)


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
    ]
    return "\n".join(lines) + "\n"
