"""Reading the configuration: a TOML file (tomllib) into `Config`, every key validated once by
its declaration, unknown keys rejected. Errors read ``FILE: section.key: reason``.

Layer 0: standard library only.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eir.config.checks import of_type
from eir.config.keys import SECTIONS, Config
from eir.config.kinds import keyed, reject_unknown
from eir.config.schema import parse_section
from eir.errors import ConfigError


def parse_config(data: Mapping[str, object], origin: str = "<defaults>") -> Config:
    """Validate a parsed TOML document."""
    prefix = f"{origin}: "
    reject_unknown(data, list(SECTIONS), prefix)
    sections: dict[str, Any] = {
        name: parse_section(kind, _table(data.get(name, {}), prefix + name), f"{prefix}{name}.")
        for name, kind in SECTIONS.items()
    }
    return Config(**sections, origin=origin)


def _table(value: object, where: str) -> dict[str, object]:
    with keyed(where):
        table: dict[str, object] = of_type(value, dict)
    return table


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
