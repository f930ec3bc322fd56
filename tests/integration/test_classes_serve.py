"""Validity classes and device rules through the real `eir` executable: `eir serve` answering
S13 and MAP CheckIMEI over real sockets for each class, a 2G-only device rule answered black
but for a grandfathered IMEI+IMSI pair and an IMEI seen before the rule's cut-off, and `eir
lookup` saying every class and rule that matched and which decided."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eir.diameter.s13.client import EcaView
from eir.identity import Imei, luhn_digit, tbcd_encode
from eir.model import EquipmentStatus
from tests.support.cli import eir
from tests.support.diameter import BlockingClient, serve
from tests.support.sigtran import Msc

S = EquipmentStatus
SAMPLES = Path(__file__).resolve().parents[2] / "conf" / "devices"
I1, I3, OTHER = "001010000000001", "001010000000003", "001019999999999"


def imei(tac: str, snr: str = "123456", digit: str | None = None) -> str:
    body = tac + snr
    return body + (luhn_digit(body) if digit is None else digit)


GSM_ONLY = imei("01034631")  # Acme F685, GSM only, approved
PAIRED = imei("01034631", "200000")  # grandfathered with I1 (first seen 2023-06-01)
EARLY = imei("01034631", "300000")  # first seen 2022-05-01, before the rule's cut-off
CURRENT = imei("49309285")  # Nimbus T877, LTE, approved: no class
#: (IMEI, the class or rule that decides, S13 Equipment-Status or None for 5422, MAP status)
CLASSES: list[tuple[str, str, S | None, str]] = [
    (CURRENT, "", S.WHITELISTED, "whiteListed"),
    (
        imei("49309285", digit=str((int(luhn_digit("49309285123456")) + 1) % 10 or 1)),
        "check-digit",
        S.GREYLISTED,
        "greyListed",
    ),
    ("11111111111111", "same-digits", S.BLACKLISTED, "blackListed"),
    (imei("00000000"), "zero-tac", S.BLACKLISTED, "blackListed"),
    (imei("00100000"), "test-tac", S.BLACKLISTED, "blackListed"),
    (imei("12345678"), "tac-unallocated", None, "unknownEquipment"),
    (imei("35568058"), "not-approved", S.GREYLISTED, "greyListed"),
    (GSM_ONLY, "2g-only", S.BLACKLISTED, "blackListed"),
]
CONFIG = """
[observations]
path = "{obs}"
retention_days = 3650  # the pairs seen in 2022 and 2023 are kept

[policy.anomalies]
check-digit = "grey"
same-digits = "black"
zero-tac = "black"
test-tac = "black"
tac-unallocated = "unknown"
not-approved = "grey"
malformed = "grey"

[[policy.device_rules]]
name = "2g-only"
action = "black"
radio_lacks = ["UMTS", "LTE", "NR"]
exempt_seen_before = "2023-01-01"
"""


def day(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())


def delta(*pairs: tuple[str, str, str]) -> str:
    rows = [
        [key[:14], imsi, day(seen), day(seen), [day(seen) // 86_400], 1]
        for key, imsi, seen in pairs
    ]
    return json.dumps({"v": 1, "node": "lab", "pairs": rows}) + "\n"


def prepared(tmp_path: Path) -> tuple[Path, Path]:
    """A list store with the sample device database and approved list, an observation store
    where PAIRED was first seen in 2023 (after the rule's cut-off) and EARLY in 2022 (before
    it), their pairs grandfathered (`eir pairs grandfather`, cut-off 2024-03-01)."""
    db, obs, config = tmp_path / "db", tmp_path / "obs", tmp_path / "eir.toml"
    config.write_text(CONFIG.format(obs=obs))
    for args in (
        ("devices", "load", SAMPLES / "sample-lab.csv"),
        ("devices", "load", "--approved", SAMPLES / "approved-sample.csv"),
    ):
        loaded = eir(*args, "--db", db, "--config", config)
        assert loaded.returncode == 0, loaded.stderr
    deltas = tmp_path / "seen.jsonl"
    deltas.write_text(delta((PAIRED, I1, "2023-06-01"), (EARLY, I3, "2022-05-01")))
    imported = eir("observations", "import", deltas, "--config", config)
    assert imported.returncode == 0, imported.stderr
    made = eir(
        "pairs", "grandfather", "--seen-before", "2024-03-01", "--db", db, "--config", config
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("seen before 2024-03-01: 2 pairs of 2 IMEIs; 2 to make white")
    return db, config


def looked(db: Path, config: Path, key: str, imsi: str | None = None) -> dict[str, Any]:
    args: list[str | Path] = ["lookup", key, "--json", "--db", db, "--config", config]
    result = eir(*args, *(["--imsi", imsi] if imsi else []))
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def status(eca: EcaView) -> S | None:
    return None if eca.result_code == 5422 else eca.equipment_status


def test_each_class_over_s13_and_map_and_in_eir_lookup(tmp_path: Path) -> None:
    db, config = prepared(tmp_path)
    for key, decider, _, _ in CLASSES:
        assert looked(db, config, key)["decided_by"] == (decider or None), key
    shown = looked(db, config, imei("35568058"))
    assert (
        shown["why"] == "class: not-approved (device 35568058 Nimbus T258 not on the approved list)"
    )
    assert shown["device"]["model"] == "T258"
    assert shown["device_classes"] == [
        {
            "class": "not-approved",
            "action": "grey",
            "detail": "device 35568058 Nimbus T258 not on the approved list",
            "exempt": None,
            "decided": True,
        }
    ]
    device = eir("devices", "lookup", GSM_ONLY, "--json", "--db", db, "--config", config)
    said = json.loads(device.stdout)
    assert (said["device"]["model"], said["classes"], said["rules"]) == ("F685", [], ["2g-only"])
    tac = eir("devices", "lookup", "12345678", "--db", db, "--config", config).stdout
    assert tac.splitlines()[-2:] == ["  classes: tac-unallocated", "  rules: none"]
    text = eir("lookup", GSM_ONLY, "--db", db, "--config", config).stdout.splitlines()
    assert text[:2] == [
        f"{GSM_ONLY}: blacklisted",
        "  why: rule 2g-only: radio GSM, no LTE/NR/UMTS (device 01034631 Acme F685)",
    ]
    assert "  device: 01034631 Acme F685 (Feature Phone, radio GSM)" in text
    assert (
        "  rule: 2g-only (radio GSM, no LTE/NR/UMTS (device 01034631 Acme F685)), action black, "
        "decided"
    ) in text
    with serve(db, "--config", str(config)) as served:
        client = BlockingClient(served.port())
        msc = Msc(served.port("m3ua"))
        for key, decider, s13, map_status in CLASSES:
            assert status(client.check(key)) == s13, decider
            answer = msc.check(2, tbcd_encode(key) if len(key) == 15 else Imei(key).to_tbcd())
            assert _map_status(answer) == map_status, decider
        meid = client.check(None, meid=bytes.fromhex("a0000000000001"))  # hexadecimal: malformed
        assert (meid.result_code, meid.equipment_status) == (2001, S.GREYLISTED)
        metrics = _scrape(served.port("metrics", "http"))
        client.close()
        msc.close()
    assert 'eir_class_checks_total{class="2g-only",rule="device-rule"} 2.0' in metrics
    assert 'eir_class_checks_total{class="tac-unallocated",rule="anomaly"} 2.0' in metrics
    assert (
        "# HELP eir_class_checks_total Checks of IMEIs holding a class (duplicate, a validity "
        "class) or matching a device rule (its name), by that class or rule and by what decided "
        "(class, anomaly, device-rule; pair, imei, range, unknown: another level did)"
    ) in metrics.splitlines()


def test_a_2g_only_rule_spares_a_grandfathered_pair_and_an_imei_seen_before(
    tmp_path: Path,
) -> None:
    db, config = prepared(tmp_path)
    with serve(db, "--config", str(config)) as served:
        client = BlockingClient(served.port())
        assert client.check(GSM_ONLY, OTHER).equipment_status is S.BLACKLISTED
        assert client.check(PAIRED, I1).equipment_status is S.WHITELISTED  # the pair
        assert client.check(PAIRED, OTHER).equipment_status is S.BLACKLISTED  # seen in 2023
        assert client.check(EARLY, OTHER).equipment_status is S.WHITELISTED  # seen in 2022
        client.close()
    paired = looked(db, config, PAIRED, I1)
    assert (paired["rule"], paired["why"]) == (
        "pair",
        f"pair: pair {PAIRED[:14]}+{I1} on white from grandfathered",
    )
    assert [r["rule"] for r in paired["rules"]] == ["2g-only"]  # matched, the pair decided
    early = looked(db, config, EARLY, OTHER)
    assert (early["answer"], early["rule"], early["decided_by"]) == ("whitelisted", "unknown", None)
    assert early["rules"][0]["exempt"] == "first seen 2022-05-01, before 2023-01-01"


def _map_status(answer: tuple[str, Any]) -> str:
    kind, body = answer
    assert kind == "end"
    ((_, (name, value)),) = body["components"]
    if name == "returnError":
        return "unknownEquipment" if value["errcode"] == ("local", 7) else str(value)
    result = value["result"]["result"][1]
    return str(result["equipmentStatus"] if isinstance(result, dict) else result)


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text: str = answer.read().decode()
    return text
