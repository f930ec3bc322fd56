"""The issue's proof of the answer path's clock: a real `eir serve` answers a grace entry (a
black entry whose due date is ahead) grey over S13 and MAP, and an entry with an ``expires``
time as listed; ``lifecycle.clock_offset_s`` is raised past both dates in its configuration
file and a SIGHUP reloads it: the same checks answer black, and the expired entry matches no
more. Time is injected (the offset), never waited for."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from eir.identity import Imei
from eir.model import EquipmentStatus as S
from eir.model import ListName
from eir.store.api import Mode
from eir.store.batch import Batch, Group
from eir.store.lmdb_store import LmdbStore
from eir.store.records import Table
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


def _store(db: Path, now: int) -> None:
    store = LmdbStore(db)
    try:
        for list_name, key, times in (
            (ListName.BLACK, GRACE, (now + 10 * DAY, 0)),
            (ListName.GREY, VISITOR, (0, now + 5 * DAY)),
        ):
            group = Group(
                Table.IMEI,
                list_name,
                "ceir",
                keys=[key.encode()],
                fields=[("lifecycle", "L-1", 0)],
                times=[times],
            )
            store.apply(Batch(groups=[group], rows=1), Mode.ADD, [(list_name, "ceir")])
    finally:
        store.close()


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
    _store(db, int(time.time()))
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
