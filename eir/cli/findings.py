"""What `eir lookup` and `eir devices lookup` show of the validity classes, the device behind
the TAC and the device rules: as JSON fields and as lines for a reader."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from eir.config import Config, PolicyConfig
from eir.devices.record import Device, DeviceIndex
from eir.events import decided_by
from eir.identity import Imei
from eir.model import CheckResult, Finding
from eir.observations.store import observations_path, open_observations
from eir.policy import Seen, validity_classes


def device_dict(device: Device | None) -> dict[str, str] | None:
    """The device database's record of the TAC, every field (None: not in it)."""
    return None if device is None else dict(device._asdict())


def findings_dict(result: CheckResult, devices: DeviceIndex | None, key: str) -> dict[str, object]:
    """The fields `eir lookup --json` adds: the device, the device database's classes and the
    device rules that matched (each with its action, what it saw, an exemption, whether it
    decided) and the name of what decided (a class, an anomaly or a rule; None: an entry)."""
    device = None if devices is None or not devices.has_devices else devices.device(key[:8])
    decider = decided_by(result)
    return {
        "device": device_dict(device),
        "device_classes": [_finding_dict(f, decider) for f in result.findings if not f.rule],
        "rules": [_finding_dict(f, decider) for f in result.findings if f.rule],
        "decided_by": decider,
    }


def _finding_dict(finding: Finding, decider: str | None) -> dict[str, object]:
    return {
        "rule" if finding.rule else "class": finding.name,
        "action": finding.action,
        "detail": finding.detail,
        "exempt": finding.exempt or None,
        "decided": finding.name == decider,
    }


def print_findings(data: dict[str, object]) -> None:
    """The lines of `eir lookup` for the device, its classes and the rules that matched."""
    device = data.get("device")
    if isinstance(device, dict):
        print(
            f"  device: {device['tac']} {device['brand']} {device['model']} "
            f"({device['device_type'] or 'no type'}, radio {device['radio_interface'] or 'none'})"
        )
    for key in ("device_classes", "rules"):
        found = data.get(key)
        for item in found if isinstance(found, list) else []:
            name = item.get("class") or item.get("rule")
            what = "class" if "class" in item else "rule"
            print(
                f"  {what}: {name} ({item['detail']}), action {item['action']}"
                + (f", exempt: {item['exempt']}" if item["exempt"] else "")
                + (", decided" if item["decided"] else "")
            )


@contextlib.contextmanager
def seen_lookup(config: Config) -> Iterator[Seen | None]:
    """When the observation store first saw an IMEI, for the device rules' exemptions (opened
    only when a rule has one and the store exists; only read); None otherwise."""
    wanted = any(rule.exempt_seen_before for rule in config.policy.device_rules)
    if not (wanted and config.observations.enabled and Path(observations_path(config)).exists()):
        yield None
        return
    store = open_observations(config)
    try:
        yield store.first_seen
    finally:
        store.close()


def classes_of(text: str, devices: DeviceIndex, settings: PolicyConfig) -> dict[str, list[str]]:
    """What `eir devices lookup` adds: the validity classes (an IMEI's every one; a TAC's from
    the device database only, as its digits alone say nothing of a whole IMEI) and the device
    rules that match (exemptions are per IMEI: not asked here)."""
    digits = "".join(c for c in text if c.isdigit())
    if len(digits) >= 14:
        found = validity_classes(Imei(digits[:14]), settings, devices)
        names = sorted(a.value for a in found.anomalies)
    else:
        found = validity_classes(Imei(digits[:8] + "000000"), settings, devices)
        names = sorted(f.name for f in found.findings if not f.rule)
    return {"classes": names, "rules": [f.name for f in found.findings if f.rule]}
