"""``make bench`` (validity classes, issue 16): what a device database of 200,000 TACs and 5
device rules add to the in-process cost of an answer (`eir.policy.decide`).

Measured in this process, in CPU time, over a list look-up that finds nothing at once (so that
the store does not drown a fraction of a microsecond), the two cases interleaved and the best
of ``--repeats`` kept: no device database (the answer path as before), then a generated
database of ``--tacs`` TACs (never real GSMA data) with an approved list of half of them and
5 rules. Two request sets of 1,000 IMEIs each: "clean" (TACs in the database, approved, matching no
rule: a current handset, most of the traffic) and "mixed" (any TAC of the database, 5 %
unallocated: classes and rules decide, so the answers themselves differ). Target: <= 1 us
added per answer on the clean set. Figures to stdout and ``var/bench/classes.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from itertools import cycle
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from eir.config import PolicyConfig, parse_config  # noqa: E402
from eir.devices.record import DeviceIndex  # noqa: E402
from eir.devices.sample import sample_devices  # noqa: E402
from eir.identity import Imei, Imsi, luhn_digit  # noqa: E402
from eir.model import NO_HITS, CheckRequest, Hits  # noqa: E402
from eir.policy import decide, validity_classes  # noqa: E402

TARGET_NS = 1000.0
RULES = [
    {
        "name": "2g-only",
        "action": "black",
        "radio_lacks": ["UMTS", "LTE", "NR"],
        "exempt_seen_before": "2024-03-01",
    },
    {"name": "modules", "action": "grey", "device_type": "Module"},
    {"name": "old", "action": "grey", "allocated_before": "2010-01-01"},
    {"name": "brand", "action": "ignore", "brand": "Acme"},
    {"name": "unapproved", "action": "ignore", "not_approved": True},
]


def generated(tacs: int) -> tuple[DeviceIndex, list[str]]:
    """A device database of ``tacs`` made-up TACs (`eir.devices.sample`: no real GSMA data),
    approved by TAC for half of them."""
    devices = {device.tac: device for device in sample_devices(tacs)}
    approved = frozenset(tac for tac in devices if int(tac) % 2 == 0)
    return DeviceIndex(devices, approved), list(devices)


def requests(
    devices: DeviceIndex,
    known: list[str],
    settings: PolicyConfig,
    clean: bool,
    count: int = 1000,
    seed: int = 17,
) -> list[CheckRequest]:
    """``count`` requests: ``clean``, each of a TAC in the database, approved, matching no
    rule (a current handset: most of the traffic); else of any TAC of the database, and 5 %
    unallocated."""
    draw = random.Random(seed)
    tacs = [
        tac
        for tac in draw.sample(known, 5000)
        if not clean or not validity_classes(_imei(tac, "000000"), settings, devices).findings
    ]
    imsi = Imsi.parse("001019876543210")
    out = []
    for i in range(count):
        unallocated = not clean and i % 20 == 0
        tac = f"{draw.randrange(10**8):08d}" if unallocated else draw.choice(tacs)
        out.append(CheckRequest(_imei(tac, f"{draw.randrange(10**6):06d}"), imsi, "s13"))
    return out


def _imei(tac: str, snr: str) -> Imei:
    return Imei.parse(tac + snr + luhn_digit(tac + snr))


def cost(
    settings: PolicyConfig,
    devices: DeviceIndex | None,
    asked: list[CheckRequest],
    rounds: int,
) -> float:
    """CPU nanoseconds per decision over ``rounds`` requests cycling over ``asked``."""

    def lookup(imei14: str, imsi: str | None) -> Hits:
        return NO_HITS

    def seen(imei14: str) -> int | None:
        return None

    items = cycle(asked)
    batch = [next(items) for _ in range(rounds)]
    started = time.process_time()
    for request in batch:
        decide(request, lookup, settings, devices, seen)
    return (time.process_time() - started) / rounds * 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tacs", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--dir", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args()
    started = time.perf_counter()
    devices, known = generated(args.tacs)
    built = time.perf_counter() - started
    plain = PolicyConfig()
    ruled = parse_config({"policy": {"device_rules": RULES}}).policy
    sets = {kind: requests(devices, known, ruled, kind == "clean") for kind in ("clean", "mixed")}
    cases: dict[str, tuple[PolicyConfig, DeviceIndex | None, list[CheckRequest]]] = {}
    for kind, asked in sets.items():
        cases[f"{kind}: no device database"] = (plain, None, asked)
        cases[f"{kind}: {args.tacs} TACs + {len(RULES)} rules"] = (ruled, devices, asked)
    for settings, index, asked in cases.values():  # warm: the memo of each TAC asked
        cost(settings, index, asked, len(asked))
    best = dict.fromkeys(cases, float("inf"))
    names = list(cases)
    for turn in range(args.repeats):
        first = turn % len(names)
        for name in names[first:] + names[:first]:
            settings, index, asked = cases[name]
            best[name] = min(best[name], cost(settings, index, asked, args.rounds))
    for name in names:
        print(f"{name:42} {best[name]:8.0f} ns per answer")
    added = best[names[1]] - best[names[0]]
    mixed = best[names[3]] - best[names[2]]
    verdict = "ok" if added <= TARGET_NS else "MISSED"
    print(
        f"added by the device database and rules: {added:.0f} ns for a current handset "
        f"(target <= 1000 ns): {verdict}; {mixed:.0f} ns on the mixed traffic, where classes "
        "and rules decide (answers differ)"
    )
    print(f"index of {args.tacs} TACs built in {built:.2f} s")
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    summary = {
        "ns_per_answer": best,
        "added_ns": added,
        "mixed_added_ns": mixed,
        "tacs": args.tacs,
        "index_s": built,
    }
    (directory / "classes.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if added <= TARGET_NS else 1


if __name__ == "__main__":
    sys.exit(main())
