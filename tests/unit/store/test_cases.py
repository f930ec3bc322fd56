"""The theft case record and its state machine (eir.store.cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eir.model import Entry, ListName
from eir.store.api import HandsetChange
from eir.store.cases import (
    CaseError,
    CaseImei,
    CaseState,
    case_key,
    check_reference,
    moved,
    opened,
    pack_case,
    stamped,
    unpack_case,
)
from eir.store.lmdb_store import LmdbStore
from eir.store.memory import MemoryStore
from eir.store.records import CASES, Table, pack_record
from eir.store.writes import WriteTxn

IMEIS = (
    CaseImei("352099001761481", "35209900176148", 1),
    CaseImei("35693803564380", "35693803564380", 10),
)


def test_the_record_round_trips_with_its_history() -> None:
    case = opened("HCM-1", IMEIS, ("452040123456789",), "stolen", "off7", "", 100)
    case = stamped(moved(stamped(case, 3), CaseState.BLOCKED, "sgt", "ok", 200), 4)
    back = unpack_case(pack_case(case))
    assert back == case
    assert [(s.state, s.version, s.note) for s in back.steps] == [
        (CaseState.PENDING, 3, ""),
        (CaseState.BLOCKED, 4, "ok"),
    ]
    assert back.previous(CaseState.BLOCKED) is CaseState.PENDING
    assert back.previous(CaseState.PENDING) is None


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ([CaseState.BLOCKED, CaseState.BLOCKED], "it is blocked already"),
        (
            [CaseState.RECOVERED, CaseState.BLOCKED],
            "a recovered case is closed, it cannot be blocked",
        ),
        ([CaseState.RECOVERED, CaseState.RECOVERED], "it is recovered already"),
    ],
)
def test_wrong_transitions_are_refused(path: list[CaseState], message: str) -> None:
    case = opened("HCM-1", IMEIS, (), "stolen", "off7", "", 100)
    for state in path[:-1]:
        case = moved(case, state, "x", "", 200)
    with pytest.raises(CaseError) as caught:
        moved(case, path[-1], "x", "", 300)
    assert str(caught.value) == f"case HCM-1 is {case.state.value}: {message}; nothing was changed"


def test_a_pending_case_may_be_withdrawn() -> None:
    case = moved(opened("C", IMEIS, (), "lost", "a", "", 1), CaseState.RECOVERED, "a", "", 2)
    assert case.state is CaseState.RECOVERED
    assert case.previous(CaseState.RECOVERED) is CaseState.PENDING


@pytest.mark.parametrize("text", ["", "a b", "x" * 65, "é", "a;b"])
def test_bad_references(text: str) -> None:
    with pytest.raises(CaseError) as caught:
        check_reference(text)
    assert str(caught.value).endswith("is not valid: 1 to 64 of letters, digits and ._-/")


def test_good_references() -> None:
    for text in ("HCM-2026-1187", "a/b.c_d", "x" * 64):
        assert check_reference(text) == text


@pytest.mark.parametrize("kind", ["lmdb", "memory"])
def test_both_stores_write_a_case_with_its_entries(kind: str, tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "db") if kind == "lmdb" else MemoryStore()
    case = opened("HCM-1", IMEIS[:1], (), "stolen", "off7", "", 100)
    entry = Entry(ListName.GREY, "case", "stolen", "HCM-1", 100, 1)
    change = HandsetChange("case-open", ("352099001761481",), "off7", "stolen", "HCM-1")

    def inside(txn: WriteTxn) -> None:
        txn.put(CASES, case_key("HCM-1"), pack_case(case))

    plan = [(Table.IMEI, b"35209900176148", pack_record([entry]))]
    summary, version = store.restore(plan, change, inside=inside, scope=[(ListName.GREY, "case")])
    try:
        assert (summary.added, version) == (1, 1)
        raw = store.table_value(CASES, case_key("HCM-1"))
        assert raw is not None and unpack_case(raw) == case
        assert [k for k, _ in store.table_items(CASES)] == [b"HCM-1"]
        assert store.lookup("35209900176148", None).imei[0].entry == entry
        last = store.stats(1, digest=False).history[-1]
        assert (last.action, last.list, last.source) == ("case-open", "grey", "case")
    finally:
        store.close()
