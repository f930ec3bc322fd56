"""``make bench-observations``: what observations cost, measured in one run (issue 17).

1. The answer path's in-process cost with observations on and off in the same run: the
   checker (`eir.checker.checker`, counted in the metrics) over a real `LmdbStore` holding the
   demo lists, requests with an IMSI (white IMEIs, all different), CPU time, the two
   interleaved, the best of several rounds kept; and the buffer's append alone. Target: <= 1 us
   added per answer.
2. Observations written per second by the writer's call (`ObservationStore.observe`, one
   transaction a batch, sync as configured by default): batches of 10,000 sightings of new
   pairs, then the same pairs again (repeated checks: records updated, none new).
3. Memory at N distinct pairs (10 million by default, ``--pairs``): written in batches of
   100,000 (random IMEI order), the store's size in use (``stats().used_bytes``) and this
   process's peak RSS after writing them.

Figures go to stdout and ``var/bench/observations.json``; exit 1 when target 1 is missed.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BATCH = 10_000


def pair(i: int) -> tuple[str, str]:
    """The i-th distinct pair: IMEIs in a scrambled order (a bijection of 10**8), IMSIs too."""
    return f"35{(i * 2654435761) % 10**12:012d}", f"00101{(i * 40503) % 10**10:010d}"


def answer_cost(db: Path, rounds: int = 20_000, repeats: int = 15) -> dict[str, float]:
    from eir.checker import checker
    from eir.config import Config
    from eir.identity import Imei, Imsi
    from eir.model import CheckRequest
    from eir.observations.buffer import SightingBuffer
    from eir.observe.metrics import Metrics
    from eir.startup import open_store

    config = Config()
    store = open_store(config, str(db), create=False)
    requests = [
        CheckRequest(Imei.parse(imei), Imsi.parse(imsi), "s13")
        for imei, imsi in (pair(i) for i in range(rounds))
    ]
    buffer = SightingBuffer(rounds * 2)
    checks = {
        "off": checker(config, store, Metrics(), None),
        "on": checker(config, store, Metrics(), None, sightings=buffer),
    }

    def run(check: object) -> float:
        started = time.process_time()
        for request in requests:
            check(request)  # type: ignore[operator]
        return (time.process_time() - started) / rounds * 1e9

    best = dict.fromkeys(checks, float("inf"))
    for turn in range(repeats):
        order = list(checks.items())
        if turn % 2:
            order.reverse()
        for mode, check in order:
            best[mode] = min(best[mode], run(check))
            buffer.drain()
    add = partial(buffer.add, "35209900176148", "001019876543210", 1.0)
    best_add = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(rounds):
            add()
        best_add = min(best_add, (time.process_time() - started) / rounds * 1e9)
        buffer.drain()
    store.close()
    return {
        "answer_ns_off": round(best["off"]),
        "answer_ns_on": round(best["on"]),
        "added_ns": round(best["on"] - best["off"]),
        "buffer_add_ns": round(best_add),
    }


def write_rate(folder: Path, pairs: int = 200_000) -> dict[str, float]:
    from eir.observations.store import ObservationStore

    store = ObservationStore(folder / "rate")
    now = 1_764_000_000
    out: dict[str, float] = {}
    for name, base in (("new_pairs_per_s", now), ("repeated_pairs_per_s", now + 60)):
        started = time.perf_counter()
        for start in range(0, pairs, BATCH):
            batch = [(*pair(i), base + i % 60) for i in range(start, start + BATCH)]
            store.observe("bench", batch)
        out[name] = round(pairs / (time.perf_counter() - started))
    store.close()
    return out


def live_bytes(path: Path) -> int:
    """The pages the store's tables hold (without LMDB's free pages)."""
    import lmdb

    env = lmdb.open(str(path), max_dbs=8, readonly=False)
    pages = 0
    with env.begin() as txn:
        for name, _ in txn.cursor():
            stat = txn.stat(env.open_db(bytes(name), txn=txn, create=False))
            pages += stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]
    psize = env.stat()["psize"]
    env.close()
    return int(pages * psize)


def rss_parts() -> dict[str, int]:
    """This process's resident memory now: anonymous (its heap) and file-backed (the store's
    mapped pages, which the kernel may drop), from /proc (Linux)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("RssAnon", "RssFile"):
            out[f"{name[3:].lower()}_rss_bytes"] = int(value.split()[0]) * 1024
    return out


def memory(folder: Path, pairs: int, step: int = BATCH) -> dict[str, float]:
    """``pairs`` distinct pairs written in flushes of ``step`` sightings, as a node without a
    broker writes them (nothing marked for publishing: the steady state once published)."""
    from eir.observations.store import ObservationStore

    store = ObservationStore(folder / "memory", sync=False)
    now = 1_764_000_000
    started = time.perf_counter()
    for start in range(0, pairs, step):
        rows = [(*pair(i), now) for i in range(start, min(pairs, start + step))]
        store.observe("bench", rows, publish=False)
    took = time.perf_counter() - started
    stats = store.stats()
    parts = rss_parts()
    store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    live = live_bytes(folder / "memory")
    return {
        "pairs": pairs,
        "seconds": round(took, 1),
        "pairs_per_s": round(pairs / took),
        "used_bytes": stats.used_bytes,
        "bytes_per_pair": round(stats.used_bytes / pairs),
        "live_bytes": live,
        "live_bytes_per_pair": round(live / pairs),
        "peak_rss_bytes": rss,
        **parts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=10_000_000, help="pairs of step 3")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="eir-bench-obs-") as temp:
        folder = Path(temp)
        db = folder / "db"
        subprocess.run(
            [BIN / "eir", "load", ROOT / "conf/lists/demo.csv", "--list", "black", "--db", db],
            check=True,
            capture_output=True,
        )
        figures["answer"] = answer_cost(db)
        print("answer path:", figures["answer"], flush=True)
        figures["write"] = write_rate(folder)
        print("writer:", figures["write"], flush=True)
        if not args.skip_memory:
            figures["memory"] = memory(folder, args.pairs)
            print("memory:", figures["memory"], flush=True)
        shutil.rmtree(folder, ignore_errors=True)
    out = ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "observations.json").write_text(json.dumps(figures, indent=2) + "\n")
    added = figures["answer"]["added_ns"]  # type: ignore[index]
    if added > 1000:
        print(f"missed: observations add {added} ns per answer (target <= 1000)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
