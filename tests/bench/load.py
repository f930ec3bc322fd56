"""``make load``: `eir serve` with the demo lists on free ports, driven for 20 seconds by
eir-sim with the mixed S13 and MAP scenario ``conf/scenarios/load.toml`` at a fixed rate.

Exits with eir-sim's status: 1 on any wrong answer or failed gate. Reports go to
``var/load/load.json`` and ``var/load/load.html``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: in a log line of eir serve (TIME INFO eir: listening ...; eir.logs)
LISTENING = re.compile(r" eir: listening (\w+) tcp (.+):(\d+)$")


def main() -> int:
    out = ROOT / "var" / "load"
    out.mkdir(parents=True, exist_ok=True)
    db = out / "eir.lmdb"
    subprocess.run(
        [
            str(BIN / "eir"),
            "load",
            str(ROOT / "conf" / "lists" / "demo.csv"),
            "--list",
            "black",
            "--source",
            "demo",
            "--mode",
            "replace",
            "--db",
            str(db),
        ],
        check=True,
        capture_output=True,
    )
    serve = subprocess.Popen(
        [
            str(BIN / "eir"),
            "serve",
            "--db",
            str(db),
            "--diameter-listen",
            "tcp://127.0.0.1:0",
            "--m3ua-listen",
            "tcp://127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert serve.stderr is not None
    ports: dict[str, str] = {}
    for line in serve.stderr:
        found = LISTENING.search(line.strip())
        if found:
            ports[found.group(1)] = f"tcp://{found.group(2)}:{found.group(3)}"
        if " eir: ready" in line:
            break
    else:
        print(f"make load: eir serve exited {serve.wait()}", file=sys.stderr)
        return 1
    threading.Thread(target=lambda: [None for _ in serve.stderr or ()], daemon=True).start()
    try:
        command = [
            str(BIN / "eir-sim"),
            "run",
            "--scenario",
            str(ROOT / "conf" / "scenarios" / "load.toml"),
            "--target",
            f"s13={ports['diameter']}",
            "--target",
            f"map={ports['m3ua']}",
            "--json",
            str(out / "load.json"),
            "--html",
            str(out / "load.html"),
        ]
        print("make load:", " ".join(command), flush=True)
        status = subprocess.run(command, cwd=ROOT, check=False).returncode
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
    print(
        f"make load: {'passed' if status == 0 else 'FAILED'}; reports in "
        f"{os.path.relpath(out, ROOT)}/load.json and load.html"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
