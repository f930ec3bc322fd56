"""``make bench-merge``: how fast the aggregating node merges observation deltas.

An observation store is filled with 1,000,000 pair records (deltas of 2,000 pairs from 10
nodes, merged as they arrive); then more deltas of 2,000 pairs are decoded and merged into it,
as the aggregator does with each message (`decode_delta`, then `ObservationStore.merge` in one
transaction): half update pairs the store holds (a later day), half are new. Figures: records
merged per second while filling and into the full store, the store's size, and the time to
judge 10,000 IMEIs by the default DIRBS rule. To stdout and ``var/bench/merge.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from eir.config.keys import DIRBS_RULE  # noqa: E402
from eir.observations.delta import MAX_PAIRS, decode_delta, encode_delta  # noqa: E402
from eir.observations.duplicate import detect  # noqa: E402
from eir.observations.record import DAY, Observed, PairRecord  # noqa: E402
from eir.observations.store import ObservationStore  # noqa: E402

D0 = 20_000
#: the records merged per second into the full store below which the bench fails
TARGET = 10_000


def pairs_of(start: int, count: int, node: str, day: int) -> list[Observed]:
    """``count`` pairs numbered from ``start``: 4 IMSIs per IMEI, seen on ``day``."""
    out = []
    for n in range(start, start + count):
        imei = f"35{n // 4:012d}"
        imsi = f"00101{n:010d}"
        t = day * DAY + (n % DAY)
        out.append(Observed(imei, imsi, node, PairRecord(t, t, (day,), 1 + n % 7)))
    return out


def merge_all(store: ObservationStore, messages: list[bytes]) -> tuple[int, float]:
    started = time.perf_counter()
    merged = 0
    for raw in messages:
        merged += store.merge(decode_delta(raw).pairs).changed
    return merged, time.perf_counter() - started


def run(records: int, extra: int) -> dict[str, Any]:
    nodes = [f"eir-{i}" for i in range(10)]
    results: dict[str, Any] = {"records": records, "delta_pairs": MAX_PAIRS}
    with tempfile.TemporaryDirectory(prefix="eir-bench-merge-") as tmp:
        store = ObservationStore(Path(tmp) / "obs", sync=False, map_size_mb=1024)
        fill = [
            raw
            for start in range(0, records, MAX_PAIRS)
            for raw in encode_delta(
                nodes[start // MAX_PAIRS % 10],
                pairs_of(
                    start, min(MAX_PAIRS, records - start), nodes[start // MAX_PAIRS % 10], D0
                ),
            )
        ]
        merged, seconds = merge_all(store, fill)
        results["fill_records_per_s"] = round(merged / seconds)
        rng = random.Random(17)
        more: list[bytes] = []
        for i in range(0, extra, MAX_PAIRS):
            node = nodes[i // MAX_PAIRS % 10]
            old = rng.randrange(0, records - MAX_PAIRS) // MAX_PAIRS * MAX_PAIRS
            later = [o._replace(node=node) for o in pairs_of(old, MAX_PAIRS // 2, node, D0 + 1)]
            new = pairs_of(records + i, MAX_PAIRS // 2, node, D0 + 1)
            more.extend(encode_delta(node, later + new))
        merged, seconds = merge_all(store, more)
        results["merged"] = merged
        results["records_per_s"] = round(merged / seconds)
        results["deltas_per_s"] = round(len(more) / seconds, 1)
        stats = store.stats()
        results["store_records"] = stats.records
        results["store_mib"] = round(stats.used_bytes / 2**20, 1)
        started = time.perf_counter()
        for n in range(0, 40_000, 4):
            detect(store.pairs(f"35{n // 4:012d}"), stats.clock, [DIRBS_RULE])
        results["judge_10k_imeis_s"] = round(time.perf_counter() - started, 3)
        store.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--extra", type=int, default=200_000)
    args = parser.parse_args()
    results = run(args.records, args.extra)
    results["target_records_per_s"] = TARGET
    for key, value in results.items():
        print(f"{key}: {value}")
    out = ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "merge.json").write_text(json.dumps(results, indent=2) + "\n")
    if results["records_per_s"] < TARGET:
        print(f"bench-merge: {results['records_per_s']} records/s is under {TARGET}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
