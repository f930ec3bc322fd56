"""Theft cases through the real `eir case` against a real `eir serve` and a real mosquitto:
the S13 answer of each IMEI and the ``events/case`` event at each step (open, block,
recover), and the refusals that change nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eir.model import EquipmentStatus as S
from tests.support.cli import digest, eir
from tests.support.diameter import BlockingClient, serve
from tests.support.mqtt import Watcher, broker, credentials

#: a dual-SIM handset: the first IMEI is on no list, the second on the demo black list
FREE = "352099001761481"
LISTED = "490154203237518"
IMSI = "452040123456789"


def answers(client: BlockingClient, imei: str, status: S, timeout: float = 10) -> None:
    """Until ``imei`` answers ``status`` (a committed change is seen within 50 ms)."""
    deadline = time.monotonic() + timeout
    seen = client.check(imei[:14]).equipment_status
    while seen is not status and time.monotonic() < deadline:
        time.sleep(0.02)
        seen = client.check(imei[:14]).equipment_status
    assert seen is status, f"{imei}: {seen}, not {status}"


def case(db: Path, *args: str) -> Any:
    result = eir("case", *args, "--db", str(db))
    assert result.returncode == 0, result.stderr
    return result


def event_where(watcher: Watcher, state: str) -> Callable[[], dict[str, Any]]:
    return lambda: watcher.wait_for("eir/events/case", lambda m: m["state"] == state)


def test_a_case_opened_blocked_and_recovered(tmp_path: Path, demo_db: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text('[events]\nchecks = "none"\nmask_imsi = true\n')
    with broker(tmp_path / "broker") as b:
        watcher = Watcher(b, topics=("eir/events/case",))
        try:
            watcher.wait_subscribed()
            with serve(
                demo_db,
                "--broker",
                b.url,
                "--node",
                "n1",
                "--config",
                str(config),
                env_extra=credentials("eir-node"),
            ) as served:
                client = BlockingClient(served.port())
                answers(client, FREE, S.WHITELISTED)
                answers(client, LISTED, S.BLACKLISTED)

                opened = case(
                    demo_db, "open", "HCM-2026-1187", "--imei", FREE, "--imei", LISTED,
                    "--imsi", IMSI, "--reason", "stolen", "--by", "officer-7",
                )  # fmt: skip
                assert opened.stdout == "case HCM-2026-1187: pending, 2 IMEIs on grey (version 2)\n"
                answers(client, FREE, S.GREYLISTED)  # cases.pending_answer: grey
                answers(client, LISTED, S.BLACKLISTED)  # the demo list's entry still decides
                event = event_where(watcher, "pending")()
                version = event.pop("version")
                assert event.pop("time").endswith("Z")
                assert event == {
                    "type": "case",
                    "node": "n1",
                    "case": "HCM-2026-1187",
                    "state": "pending",
                    "previous": None,
                    "imeis": [FREE, LISTED],
                    "imsis": ["45204**********"],
                    "reason": "stolen",
                    "by": "officer-7",
                }

                case(demo_db, "block", "HCM-2026-1187", "--by", "sgt-2", "--note", "owner ok")
                answers(client, FREE, S.BLACKLISTED)
                blocked = event_where(watcher, "blocked")()
                assert (blocked["previous"], blocked["by"]) == ("pending", "sgt-2")
                assert blocked["version"] == version + 1

                case(demo_db, "recover", "HCM-2026-1187", "--by", "sgt-2")
                answers(client, FREE, S.WHITELISTED)  # what it answered before the case
                answers(client, LISTED, S.BLACKLISTED)  # the demo entry untouched
                recovered = event_where(watcher, "recovered")()
                assert recovered["previous"] == "blocked"
                client.close()

                before = digest(demo_db)
                again = eir("case", "block", "HCM-2026-1187", "--db", str(demo_db))
                assert again.returncode == 1
                assert again.stderr == (
                    "eir: case HCM-2026-1187 is recovered: a recovered case is closed, it "
                    "cannot be blocked; nothing was changed\n"
                )
                assert digest(demo_db) == before
                assert len(watcher.json_on("eir/events/case")) == 3
        finally:
            watcher.close()

    shown = json.loads(case(demo_db, "show", "HCM-2026-1187", "--json").stdout)
    assert [s["state"] for s in shown["history"]] == ["pending", "blocked", "recovered"]
    assert [s["by"] for s in shown["history"]] == ["officer-7", "sgt-2", "sgt-2"]
    assert shown["history"][1]["note"] == "owner ok"
    assert shown["answers"] == {
        FREE: {"answer": "whitelisted", "why": "unknown: on no list"},
        LISTED: {
            "answer": "blacklisted",
            "why": "imei: imei 49015420323751 on black from demo",
        },
    }
