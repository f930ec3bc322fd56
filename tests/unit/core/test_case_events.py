"""events/case: the list watch tells each case change committed on this node once (from the
history records with a case action made here), with the case's IMSIs masked as asked; and
the answer path's clock (eir.lifecycle) with its reloadable offset."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from eir import lifecycle
from eir.config import Config
from eir.events import CaseChanged, EventQueue, message_of
from eir.observe.list_watch import ListWatch
from eir.reload import reloadable
from eir.store.api import HandsetChange
from eir.store.cases import Case, CaseImei, CaseState, case_key, moved, opened, pack_case
from eir.store.lmdb_store import LmdbStore
from eir.store.records import CASES
from eir.store.writes import WriteTxn

IMEI = CaseImei("352099001761481", "35209900176148", 1)


def _act(store: LmdbStore, action: str, origin: str, case: Case) -> None:
    change = HandsetChange(
        f"case-{action}", (IMEI.written,), "off7", "stolen", "C-1", origin=origin, case="C-1"
    )

    def inside(txn: WriteTxn) -> None:
        txn.put(CASES, case_key("C-1"), pack_case(case))

    store.restore([], change, inside=inside)


def test_each_local_case_change_is_told_once(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "db")
    queue = EventQueue(10)
    watch = ListWatch(store, None, None, "eir", cases=queue)
    try:
        case = opened("C-1", (IMEI,), ("452040123456789",), "stolen", "off7", "", 100)
        _act(store, "open", "cli", case)
        watch.poll()  # the first look only notes where the history stands
        assert len(queue) == 0
        case = moved(case, CaseState.BLOCKED, "off7", "", 200)
        _act(store, "block", "cli", case)
        _act(store, "block", "update", case)  # applied from the broker: not ours to tell
        watch.poll()
        watch.poll()
        events = queue.take(10)
        assert len(events) == 1
        event = events[0]
        assert isinstance(event, CaseChanged)
        assert (event.case, event.state, event.previous, event.version) == (
            "C-1",
            "blocked",
            "pending",
            2,
        )
        topic, body = message_of(event, "n1", True)
        assert topic == "events/case"
        assert body["imsis"] == ["45204**********"] and body["imeis"] == [IMEI.written]
        assert message_of(event, "n1", False)[1]["imsis"] == ["452040123456789"]
    finally:
        store.close()


def test_the_clock_offset_is_reloadable_and_added() -> None:
    assert reloadable("lifecycle.clock_offset_s")
    assert not reloadable("lifecycle.purge_batch")
    config = Config()
    later = dataclasses.replace(
        config, lifecycle=dataclasses.replace(config.lifecycle, clock_offset_s=86400.0)
    )
    assert lifecycle.now(later) - time.time() == pytest.approx(86400, abs=5)
    assert lifecycle.clock_of(config) is time.time
    assert lifecycle.clock_of(later)() - lifecycle.now(config) == pytest.approx(86400, abs=5)
