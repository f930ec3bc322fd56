"""``make bench`` (lifecycle, issue 18): what entries with times (``effective``/``expires``)
add to the cost of an answer.

A list store of ``--imeis`` black entries (1M by default) in a temporary LMDB: half of them
without times, half with times (a due date in the past, so both answer black, and an
``expires`` ahead). In this process, in CPU time, `eir.policy.decide` over the store's
`LmdbStore.lookup` (the daemon's own answer path, the lifecycle clock as `eir.checker` passes
it) for three request sets of ``--sample`` IMEIs each: listed without times, listed with times,
on no list; and each set's first IMEI over and over (cached: the answer path's own work). The
sets are interleaved and the best of ``--repeats`` rounds kept. Target: times add <= 0.5 us
per answer (random IMEIs). Figures to stdout and ``var/bench/lifecycle.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from eir.checker import answer_clock  # noqa: E402
from eir.config import Config  # noqa: E402
from eir.identity import Imei  # noqa: E402
from eir.model import CheckRequest, ListName  # noqa: E402
from eir.policy import decide  # noqa: E402
from eir.reload import Live  # noqa: E402
from eir.store.api import Mode  # noqa: E402
from eir.store.batch import Batch, Group  # noqa: E402
from eir.store.lmdb_store import LmdbStore  # noqa: E402
from eir.store.records import Table  # noqa: E402

TARGET_NS = 500.0
UNTIMED_BASE = 35_000_000_000_000
TIMED_BASE = 36_000_000_000_000
UNLISTED_BASE = 37_000_000_000_000


def filled(path: Path, count: int, now: int) -> LmdbStore:
    """A store of ``count`` black entries: half without times, half with (in force now)."""
    store = LmdbStore(path, map_size_mb=512)
    half = count // 2
    untimed = [b"%014d" % (UNTIMED_BASE + i * 7) for i in range(half)]
    timed = [b"%014d" % (TIMED_BASE + i * 7) for i in range(half)]
    groups = [
        Group(Table.IMEI, ListName.BLACK, "plain", keys=untimed),
        Group(
            Table.IMEI,
            ListName.BLACK,
            "timed",
            keys=timed,
            times=[(now - 86400, now + 365 * 86400)] * half,
        ),
    ]
    store.apply(Batch(groups=groups, rows=count), Mode.ADD, [(ListName.BLACK, "plain")], now=now)
    return store


def requests(base: int, half: int, sample: int, rng: random.Random) -> list[CheckRequest]:
    return [
        CheckRequest(Imei(f"{base + rng.randrange(half) * 7:014d}"), None) for _ in range(sample)
    ]


def timed_run(answer: Callable[[CheckRequest], object], batch: list[CheckRequest]) -> float:
    """CPU ns per answer over ``batch``."""
    started = time.process_time_ns()
    for request in batch:
        answer(request)
    return (time.process_time_ns() - started) / len(batch)


def measure(args: argparse.Namespace) -> dict[str, object]:
    config = Config()
    rng = random.Random(18)
    now = int(time.time())
    with tempfile.TemporaryDirectory(prefix="eir-bench-lifecycle-") as folder:
        started = time.perf_counter()
        store = filled(Path(folder) / "db", args.imeis, now)
        load_s = time.perf_counter() - started
        try:
            policy = config.policy
            clock = answer_clock(Live(config))  # the daemon's: the live offset read each time

            def answer(request: CheckRequest) -> object:
                return decide(request, store.lookup, policy, None, None, clock)

            half = args.imeis // 2
            sets = {
                "untimed": requests(UNTIMED_BASE, half, args.sample, rng),
                "timed": requests(TIMED_BASE, half, args.sample, rng),
                "unlisted": requests(UNLISTED_BASE, half, args.sample, rng),
            }
            assert str(answer(sets["timed"][0])).startswith("CheckResult(status=<Equipment")
            # the same IMEI over and over: its pages and record cached, what is left is the
            # answer path's own work (the judgment of the times stands out of the noise)
            sets |= {f"{name}, one IMEI": [batch[0]] * len(batch) for name, batch in sets.items()}
            best = {name: float("inf") for name in sets}
            for _ in range(args.repeats):
                for name, batch in sets.items():
                    best[name] = min(best[name], timed_run(answer, batch))
        finally:
            store.close()
    added = best["timed"] - best["untimed"]
    hot = best["timed, one IMEI"] - best["untimed, one IMEI"]
    return {
        "imeis": args.imeis,
        "sample": args.sample,
        "repeats": args.repeats,
        "load_s": round(load_s, 2),
        "ns_per_answer": {k: round(v, 1) for k, v in best.items()},
        "times_add_ns": round(added, 1),
        "times_add_ns_one_imei": round(hot, 1),
        "target_ns": TARGET_NS,
        "met": added <= TARGET_NS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--imeis", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    doc = measure(args)
    per = doc["ns_per_answer"]
    assert isinstance(per, dict)
    print(f"store: {doc['imeis']:,} black entries, half with times ({doc['load_s']} s to load)")
    for name, value in per.items():
        print(f"decide + lookup, {name:>18}: {value:8.1f} ns per answer")
    verdict = "met" if doc["met"] else "MISSED"
    print(f"times add {doc['times_add_ns']} ns per answer (target <= {TARGET_NS:.0f}): {verdict}")
    print(f"times add {doc['times_add_ns_one_imei']} ns per answer, one IMEI over and over")
    out = ROOT / "var" / "bench" / "lifecycle.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0 if doc["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
