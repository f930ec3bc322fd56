"""``[[policy.device_rules]]`` through the real ``eir check-config``: a rule that could never
match, an exemption that could never apply and a name taken by a class are refused."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import eir

RULE = '[[policy.device_rules]]\nname = "r"\naction = "black"\n'


def _refused(tmp_path: Path, text: str) -> str:
    config = tmp_path / "eir.toml"
    config.write_text(text)
    result = eir("check-config", config)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    prefix = f"{config}: "
    assert result.stderr.startswith(prefix), result.stderr
    return result.stderr.removeprefix(prefix)


def test_radios_are_the_names_eir_gives_them(tmp_path: Path) -> None:
    for key, word in (("radio_lacks", "4G"), ("radio_has", "lte"), ("radio_lacks", "WCDMA")):
        message = _refused(tmp_path, f'{RULE}{key} = ["{word}"]\n')
        assert message == (
            f"policy.device_rules[0].{key}: '{word}' is not one of GSM, UMTS, LTE, NR, CDMA, "
            "NB-IOT\n"
        )
    config = tmp_path / "eir.toml"
    config.write_text(f'{RULE}radio_lacks = ["GSM", "UMTS", "LTE", "NR", "CDMA", "NB-IOT"]\n')
    assert eir("check-config", config).returncode == 0


def test_exempt_seen_before_needs_observations(tmp_path: Path) -> None:
    rule = f'{RULE}radio_has = ["GSM"]\nexempt_seen_before = "2024-03-01"\n'
    message = _refused(tmp_path, f"[observations]\nenabled = false\n{rule}")
    assert message == "policy.device_rules[0].exempt_seen_before: needs observations.enabled\n"
    config = tmp_path / "eir.toml"
    config.write_text(rule)
    assert eir("check-config", config).returncode == 0


def test_a_rule_may_not_take_a_class_name(tmp_path: Path) -> None:
    for name in ("check-digit", "tac-unallocated", "duplicate"):
        text = f'[[policy.device_rules]]\nname = "{name}"\naction = "black"\nbrand = "X"\n'
        assert _refused(tmp_path, text) == (
            f"policy.device_rules[0].name: '{name}' is the name of a class; a device rule "
            "needs a name of its own\n"
        )
