"""eir.config: defaults, the shipped file, and every kind of bad value."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from eir.config import Config, load_config, parse_config, to_toml
from eir.errors import ConfigError
from eir.identity import Anomaly
from eir.model import ListName

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_file_documents_exactly_the_defaults() -> None:
    shipped = load_config(ROOT / "conf" / "eir.toml")
    assert dataclasses.replace(shipped, origin="<defaults>") == Config()


def test_effective_toml_parses_back(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    config = parse_config({"policy": {"unknown": "unknown", "precedence": ["white", "grey",
                                                                          "black"]}})
    path.write_text(to_toml(config))
    again = load_config(path)
    assert again.policy.unknown == "unknown"
    assert again.policy.precedence == (ListName.WHITE, ListName.GREY, ListName.BLACK)


@pytest.mark.parametrize(
    ("data", "message"),
    [({"stor": {}}, "stor: unknown key"),
     ({"store": {"paht": "x"}}, "store.paht: unknown key"),
     ({"store": {"map_size_mb": "big"}}, "store.map_size_mb: expected an integer, got str"),
     ({"store": {"map_size_mb": True}}, "got a boolean"),
     ({"store": {"map_size_mb": 0}}, "at least 1"),
     ({"store": {"map_size_mb": 10, "max_map_size_mb": 5}}, "at least map_size_mb"),
     ({"store": {"path": ""}}, "must not be empty"),
     ({"policy": {"unknown": "black"}}, "policy.unknown: 'black' is not one of"),
     ({"policy": {"precedence": ["black", "grey"]}}, "once each"),
     ({"policy": {"anomalies": {"check_digit": "grey"}}}, r"anomalies\.check_digit: unknown"),
     ({"policy": {"anomalies": {"check-digit": "block"}}}, "'block' is not one of"),
     ({"policy": {"test_tac_prefixes": ["0x"]}}, "not 1 to 8 digits"),
     ({"log": {"level": "loud"}}, "log.level"),
     ({"store": []}, "store: expected a table")],
)
def test_bad_values_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(data, origin="x.toml")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[store\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(bad)


def test_anomaly_actions_merge_with_defaults() -> None:
    config = parse_config({"policy": {"anomalies": {"test-tac": "black"}}})
    assert config.policy.anomalies[Anomaly.TEST_TAC] == "black"
    assert config.policy.anomalies[Anomaly.CHECK_DIGIT] == "grey"
