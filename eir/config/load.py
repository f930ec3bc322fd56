"""Reading the configuration: a TOML file (tomllib) into `Config`, every key validated once by
its declaration, unknown keys rejected. Errors read ``FILE: section.key: reason``; a file's
errors are all raised at once (`eir.errors.ConfigFileError`, one a line).

Layer 0: standard library only.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eir.config.checks import Errors, of_type
from eir.config.keys import SECTIONS, Config, check_across
from eir.config.kinds import keyed, reject_unknown
from eir.config.schema import parse_section
from eir.errors import ConfigFileError


def parse_config(data: Mapping[str, object], origin: str = "<defaults>") -> Config:
    """Validate a parsed TOML document: `ConfigFileError` with every error found."""
    prefix = f"{origin}: "
    errors = Errors()
    for key in data:
        with errors.gathered():
            reject_unknown({key: None}, list(SECTIONS), prefix)
    sections: dict[str, Any] = {}
    for name, kind in SECTIONS.items():
        with errors.gathered():
            table = _table(data.get(name, {}), prefix + name)
            sections[name] = parse_section(kind, table, f"{prefix}{name}.")
    errors.raise_any()
    config = Config(**sections, origin=origin)
    with errors.gathered():
        check_across(config, prefix)
    errors.raise_any()
    return config


def _table(value: object, where: str) -> dict[str, object]:
    with keyed(where):
        table: dict[str, object] = of_type(value, dict)
    return table


def load_config(path: str | Path | None) -> Config:
    """Read and validate ``path``; None gives the embedded defaults. Whatever is wrong is a
    `ConfigFileError` (exit 1)."""
    if path is None:
        return Config()
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigFileError([f"{name}: no such file"]) from None
    except OSError as exc:
        raise ConfigFileError([f"{name}: cannot read: {exc.strerror}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError([f"{name}: not valid TOML: {exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigFileError([f"{name}: not UTF-8 text"]) from None
    return parse_config(data, origin=name)
