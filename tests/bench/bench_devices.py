"""``make bench-devices``: the device database at the size of a real GSMA TAC file.

A 200,000-TAC file is generated in the 17-column layout (invented devices,
:mod:`eir.devices.sample`) and loaded with the real ``eir devices load`` (wall time, the
process's start included); then the in-memory index the serving process builds when the
device table changes (``LmdbStore.device_index``, as the read snapshot renewal does) is timed,
and one probe of it. Targets: the load within ``LOAD_TARGET`` seconds, the index built within
``INDEX_TARGET``. To stdout and ``var/bench/devices.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from eir.devices.sample import sample_text  # noqa: E402
from eir.store.lmdb_store import LmdbStore  # noqa: E402

EIR = str(Path(sys.executable).parent / "eir")
#: seconds: ``eir devices load`` of the 200,000-TAC file
LOAD_TARGET = 10.0
#: seconds: the in-memory index built from the table (in the serving process)
INDEX_TARGET = 1.0


def run(count: int) -> dict[str, Any]:
    results: dict[str, Any] = {"tacs": count}
    with tempfile.TemporaryDirectory(prefix="eir-bench-devices-") as tmp:
        path = Path(tmp) / "tac-200k.txt"
        started = time.perf_counter()
        path.write_text(sample_text("gsma17", count, seed=200))
        results["generate_s"] = round(time.perf_counter() - started, 2)
        results["file_bytes"] = path.stat().st_size
        db = Path(tmp) / "db"
        started = time.perf_counter()
        done = subprocess.run(
            [EIR, "devices", "load", str(path), "--db", str(db)],
            capture_output=True,
            text=True,
            check=False,
        )
        results["load_s"] = round(time.perf_counter() - started, 2)
        if done.returncode:
            raise SystemExit(f"eir devices load failed: {done.stderr}")
        results["load_line"] = done.stdout.strip()
        store = LmdbStore(db, read_snapshot_ms=0)
        try:
            started = time.perf_counter()
            index = store.device_index()
            results["index_s"] = round(time.perf_counter() - started, 3)
            store.close()
            store = LmdbStore(db, read_snapshot_ms=0)
            tracemalloc.start()  # apart: it slows what it traces
            store.device_index()
            results["index_mib"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
            tracemalloc.stop()
            tac = next(iter(store.device_items("device")))[0].decode()
            probes = 1_000_000
            started = time.perf_counter()
            for _ in range(probes):
                index.device(tac)
            results["probe_ns"] = round((time.perf_counter() - started) / probes * 1e9)
            results["size"] = index.size
        finally:
            store.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tacs", type=int, default=200_000)
    args = parser.parse_args()
    results = run(args.tacs)
    out = ROOT / "var" / "bench" / "devices.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    missed = [
        f"{name} {results[name]} s > {target} s"
        for name, target in (("load_s", LOAD_TARGET), ("index_s", INDEX_TARGET))
        if results[name] > target
    ]
    for line in missed:
        print(f"bench-devices: missed: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
