"""The daemon's purge through the real ``eir serve`` (issue 18): the leading process deletes
the expired entries at the lifecycle's clock (``lifecycle.clock_offset_s`` in its
configuration: time injected, never waited for), a version per step of
``lifecycle.purge_batch``, origin ``daemon``, by the node; the entries that have not expired
stay."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.support.cli import eir
from tests.support.diameter import serve

EXPIRES = 1_797_292_800  # 2026-12-15T00:00:00Z


def _stats(db: Path) -> dict[str, Any]:
    result = eir("stats", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _purges(db: Path) -> list[dict[str, Any]]:
    return [h for h in _stats(db)["history"] if h["action"] == "purge"]


def test_the_daemon_purges_expired_entries(tmp_path: Path) -> None:
    db = tmp_path / "db"
    rows = "".join(f"35693803{n:06d},visitor,2026-12-15\n" for n in range(150))
    (tmp_path / "visitors.csv").write_text(
        f"imei,reason,expires\n{rows}490154203237518,stolen,2027-06-01\n"
    )
    loaded = eir("load", "--db", db, "--list", "grey", tmp_path / "visitors.csv")
    assert loaded.returncode == 0, loaded.stderr
    config = tmp_path / "eir.toml"
    offset = EXPIRES + 60 - time.time()  # a minute after they expire
    config.write_text(
        f"[lifecycle]\nclock_offset_s = {offset}\npurge_batch = 100\npurge_interval_s = 3600\n"
    )
    with serve(db, "--config", str(config), "--node", "eir-a") as served:
        told = "eir.lifecycle: lifecycle: purged 150 expired entries"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and told not in served.lines:
            time.sleep(0.2)
        assert told in served.lines, served.lines
    purges = _purges(db)
    assert [(p["removed"], p["origin"], p["by"], p["node"]) for p in purges] == [
        (100, "daemon", "eir-a", "eir-a"),
        (50, "daemon", "eir-a", "eir-a"),
    ]
    assert _stats(db)["entries"] == {"imei/grey/manual": 1}
