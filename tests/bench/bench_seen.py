"""``python tests/bench/bench_seen.py`` (device rules' exemption, issue 16): the cost of an
answer whose IMEI matches a device rule with ``exempt_seen_before``, so that the policy asks
when the observation store first saw it (`eir.observing.first_seen`).

In this process, CPU time, best of ``--repeats``: `eir.policy.decide` over ``--imeis`` IMEIs of
a 2G-only device (the rule matches every one; half first seen before the cut-off), in an
observation store of ``--records`` pairs, asking

* ``store``: `ObservationStore.first_seen` with a read transaction per call (before the cache);
* ``snapshot``: the same from a read snapshot shared for 50 ms (a cache miss);
* ``cached``: `eir.observing.first_seen`, what ``eir serve`` asks (a cache hit once an IMEI
  was asked in the last 60 s);
* ``dict``: the answers from a dict, the floor (the policy's own cost of the rule and its
  exemption).

Figures to stdout and ``var/bench/seen.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from eir.config import parse_config  # noqa: E402
from eir.devices.record import Device, DeviceIndex  # noqa: E402
from eir.identity import Imei  # noqa: E402
from eir.model import NO_HITS, CheckRequest, Hits  # noqa: E402
from eir.observations.record import Sighting  # noqa: E402
from eir.observations.store import ObservationStore  # noqa: E402
from eir.observing import first_seen  # noqa: E402
from eir.policy import decide  # noqa: E402

TAC = "35111100"
CUTOFF = 1_709_251_200  # 2024-03-01
RULE = {
    "name": "2g-only",
    "action": "black",
    "radio_lacks": ["UMTS", "LTE", "NR"],
    "exempt_seen_before": "2024-03-01",
}


def imei14(n: int, tac: str = TAC) -> str:
    return f"{tac}{n:06d}"


def filled(path: Path, records: int, imeis: int) -> None:
    """``records`` pairs: the ``imeis`` of the 2G-only device, half seen before the cut-off,
    and other IMEIs beside them."""
    store = ObservationStore(path, map_size_mb=1024)
    try:
        batch = [
            Sighting(imei14(n), f"00101{n:010d}", CUTOFF + (-86_400 if n % 2 else 86_400))
            for n in range(imeis)
        ]
        batch += [
            Sighting(imei14(n, "86000000"), f"00102{n:010d}", CUTOFF)
            for n in range(records - imeis)
        ]
        for start in range(0, len(batch), 50_000):
            store.observe("n1", batch[start : start + 50_000])
    finally:
        store.close()


def cost(seen: Callable[[str], int | None], asked: list[CheckRequest], rounds: int) -> float:
    settings = parse_config({"policy": {"device_rules": [RULE]}}).policy
    devices = DeviceIndex({TAC: Device(TAC, "Acme", "Brick", radio_interface="GSM")}, frozenset())

    def lookup(imei14: str, imsi: str | None) -> Hits:
        return NO_HITS

    batch = [asked[i % len(asked)] for i in range(rounds)]
    started = time.process_time()
    for request in batch:
        decide(request, lookup, settings, devices, seen)
    return (time.process_time() - started) / rounds * 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--imeis", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args()
    out = Path(args.dir)
    path = out / "seen-observations"
    shutil.rmtree(path, ignore_errors=True)
    filled(path, args.records, args.imeis)
    asked = [CheckRequest(Imei.trusted(imei14(n))) for n in range(args.imeis)]
    copy = out / "seen-observations-2"  # LMDB opens one environment once in a process
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(path, copy)
    plain = ObservationStore(path, map_size_mb=1024)
    shared = ObservationStore(copy, map_size_mb=1024, read_snapshot_ms=50)
    cases: dict[str, Callable[[str], int | None]] = {
        "store": plain.first_seen,
        "snapshot": shared.first_seen,
        "cached": first_seen(lambda: shared),
        "dict": {i: plain.first_seen(i) for i in (r.imei.key for r in asked)}.get,
    }
    best = dict.fromkeys(cases, float("inf"))
    try:
        for seen in cases.values():
            cost(seen, asked, len(asked))  # warm
        for _ in range(args.repeats):
            for name, seen in cases.items():
                best[name] = min(best[name], cost(seen, asked, args.rounds))
    finally:
        plain.close()
        shared.close()
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(copy, ignore_errors=True)
    for name, ns in best.items():
        print(f"{name:>9}: {ns / 1000:6.2f} us per answer (rule hit with exemption)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "seen.json").write_text(json.dumps({"records": args.records, "ns": best}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
