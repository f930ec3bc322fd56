"""``make bench`` (MQTT part): list distribution and events through a real mosquitto.

1. **A 1,000,000-row update on three nodes.** Three `eir serve` nodes on one broker (the
   shipped conf/mosquitto configuration on a free port). `eir publish` a 1M-row blacklist
   (`eir-sim generate`) with ``--wait 3``: the time from the command's start until all three
   nodes report it applied, and each node's own apply time from its log. Then every node's
   digest, which must be equal.
2. **Events while answering at full speed.** One node with ``events.checks`` none, non-white, all,
   driven by eir-sim (S13, closed loop) for 10 s: answers/s, events published/s and dropped,
   from the node's metrics endpoint, with a subscriber counting what arrives at the broker.

Figures go to stdout and ``var/bench/mqtt.json``. Both runs share the machine's 2 cores with
the broker, the nodes and the load client.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.diameter import DEMO, serve  # noqa: E402
from tests.support.mqtt import Watcher, broker, credentials  # noqa: E402

BIN = Path(sys.executable).parent


def env_for(user: str) -> dict[str, str]:
    import os

    return dict(os.environ) | credentials(user)


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def distribution(work: Path, rows: int, results: dict[str, Any]) -> None:
    big = work / f"black-{rows}.csv"
    if not big.exists():
        subprocess.run(
            [str(BIN / "eir-sim"), "generate", str(big), "--count", str(rows)],
            check=True,
            capture_output=True,
        )
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        folder = Path(scratch)
        dbs = [folder / f"node{i}" for i in range(3)]
        with broker(folder / "broker") as b, ExitStack() as nodes:
            served = [
                nodes.enter_context(
                    serve(
                        db,
                        "--broker",
                        b.url,
                        "--node",
                        f"n{i}",
                        "--create",
                        env_extra=credentials("eir-node"),
                    )
                )
                for i, db in enumerate(dbs)
            ]
            started = time.perf_counter()
            done = subprocess.run(
                [
                    str(BIN / "eir"),
                    "publish",
                    str(big),
                    "--list",
                    "black",
                    "--source",
                    "bench",
                    "--broker",
                    b.url,
                    "--wait",
                    "3",
                    "--timeout",
                    "600",
                ],
                capture_output=True,
                text=True,
                env=env_for("eir-publisher"),
                check=False,
            )
            total = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"eir publish failed: {done.stderr}")
            print(done.stdout.strip())
            time.sleep(0.5)
            applied = []
            for node in served:
                for line in node.lines:
                    found = re.search(r"applied update #1 .* in ([0-9.]+) s", line)
                    if found:
                        applied.append(float(found.group(1)))
            size = re.search(r"([0-9,]+) bytes in (\d+) parts", done.stdout)
        digests = set()
        for db in dbs:
            stats = subprocess.run(
                [str(BIN / "eir"), "stats", "--json", "--db", str(db)],
                capture_output=True,
                text=True,
                check=True,
            )
            digests.add(json.loads(stats.stdout)["digest"])
    results["update_rows"] = rows
    results["update_total_s"] = round(total, 2)
    results["update_apply_s_per_node"] = applied
    results["update_bytes"] = int(size.group(1).replace(",", "")) if size else 0
    results["update_parts"] = int(size.group(2)) if size else 0
    results["update_digests_equal"] = len(digests) == 1
    print(
        f"1M-row update on 3 nodes: {total:.1f} s from `eir publish` to applied everywhere "
        f"(each node's apply: {', '.join(f'{a:.1f} s' for a in applied)}); "
        f"{results['update_bytes']:,} bytes in {results['update_parts']} parts; "
        f"digests equal: {len(digests) == 1}"
    )


def events(work: Path, seconds: float, results: dict[str, Any], checks: str = "all") -> None:
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        folder = Path(scratch)
        db = folder / "db"
        subprocess.run(
            [
                str(BIN / "eir"),
                "load",
                str(DEMO),
                "--list",
                "black",
                "--source",
                "demo",
                "--db",
                str(db),
            ],
            check=True,
            capture_output=True,
        )
        config = folder / "eir.toml"
        config.write_text(f'[events]\nchecks = "{checks}"\nqueue_size = 100000\n')
        with (
            broker(folder / "broker") as b,
            serve(
                db,
                "--broker",
                b.url,
                "--node",
                "ev",
                "--config",
                str(config),
                env_extra=credentials("eir-node"),
            ) as node,
        ):
            watcher = Watcher(b, topics=("eir/check/#",))
            watcher.wait_connected()
            port = node.port("metrics", "http")
            before = scrape(port)
            report = folder / "sim.json"
            subprocess.run(
                [
                    str(BIN / "eir-sim"),
                    "run",
                    "--target",
                    f"127.0.0.1:{node.port()}",
                    "--protocol",
                    "s13",
                    "--concurrency",
                    "64",
                    "--connections",
                    "4",
                    "--duration",
                    str(seconds),
                    "--lists",
                    str(DEMO),
                    "--json",
                    str(report),
                    "--live",
                    "never",
                ],
                check=True,
                capture_output=True,
                cwd=ROOT,
            )
            after = scrape(port)
            time.sleep(2)  # let the queue drain to the subscriber
            drained = scrape(port)
            received = len(watcher.messages)
            watcher.close()
            sim = json.loads(report.read_text())
    published = after["eir_events_published_total"] - before["eir_events_published_total"]
    dropped = after["eir_events_dropped_total"] - before["eir_events_dropped_total"]
    key = f"events_{checks.replace('-', '_')}"
    results[f"{key}_answers_per_s"] = round(sim["rate"])
    results[f"{key}_published_per_s"] = round(published / seconds)
    results[f"{key}_dropped"] = int(dropped)
    results[f"{key}_queued_at_end"] = int(after["eir_events_queued"])
    results[f"{key}_received_by_subscriber"] = received
    results[f"{key}_published_after_drain"] = int(drained["eir_events_published_total"])
    print(
        f"events ({checks}) while answering: {sim['rate']:,.0f} answers/s, "
        f"{published / seconds:,.0f} events/s published, {int(dropped):,} dropped, "
        f"{int(after['eir_events_queued']):,} queued at the end; the subscriber received "
        f"{received:,} of {sim['answered']:,}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--dir", default=str(ROOT / "var" / "bench"))
    parser.add_argument("--only", choices=["distribution", "events"])
    args = parser.parse_args()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    if args.only != "events":
        distribution(work, args.rows, results)
    if args.only != "distribution":
        for checks in ("none", "non-white", "all"):
            events(work, args.seconds, results, checks)
    (work / "mqtt.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
