"""What a load changes (eir.store.diff): the same rows for every mode, both stores, dry run
or not."""

from __future__ import annotations

from pathlib import Path

from eir.model import ListName
from eir.store.api import ListStore, Mode
from eir.store.diff import Change, diff_rows, write_diff
from eir.store.records import NO_DIGIT
from tests.conftest import BatchOf

B, G = ListName.BLACK, ListName.GREY
A1, A2, A3 = "49015420323751", "35693803564380", "35345678901234"


def rows(changes: dict[str, list[Change]]) -> list[tuple[str, ...]]:
    return list(diff_rows(changes))


def test_replace_add_remove_rows(store: ListStore, batch_of: BatchOf) -> None:
    first = batch_of(f"imei,reason\n{A1},stolen\n{A2},lost\n", source="p")
    changes: dict[str, list[Change]] = {}
    store.apply(first, Mode.ADD, [(B, "p")], changes=changes)
    assert rows(changes) == [
        ("added", A2, "", "", "black", "p", "lost", "", "", ""),
        ("added", A1, "", "", "black", "p", "stolen", "", "", ""),
    ]
    store.apply(batch_of(f"{A1}\n", source="other"), Mode.ADD, [(B, "other")])
    before = store.stats().digest
    second = batch_of(
        f"imei,imei_last,reason,reference\n{A1},,found,R9\n{A3},,new,\n{A2},{A1},range,\n",
        source="p",
    )
    second.groups[0].digits = bytes([4, 7])  # A3 and A1 written with 15 digits
    for dry_run in (True, False):
        changes = {}
        s = store.apply(second, Mode.REPLACE, [(B, "p")], dry_run=dry_run, changes=changes)
        assert (s.added, s.updated, s.removed) == (2, 1, 1)
        assert rows(changes) == [
            ("added", A3 + "4", "", "", "black", "p", "new", "", "", ""),
            ("removed", A2, "", "", "black", "p", "lost", "", "", ""),
            ("updated", A1 + "7", "", "", "black", "p", "found", "R9", "", ""),
            ("added", A2, A1, "", "black", "p", "range", "", "", ""),
        ]
        assert (store.stats().digest == before) is dry_run
    changes = {}
    s = store.apply(
        batch_of(f"{A1}\n{A2}\n", source="p"),
        Mode.REMOVE,
        [(B, "p")],
        remove_any_source=True,
        changes=changes,
    )
    assert (s.removed, s.missing) == (2, 1)  # A1 from p and from other; A2 not on the list
    assert rows(changes) == [
        ("removed", A1 + "7", "", "", "black", "p", "found", "R9", "", ""),
        ("removed", A1, "", "", "black", "other", "", "", "", ""),
    ]


def test_unchanged_is_no_row(store: ListStore, batch_of: BatchOf) -> None:
    batch = batch_of(f"{A1}\n{A2}\n", source="p", list=G)
    batch.groups[0].digits = bytes([NO_DIGIT, NO_DIGIT])
    store.apply(batch, Mode.ADD, [(G, "p")], now=1)
    for mode in Mode:
        if mode is Mode.REMOVE:
            continue
        changes: dict[str, list[Change]] = {}
        store.apply(batch, mode, [(G, "p")], dry_run=True, now=2, changes=changes)
        assert rows(changes) == [], mode


def test_write_diff(tmp_path: Path, store: ListStore, batch_of: BatchOf) -> None:
    changes: dict[str, list[Change]] = {}
    store.apply(batch_of(f'imei,reason\n{A1},"a, b"\n'), Mode.ADD, [(B, "")], changes=changes)
    out = tmp_path / "diff.csv"
    assert write_diff(str(out), changes) == 1
    assert out.read_text() == (
        "change,imei,imei_last,imsi,list,source,reason,reference,effective,expires\n"
        f'added,{A1},,,black,manual,"a, b",,,\n'
    )
