"""``make bench``: list-store speed on this machine, measured in one run.

1. ``eir-sim generate`` writes a 10-million-row blacklist CSV (valid IMEIs with check digits,
   random order, as police lists come).
2. ``eir load`` loads it into a fresh store, with full validation, timed from outside.
3. The raw rate: the same keys, already sorted, appended to a fresh LMDB from Python with
   ``putmulti(append=True)`` (the fastest way py-lmdb has) and with a ``put(append=True)`` loop.
4. Single lookups per second through ``LmdbStore.lookup``, warm: IMEIs on no list (most of
   real traffic), listed IMEIs, 1 % and 50 % listed; and the whole decision (``policy.decide``).
5. Size on disk; and the load rate of a 1-million-row CSV with reason and reference columns.

6. ``eir load --mode replace`` against a fresh load of the same rows (1 million by default):
   the same file again (every row unchanged), and a file of which 5 % of the rows are new and
   5 % of the old ones gone, against a fresh load of that file.
7. The other file shapes (issue 15), each loaded with ``eir load`` and side by side with a raw
   sorted ``putmulti`` of the same keys (values of the same mean size) in the same run: 10
   million rows of ``imei,reason,source,reference,added`` (three sources, ISO times), and
   (``--shape-rows``, 2 million by default) ``imei,reason`` and an Excel-like export
   (``IMEI;Reason;Reference;Model``, byte order mark, CRLF, the model column ignored).

Targets (issue 2): load >= 1,000,000 rows/s and >= 0.6 of the raw append; >= 500,000
lookups/s; 10 million entries <= 1 GB. Issue 13: a replace within 1.5 times a fresh load of
the same rows; issue 15: every shape of step 7 at >= 1,000,000 rows/s and >= 0.6 of its raw
append. The bench exits 1 when a ratio or rate is missed. Figures go to stdout and
``var/bench/store.json`` (``--replace-only``: step 6 alone, to ``var/bench/replace.json``;
``--shapes-only``: step 7 alone, to ``var/bench/shapes.json``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from itertools import repeat
from pathlib import Path

import lmdb

from eir.config import PolicyConfig
from eir.identity import Imei
from eir.model import CheckRequest
from eir.policy import decide
from eir.store.lmdb_store import LmdbStore
from sim.workload import generate_imeis

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(args)} failed:\n{result.stderr}")
    return elapsed


def raw_append(csv_path: Path, folder: Path, loop: bool, value_size: int = 13) -> float:
    """Seconds to append the file's keys, sorted beforehand, to a fresh LMDB and commit.

    Runs in a fresh process (see ``--raw``), like ``eir load``: a process that has already
    built ten million objects is slower at anything, which would flatter the ratio.
    """
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--raw",
            str(csv_path),
            str(folder),
            "loop" if loop else "putmulti",
            str(value_size),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"bench: raw append failed:\n{result.stderr}")
    return float(result.stdout)


def raw_child(csv_path: str, folder: str, how: str, value_size: str = "13") -> None:
    gc.disable()
    lines = Path(csv_path).read_bytes().split(b"\n")[1:]
    ordered = b"".join(sorted(line[:14] for line in lines if line))
    del lines
    # Re-made in sorted order, so that they also lie in memory in that order: sorted keys that
    # lie in file order cost putmulti twice the time in cache misses.
    keys = [ordered[i : i + 14] for i in range(0, len(ordered), 14)]
    del ordered
    shutil.rmtree(folder, ignore_errors=True)
    env = lmdb.open(folder, map_size=8 << 30, max_dbs=4)
    db = env.open_db(b"imei")
    value = b"B" + bytes(4) + b"\x05bench\x00\x00"  # the same 13 octets eir stores
    value += b"x" * (int(value_size) - len(value))  # or as long as its mean entry
    started = time.perf_counter()
    with env.begin(write=True, db=db) as txn:
        if how == "loop":
            put = txn.put
            for key in keys:
                put(key, value, append=True)
        else:
            txn.cursor().putmulti(zip(keys, repeat(value)), append=True)
    print(time.perf_counter() - started)
    env.close()
    shutil.rmtree(folder, ignore_errors=True)


def lookups_per_s(store: LmdbStore, probes: list[str]) -> int:
    """Warm: one untimed pass first maps the pages in, as a serving daemon has them."""
    lookup = store.lookup
    for key in probes:
        lookup(key, None)
    started = time.perf_counter()
    for key in probes:
        lookup(key, None)
    return round(len(probes) / (time.perf_counter() - started))


REPLACE_LIMIT = 1.5  # issue 13: a replace within 1.5 times a fresh load of the same rows


def eir_load(csv_path: Path, db: Path, *extra: str) -> tuple[float, str]:
    """Seconds for one `eir load` from outside (a process start, as an operator sees it), and
    its summary line."""
    args = [
        str(BIN / "eir"),
        "load",
        str(csv_path),
        "--list",
        "black",
        "--source",
        "bench",
        "--db",
        str(db),
        *extra,
    ]
    started = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(args)} failed:\n{result.stderr}")
    return elapsed, result.stdout.strip()


def changed_copy(csv_path: Path, out: Path, rows: int, work: Path) -> None:
    """``csv_path`` with its last 5 % of rows gone and as many new IMEIs (not in it) added."""
    change = rows // 20
    extra = work / f"extra-{change}.csv"
    run(str(BIN / "eir-sim"), "generate", str(extra), "--count", str(change * 2), "--seed", "13")
    lines = csv_path.read_bytes().split(b"\n")
    header, body = lines[0], [line for line in lines[1:] if line]
    kept = body[: rows - change]
    known = {line[:14] for line in body}
    fresh = [
        line for line in extra.read_bytes().split(b"\n")[1:] if line and line[:14] not in known
    ][:change]
    if len(fresh) < change:
        sys.exit("bench: too few new IMEIs for the changed file")
    out.write_bytes(b"\n".join([header, *kept, *fresh]) + b"\n")
    extra.unlink()


def bench_replace(work: Path, rows: int, repeat: int) -> dict[str, float | int | str]:
    """Fresh load, replace with the same rows, replace with 5 % new and 5 % gone: seconds
    (median of ``repeat`` runs, each from a fresh store) and the ratios to a fresh load."""
    base = work / f"replace-{rows}.csv"
    changed = work / f"replace-{rows}-changed.csv"
    if not base.exists():
        run(str(BIN / "eir-sim"), "generate", str(base), "--count", str(rows), "--seed", "5")
    if not changed.exists():
        changed_copy(base, changed, rows, work)
    db, other = work / "db-replace", work / "db-replace-fresh"
    times: dict[str, list[float]] = {"fresh": [], "same": [], "fresh_changed": [], "changed": []}
    change = rows // 20
    expect = {
        "same": f"added 0, updated 0, removed 0, unchanged {rows},",
        "changed": f"added {change}, updated 0, removed {change}, unchanged {rows - change},",
    }
    for _ in range(repeat):
        shutil.rmtree(db, ignore_errors=True)
        shutil.rmtree(other, ignore_errors=True)
        steps = (
            ("fresh", base, db, ()),
            ("same", base, db, ("--mode", "replace")),
            ("fresh_changed", changed, other, ()),
            ("changed", changed, db, ("--mode", "replace")),
        )
        for name, path, where, extra in steps:
            took, line = eir_load(path, where, *extra)
            if name in expect and not line.startswith(expect[name]):
                sys.exit(f"bench: replace {name}: unexpected summary {line!r}")
            times[name].append(took)
    shutil.rmtree(db, ignore_errors=True)
    shutil.rmtree(other, ignore_errors=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    # The ratio of each run (its loads ran one after the other, under the same load of the
    # machine), then their median: steadier than the ratio of medians on a busy machine.
    ratio_same = statistics.median(
        r / f for r, f in zip(times["same"], times["fresh"], strict=True)
    )
    ratio_changed = statistics.median(
        r / f for r, f in zip(times["changed"], times["fresh_changed"], strict=True)
    )
    return {
        "replace_rows": rows,
        "replace_repeat": repeat,
        "fresh_load_seconds": round(median["fresh"], 2),
        "replace_unchanged_seconds": round(median["same"], 2),
        "replace_unchanged_ratio": round(ratio_same, 2),
        "fresh_load_changed_seconds": round(median["fresh_changed"], 2),
        "replace_changed_seconds": round(median["changed"], 2),
        "replace_changed_ratio": round(ratio_changed, 2),
        "replace_runs": json.dumps({k: [round(v, 2) for v in vs] for k, vs in times.items()}),
    }


def print_replace(results: dict[str, float | int | str]) -> bool:
    """Print step 6; False when a ratio is over the limit."""
    rows = results["replace_rows"]
    lines = (
        (f"fresh load, {rows:,} rows:", "fresh_load_seconds", None),
        (
            f"replace, the same {rows:,} rows:",
            "replace_unchanged_seconds",
            "replace_unchanged_ratio",
        ),
        ("fresh load, the changed file:", "fresh_load_changed_seconds", None),
        ("replace, 5 % new and 5 % gone:", "replace_changed_seconds", "replace_changed_ratio"),
    )
    for label, seconds, ratio in lines:
        tail = "" if ratio is None else f"  ratio {results[ratio]}  (target <= {REPLACE_LIMIT})"
        print(f"{label:<41}{results[seconds]:>8} s{tail}")
    print(f"each run (s): {results['replace_runs']}")
    ratios = (results["replace_unchanged_ratio"], results["replace_changed_ratio"])
    over = [r for r in ratios if isinstance(r, float) and r > REPLACE_LIMIT]
    if over:
        print(f"bench: replace over {REPLACE_LIMIT} times a fresh load", file=sys.stderr)
    return not over


LOAD_TARGET = 1_000_000  # rows/s
RAW_SHARE = 0.6  # of a raw sorted putmulti of the same keys
REASONS = (b"stolen", b"lost", b"fraud", b"unpaid", b"stolen in transit")
SOURCES = (b"police-hanoi", b"police-hcmc", b"mic")
MODELS = (b"SM-A155F", b"iPhone 15", b"Redmi Note 13", b"")


def write_shape(path: Path, shape: str, rows: int) -> None:
    """A list file of one shape: valid, distinct IMEIs in random order (eir-sim's), a million
    rows at a time."""
    imeis = generate_imeis(rows, seed=15).digits.view("S15").ravel()
    rng = random.Random(15)
    # about a thousand distinct times, as a police list's report dates or an export's loads
    stamps = [
        time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + 86_400 * d + 3_607 * d)
        ).encode()
        for d in range(1000)
    ]
    headers = {
        "rich": b"imei,reason,source,reference,added\n",
        "reason": b"imei,reason\n",
        "excel": b"\xef\xbb\xbfIMEI;Reason;Reference;Model\r\n",
    }
    with path.open("wb") as out:
        out.write(headers[shape])
        for first in range(0, rows, 1_000_000):
            chunk = imeis[first : first + 1_000_000].tolist()
            picks = [rng.randrange(1 << 30) for _ in range(len(chunk))]
            if shape == "rich":
                lines = [
                    b"%s,%s,%s,RPT-%08d,%s\n"
                    % (imei, REASONS[p % 5], SOURCES[p % 3], first + n, stamps[p % 1000])
                    for n, (imei, p) in enumerate(zip(chunk, picks, strict=True))
                ]
            elif shape == "reason":
                lines = [
                    b"%s,%s\n" % (imei, REASONS[p % 5])
                    for imei, p in zip(chunk, picks, strict=True)
                ]
            else:
                lines = [
                    b"%s;%s;CASE-%08d;%s\r\n" % (imei, REASONS[p % 5], first + n, MODELS[p % 4])
                    for n, (imei, p) in enumerate(zip(chunk, picks, strict=True))
                ]
            out.write(b"".join(lines))


def mean_value_size(db: Path) -> int:
    """The mean size of the first 10,000 values eir stored (the raw append writes as many)."""
    env = lmdb.open(str(db), readonly=True, lock=False, max_dbs=4)
    sizes: list[int] = []
    with env.begin(db=env.open_db(b"imei", create=False)) as txn:
        for _, value in txn.cursor():
            sizes.append(len(value))
            if len(sizes) == 10_000:
                break
    env.close()
    return round(statistics.mean(sizes))


def bench_shapes(work: Path, rows: int, shape_rows: int, repeat: int, shapes: list[str]) -> Results:
    """Step 7: each shape's load rate, against a raw sorted putmulti of the same keys."""
    results: Results = {}
    counts = {"rich": rows, "reason": shape_rows, "excel": shape_rows}
    for shape in shapes:
        count = counts[shape]
        path = work / f"{shape}-{count}.csv"
        if not path.exists():
            started = time.perf_counter()
            write_shape(path, shape, count)
            print(f"wrote {count:,} rows of {shape} in {time.perf_counter() - started:.1f} s")
        db = work / f"db-{shape}"
        loads = []
        for _ in range(repeat):
            shutil.rmtree(db, ignore_errors=True)
            took, line = eir_load(path, db)
            if not line.startswith(f"added {count}, "):
                sys.exit(f"bench: {shape}: unexpected summary {line!r}")
            loads.append(took)
        size = mean_value_size(db)
        shutil.rmtree(db, ignore_errors=True)
        raws = [raw_append(path, work / "raw", loop=False, value_size=size) for _ in loads]
        load, raw = statistics.median(loads), statistics.median(raws)
        results[f"{shape}_rows"] = count
        results[f"{shape}_load_rows_per_s"] = round(count / load)
        results[f"{shape}_raw_putmulti_rows_per_s"] = round(count / raw)
        results[f"{shape}_load_vs_putmulti"] = round(raw / load, 3)
        results[f"{shape}_runs"] = json.dumps(
            {"load": [round(t, 2) for t in loads], "raw": [round(t, 2) for t in raws]}
        )
    return results


SHAPE_LABELS = {
    "rich": "imei,reason,source,reference,added",
    "reason": "imei,reason",
    "excel": "Excel-like IMEI;Reason;Reference;Model",
}


def print_shapes(results: Results) -> bool:
    """Print step 7; False when a shape misses its rate or its share of the raw append."""
    within = True
    for shape, label in SHAPE_LABELS.items():
        if f"{shape}_rows" not in results:
            continue
        rate = results[f"{shape}_load_rows_per_s"]
        share = results[f"{shape}_load_vs_putmulti"]
        print(
            f"{label} ({results[f'{shape}_rows']:,} rows): eir load {rate:,} rows/s, "
            f"raw putmulti {results[f'{shape}_raw_putmulti_rows_per_s']:,} rows/s, "
            f"load / raw {share}  (targets >= {LOAD_TARGET:,}, >= {RAW_SHARE})"
        )
        print(f"  each run (s): {results[f'{shape}_runs']}")
        if not (isinstance(rate, int) and rate >= LOAD_TARGET):
            within = False
        if not (isinstance(share, float) and share >= RAW_SHARE):
            within = False
    if not within:
        print("bench: a file shape missed its load target", file=sys.stderr)
    return within


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--lookups", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs whose median counts")
    parser.add_argument("--dir", default=str(ROOT / "var" / "bench"))
    parser.add_argument("--replace-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--replace-repeat",
        type=int,
        default=5,
        help="runs of the replace step whose median ratio counts",
    )
    parser.add_argument(
        "--replace-only", action="store_true", help="only the replace against fresh load step"
    )
    parser.add_argument(
        "--shape-rows", type=int, default=2_000_000, help="rows of the smaller file shapes"
    )
    parser.add_argument("--shapes-only", action="store_true", help="only the file shapes step")
    parser.add_argument(
        "--shapes", default="rich,reason,excel", help="the file shapes of step 7 (comma list)"
    )
    return parser.parse_args()


Results = dict[str, float | int | str]


def bench_load(csv_path: Path, db: Path, work: Path, rows: int, repeat: int) -> Results:
    """Steps 1 to 3: the load of ``rows`` (median of ``repeat``) against the raw appends."""
    results: Results = {"rows": rows}
    if not csv_path.exists():
        took = run(str(BIN / "eir-sim"), "generate", str(csv_path), "--count", str(rows))
        print(f"generated {rows:,} rows in {took:.1f} s -> {csv_path}")

    def load_once() -> float:
        shutil.rmtree(db, ignore_errors=True)
        return run(
            str(BIN / "eir"),
            "load",
            str(csv_path),
            "--list",
            "black",
            "--source",
            "bench",
            "--db",
            str(db),
        )

    # This machine's timings vary by a third between runs: take the median of a few.
    took = statistics.median(load_once() for _ in range(repeat))
    results["load_seconds"] = round(took, 2)
    results["load_rows_per_s"] = round(rows / took)
    results["repeat"] = repeat

    raw = statistics.median(raw_append(csv_path, work / "raw", loop=False) for _ in range(repeat))
    results["raw_putmulti_rows_per_s"] = round(rows / raw)
    raw_loop = statistics.median(
        raw_append(csv_path, work / "raw", loop=True) for _ in range(repeat)
    )
    results["raw_put_loop_rows_per_s"] = round(rows / raw_loop)
    results["load_vs_putmulti"] = round(raw / took, 3)
    results["load_vs_put_loop"] = round(raw_loop / took, 3)
    return results


def bench_lookups(csv_path: Path, db: Path, rows: int, lookups: int) -> Results:
    """Steps 4 and 5: lookups and decisions per second, warm, and the size on disk."""
    results: Results = {}
    store = LmdbStore(db, create=False)
    rng = random.Random(1)
    lines = csv_path.read_bytes().split(b"\n", lookups + 1)[1 : lookups + 1]
    listed = [line[:14].decode() for line in lines]  # the file is in random order already
    rng.shuffle(listed)
    # Realistic IMEIs (under the same reporting bodies) that are not on the list: uniform random
    # numbers would mostly fall outside the populated key ranges and flatter the figure.
    listed_set = set(listed)
    unlisted = [
        i[:14] for i in generate_imeis(lookups, seed=9999).as_text() if i[:14] not in listed_set
    ]
    results["lookups_per_s_unlisted"] = lookups_per_s(store, unlisted)
    results["lookups_per_s_listed"] = lookups_per_s(store, listed)
    mixed = unlisted[: lookups * 99 // 100] + listed[: lookups // 100]
    rng.shuffle(mixed)
    results["lookups_per_s_1pct_listed"] = lookups_per_s(store, mixed)
    half = unlisted[: lookups // 2] + listed[: lookups // 2]
    rng.shuffle(half)
    results["lookups_per_s_half_listed"] = lookups_per_s(store, half)
    policy = PolicyConfig()
    requests = [CheckRequest(Imei(key)) for key in mixed[:200_000]]
    started = time.perf_counter()
    for request in requests:
        decide(request, store.lookup, policy)
    results["decisions_per_s_1pct_listed"] = round(len(requests) / (time.perf_counter() - started))
    stats = store.stats(history_size=1)
    store.close()
    results["disk_bytes"] = stats.size_bytes
    results["disk_bytes_per_entry"] = round(stats.size_bytes / rows, 1)
    return results


def bench_full_csv(work: Path) -> Results:
    """Step 5's last figure: the load rate of a 1-million-row CSV with reason and reference."""
    full = work / "full-1000000.csv"
    if not full.exists():
        run(
            str(BIN / "eir-sim"),
            "generate",
            str(full),
            "--count",
            "1000000",
            "--format",
            "csv-full",
            "--seed",
            "2",
        )
    shutil.rmtree(work / "db-full", ignore_errors=True)
    took = run(
        str(BIN / "eir"),
        "load",
        str(full),
        "--list",
        "black",
        "--source",
        "bench",
        "--db",
        str(work / "db-full"),
    )
    shutil.rmtree(work / "db-full", ignore_errors=True)
    return {"reason_reference_csv_rows_per_s": round(1_000_000 / took)}


def print_results(results: Results) -> None:
    """Print steps 1 to 5 (step 6: :func:`print_replace`)."""
    rows = results["rows"]
    print(
        f"eir load, {rows:,} rows, full validation: {results['load_rows_per_s']:>12,} rows/s"
        f"  (target >= 1,000,000)"
    )
    print(
        f"raw LMDB putmulti append:                {results['raw_putmulti_rows_per_s']:>12,} rows/s"
    )
    print(
        f"raw LMDB put(append) loop:               {results['raw_put_loop_rows_per_s']:>12,} rows/s"
    )
    print(
        f"load / raw putmulti:                     {results['load_vs_putmulti']:>12}"
        "  (target >= 0.6)"
    )
    print(f"load / raw put loop:                     {results['load_vs_put_loop']:>12}")
    for label, name in (
        ("unlisted IMEIs", "unlisted"),
        ("listed IMEIs", "listed"),
        ("1 % listed", "1pct_listed"),
        ("half listed", "half_listed"),
    ):
        print(
            f"single lookups, {label + ':':<25}{results['lookups_per_s_' + name]:>12,} /s"
            "  (target >= 500,000)"
        )
    print(
        f"decisions (decide + lookup), 1 % listed: {results['decisions_per_s_1pct_listed']:>12,} /s"
    )
    print(
        f"disk: {results['disk_bytes']:,} bytes, {results['disk_bytes_per_entry']} per entry"
        "  (target <= 1 GB for 10M)"
    )
    print(
        f"1M-row CSV imei,reason,reference:        "
        f"{results['reason_reference_csv_rows_per_s']:>12,} rows/s"
    )


def main() -> int:
    if sys.argv[1:2] == ["--raw"]:
        raw_child(*sys.argv[2:6])
        return 0
    args = parse_args()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    if args.replace_only:
        replaced = bench_replace(work, args.replace_rows, args.replace_repeat)
        (work / "replace.json").write_text(json.dumps(replaced, indent=2) + "\n")
        return 0 if print_replace(replaced) else 1
    if args.shapes_only:
        shaped = bench_shapes(work, args.rows, args.shape_rows, args.repeat, args.shapes.split(","))
        (work / "shapes.json").write_text(json.dumps(shaped, indent=2) + "\n")
        return 0 if print_shapes(shaped) else 1
    csv_path = work / f"black-{args.rows}.csv"
    db = work / "db"
    results = bench_load(csv_path, db, work, args.rows, args.repeat)
    results.update(bench_lookups(csv_path, db, args.rows, args.lookups))
    results.update(bench_full_csv(work))
    results.update(bench_replace(work, args.replace_rows, args.replace_repeat))
    results.update(
        bench_shapes(work, args.rows, args.shape_rows, args.repeat, args.shapes.split(","))
    )
    print_results(results)
    within = print_replace(results)
    within = print_shapes(results) and within
    plain = (results["load_rows_per_s"], results["load_vs_putmulti"])
    if not (int(plain[0]) >= LOAD_TARGET and float(plain[1]) >= RAW_SHARE):
        print("bench: the one-IMEI-a-line load missed its target", file=sys.stderr)
        within = False
    (work / "store.json").write_text(json.dumps(results, indent=2) + "\n")
    os.sync()
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
