"""``make bench-versions``: diff and rollback of a 1-million-entry list (issue 18).

1. ``eir-sim generate`` writes 1.05 million rows; the first million are version 1 (``eir load
   --mode replace``), rows 50,000 to 1.05 million version 2 (a file that changes 10 % of the
   list: 5 % gone, 5 % new).
2. ``eir diff 1 2``'s work, in this process: the change sets composed
   (:func:`eir.store.versions.compose`) and written as CSV lines (:func:`eir.store.diff.
   diff_lines`); and the real ``eir diff 1 2 --csv`` from outside, its output counted.
3. The rollback's transaction in this process (aborted), then ``eir rollback 1 --yes`` from
   outside (it prints the new digest: a read of the whole store); the digest after it must be
   version 1's.

Figures go to stdout and ``var/bench/versions.json``. Exits 1 when the rollback does not give
version 1's digest back.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from eir.store.api import HandsetChange
from eir.store.diff import diff_lines
from eir.store.lmdb_store import LmdbStore
from eir.store.versions import compose, rollback_changes

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def eir(*args: str) -> tuple[float, str]:
    """Seconds for one ``eir`` command from outside, and its output."""
    started = time.perf_counter()
    result = subprocess.run([str(BIN / "eir"), *args], capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"bench: eir {' '.join(args)} failed:\n{result.stderr.decode()}")
    return elapsed, result.stdout.decode()


def files(work: Path, rows: int) -> tuple[Path, Path]:
    """The two list files: ``rows`` rows, and the same with 5 % gone and 5 % new."""
    first, second = work / f"versions-{rows}-a.csv", work / f"versions-{rows}-b.csv"
    if first.exists() and second.exists():
        return first, second
    change = rows // 20
    every = work / f"versions-{rows}-all.csv"
    subprocess.run(
        [str(BIN / "eir-sim"), "generate", str(every), "--count", str(rows + change)],
        check=True,
        capture_output=True,
    )
    lines = every.read_bytes().split(b"\n")
    header, body = lines[0], [line for line in lines[1:] if line]
    first.write_bytes(b"\n".join([header, *body[:rows]]) + b"\n")
    second.write_bytes(b"\n".join([header, *body[change:]]) + b"\n")
    every.unlink()
    return first, second


def digest(db: Path) -> str:
    value: str = json.loads(eir("stats", "--json", "--db", str(db))[1])["digest"]
    return value


def diff_in_process(db: Path) -> tuple[float, int]:
    """Seconds to compose versions 1..2 and write their CSV lines; the lines."""
    store = LmdbStore(db, create=False)
    try:
        started = time.perf_counter()
        view = store.snapshot()
        try:
            count = sum(len(lines) for lines in diff_lines(compose(view, 1, 2)))
        finally:
            view.release()
        return time.perf_counter() - started, count
    finally:
        store.close()


def rollback_in_process(db: Path) -> float:
    """Seconds of the rollback's transaction (records read, written, change set), aborted."""
    store = LmdbStore(db, create=False)
    change = HandsetChange("rollback", (), "bench", "", "", restores=1)
    try:
        started = time.perf_counter()
        store.restore(lambda txn: rollback_changes(txn, 1), change, dry_run=True)
        return time.perf_counter() - started
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    first, second = files(work, args.rows)
    db = work / "db-versions"
    shutil.rmtree(db, ignore_errors=True)
    load = ("--list", "black", "--source", "bench", "--mode", "replace", "--db", str(db))
    load_first, _ = eir("load", str(first), *load)
    before = digest(db)
    load_second, _ = eir("load", str(second), *load, "--force")
    diff_seconds, rows = diff_in_process(db)
    diff_cli, text = eir("diff", "1", "2", "--csv", "--db", str(db))
    rollback_seconds = rollback_in_process(db)
    rollback_cli, said = eir("rollback", "1", "--yes", "--db", str(db))
    after = digest(db)
    shutil.rmtree(db, ignore_errors=True)
    results = {
        "rows": args.rows,
        "load_seconds": round(load_first, 2),
        "replace_seconds": round(load_second, 2),
        "diff_rows": rows,
        "diff_function_seconds": round(diff_seconds, 2),
        "diff_cli_seconds": round(diff_cli, 2),
        "diff_cli_lines": text.count("\n") - 1,
        "rollback_function_seconds": round(rollback_seconds, 2),
        "rollback_cli_seconds": round(rollback_cli, 2),
        "rollback_digest_equal": after == before,
    }
    (work / "versions.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{args.rows:,}-entry list, a replace changing 10 % ({rows:,} entries):")
    print(f"  load {load_first:.2f} s, replace {load_second:.2f} s")
    print(f"  diff (compose + CSV lines, in process): {diff_seconds:.2f} s")
    print(f"  eir diff 1 2 --csv: {diff_cli:.2f} s ({results['diff_cli_lines']:,} lines)")
    print(f"  rollback (its transaction, in process, aborted): {rollback_seconds:.2f} s")
    print(f"  eir rollback 1 (digest included): {rollback_cli:.2f} s: {said.splitlines()[0]}")
    if after != before:
        print("bench: the rollback did not give version 1's digest back", file=sys.stderr)
        return 1
    print("  digest after the rollback = version 1's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
