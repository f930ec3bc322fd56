"""eir.config: defaults, the shipped file, and every kind of bad value."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from eir.config import (
    SECTIONS,
    Config,
    documented_toml,
    load_config,
    markdown,
    parse_config,
    to_toml,
)
from eir.config.schema import declared, doc_of
from eir.errors import ConfigError
from eir.identity import Anomaly
from eir.model import ListName

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_file_documents_exactly_the_defaults() -> None:
    shipped = load_config(ROOT / "conf" / "eir.toml")
    assert dataclasses.replace(shipped, origin="<defaults>") == Config()


def test_shipped_file_is_generated_from_the_declarations() -> None:
    """`python -m eir.config toml > conf/eir.toml` after changing a key."""
    assert (ROOT / "conf" / "eir.toml").read_text() == documented_toml()


def test_configuration_docs_are_generated_from_the_declarations() -> None:
    """`python -m eir.config markdown > docs/configuration.md` after changing a key."""
    assert (ROOT / "docs" / "configuration.md").read_text() == markdown()


def test_every_key_is_documented_and_its_default_reads_back() -> None:
    for name, section in SECTIONS.items():
        assert doc_of(section), name
        for f, setting in declared(section):
            assert setting.doc, f"{name}.{f.name}"
            assert setting.kind.type_name(), f"{name}.{f.name}"
    again = parse_config(tomllib.loads(to_toml(Config())))
    assert again == Config()


def test_effective_toml_parses_back(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    config = parse_config(
        {"policy": {"unknown": "unknown", "precedence": ["white", "grey", "black"]}}
    )
    path.write_text(to_toml(config))
    again = load_config(path)
    assert again.policy.unknown == "unknown"
    assert again.policy.precedence == (ListName.WHITE, ListName.GREY, ListName.BLACK)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"stor": {}}, "stor: unknown key"),
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
        ({"store": []}, "store: expected a table"),
        ({"diameter": {"listen": ["udp://1.2.3.4:5"]}}, "diameter.listen: .*not tcp or sctp"),
        ({"diameter": {"listen": ["1.2.3.4:99999"]}}, "not 0 to 65535"),
        ({"diameter": {"listen": ["::1:3868"]}}, "in brackets"),
        ({"diameter": {"origin_host": "bad host"}}, "diameter.origin_host: 'bad host'"),
        ({"diameter": {"watchdog_s": 1}}, "diameter.watchdog_s: must be 6 to 3600"),
        ({"diameter": {"max_in_flight": 0}}, "max_in_flight"),
        ({"diameter": {"allowed_networks": ["10.0.0.0/33"]}}, "not an address or network"),
        ({"diameter": {"host_ip_addresses": ["eir.example"]}}, "not an IP address"),
        (
            {"diameter": {"peers": [{"address": "tcp://dra:3868", "realm": "x"}]}},
            r"diameter.peers\[0\].realm: unknown key",
        ),
        ({"diameter": {"peers": [{"host": "dra"}]}}, r"peers\[0\].address: missing"),
        ({"service": {"workers": 0}}, "service.workers: must be 1 to 256"),
    ],
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


def test_diameter_section_round_trips(tmp_path: Path) -> None:
    config = parse_config(
        {
            "service": {"workers": 3},
            "diameter": {
                "listen": ["sctp://[::1]:0", "10.0.0.1"],
                "realms": ["EPC.example"],
                "allowed_hosts": ["mme*"],
                "peers": [{"address": "dra1:3869", "host": "dra1.example"}],
            },
        }
    )
    d = config.diameter
    assert [str(e) for e in d.listen] == ["sctp://[::1]:0", "tcp://10.0.0.1:3868"]
    assert d.realms == ("epc.example",)
    assert str(d.peers[0].address) == "tcp://dra1:3869" and d.peers[0].host == "dra1.example"
    path = tmp_path / "c.toml"
    path.write_text(to_toml(config))
    assert dataclasses.replace(load_config(path), origin="x") == dataclasses.replace(
        config, origin="x"
    )


def test_m3ua_access_control_round_trips(tmp_path: Path) -> None:
    config = parse_config(
        {
            "m3ua": {
                "allowed_networks": ["10.0.0.0/8", "::1"],
                "handshake_timeout_s": 2.5,
                "beat_interval_s": 0,
                "routing_contexts": [100, 200],
                "asps": [
                    {
                        "name": "msc1",
                        "asp_identifier": 11,
                        "networks": ["10.1.0.0/16"],
                        "routing_contexts": [100],
                        "override": True,
                    },
                    {"name": "sgsn"},
                ],
            }
        }
    )
    m = config.m3ua
    assert m.allowed_networks == ("10.0.0.0/8", "::1") and m.handshake_timeout_s == 2.5
    assert m.beat_interval_s == 0.0
    assert m.asps[0].asp_identifier == 11 and m.asps[0].override
    assert m.asps[1].asp_identifier == -1 and m.asps[1].networks == ()
    path = tmp_path / "c.toml"
    path.write_text(to_toml(config))
    assert dataclasses.replace(load_config(path), origin="x") == dataclasses.replace(
        config, origin="x"
    )


@pytest.mark.parametrize(
    ("m3ua", "message"),
    [
        ({"allowed_networks": ["10.0.0.0/33"]}, "m3ua.allowed_networks: .*not an address"),
        ({"handshake_timeout_s": -1}, "m3ua.handshake_timeout_s: must be 0 to 3600"),
        ({"beat_interval_s": 4000}, "m3ua.beat_interval_s: must be 0 to 3600"),
        ({"asps": [{"asp_identifier": 1}]}, r"m3ua.asps\[0\].name: missing"),
        ({"asps": [{"name": "a"}, {"name": "a"}]}, r"m3ua.asps\[1\].name: 'a' is configured twice"),
        ({"asps": [{"name": "a", "asp_identifier": 2**32}]}, r"asps\[0\].asp_identifier"),
        ({"asps": [{"name": "a", "networks": ["x"]}]}, r"asps\[0\].networks: 'x'"),
        ({"asps": [{"name": "a", "routing_contexts": [-1]}]}, r"asps\[0\].routing_contexts"),
        ({"asps": [{"name": "a", "override": "yes"}]}, r"asps\[0\].override"),
        ({"asps": [{"name": "a", "peer": "x"}]}, r"asps\[0\].peer: unknown key"),
    ],
)
def test_m3ua_access_control_errors_name_the_key(m3ua: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"m3ua": m3ua}, origin="x.toml")


def test_the_generator_prints_each_file(capsys: pytest.CaptureFixture[str]) -> None:
    from eir.config.__main__ import main

    assert main(["toml"]) == 0 and capsys.readouterr().out == documented_toml()
    assert main(["markdown"]) == 0 and capsys.readouterr().out == markdown()
    assert main([]) == 2 and "usage" in capsys.readouterr().err
