"""The issue's proof of the answer path's clock: a real `eir serve` answers a grace entry (a
black entry whose due date is ahead, `eir load --grace`) grey over S13 and MAP, and an entry
with an ``expires`` time (`eir load --expires-in`) as listed; ``lifecycle.clock_offset_s`` is
raised past both dates in its configuration file and a SIGHUP reloads it: the same checks
answer black, and the expired entry matches no more. Time is injected (the offset), never
waited for."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from eir.identity import Imei
from eir.model import EquipmentStatus as S
from tests.support.cli import eir
from tests.support.diameter import BlockingClient, Served, serve
from tests.support.sigtran import Msc

DAY = 86400
#: black from its due date in 10 days: grey until then (policy.notice)
GRACE = "35209900176148"
#: grey for a visitor, until it expires in 5 days
VISITOR = "35693803564380"


def _map_status(answer: tuple[str, Any]) -> object:
    kind, body = answer
    assert kind == "end"
    ((_, (name, value)),) = body["components"]
    assert name == "returnResult"
    result = value["result"]["result"][1]
    return result["equipmentStatus"] if isinstance(result, dict) else result


def _load(tmp_path: Path, db: Path) -> None:
    """The entries through the real `eir load`: a grace period of 10 days on black, a
    visitor's grey entry that expires in 5."""
    for list_name, key, option, days in (
        ("black", GRACE, "--grace", "10"),
        ("grey", VISITOR, "--expires-in", "5"),
    ):
        listed = tmp_path / f"{list_name}.csv"
        listed.write_text(f"imei,reason,reference\n{key},lifecycle,L-1\n")
        result = eir(
            "load", listed, "--list", list_name, "--source", "ceir", option, days, "--db", db
        )
        assert result.returncode == 0, result.stderr


def _wait_line(served: Served, start: int, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in served.lines[start:]:
            if text in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} in {served.lines[start:]}")


def _answers(s13: BlockingClient, msc: Msc) -> dict[str, tuple[object, ...]]:
    return {
        imei: (
            s13.check(imei).equipment_status,
            *(_map_status(msc.check(v, Imei(imei).to_tbcd())) for v in (1, 2, 3)),
        )
        for imei in (GRACE, VISITOR)
    }


def test_a_grace_entry_turns_black_at_its_due_date_over_s13_and_map(tmp_path: Path) -> None:
    db = tmp_path / "db"
    _load(tmp_path, db)
    config = tmp_path / "eir.toml"
    config.write_text("[lifecycle]\nclock_offset_s = 0\n")
    with serve(db, "--config", str(config)) as served:
        s13 = BlockingClient(served.port())
        msc = Msc(served.port("m3ua"))
        assert _answers(s13, msc) == {
            GRACE: (S.GREYLISTED, "greyListed", "greyListed", "greyListed"),
            VISITOR: (S.GREYLISTED, "greyListed", "greyListed", "greyListed"),
        }

        start = len(served.lines)
        config.write_text(f"[lifecycle]\nclock_offset_s = {20 * DAY}\n")
        served.proc.send_signal(signal.SIGHUP)
        line = _wait_line(served, start, "lifecycle.clock_offset_s")
        assert line == f"eir: reloaded {config}: lifecycle.clock_offset_s 0 -> 1.728e+06"
        assert _answers(s13, msc) == {
            GRACE: (S.BLACKLISTED, "blackListed", "blackListed", "blackListed"),
            VISITOR: (S.WHITELISTED, "whiteListed", "whiteListed", "whiteListed"),
        }
        s13.close()
        msc.close()
    assert served.proc.returncode == 0
