"""Entries with times in the store (issue 18): list file columns, --grace/--expires-in, the
same-content test (a changed due date is an update), replace, diff, export and the purge."""

from __future__ import annotations

from pathlib import Path

import pytest

from eir.errors import IdentityError, LoadError
from eir.model import Entry, ListName
from eir.store.api import HandsetChange, ListStore, Mode
from eir.store.diff import Change, diff_lines, diff_rows
from eir.store.lmdb_store import LmdbStore
from eir.store.loader import LoadOptions, parse_files
from eir.store.purge import expired_of
from eir.store.records import pack_record, unpack_record
from eir.store.times import check_times, parse_time, time_text
from tests.conftest import BatchOf

B, G = ListName.BLACK, ListName.GREY
A1, A2, A3 = "49015420323751", "35693803564380", "35345678901234"
DEC15 = 1_797_292_800  # 2026-12-15T00:00:00Z
JAN1 = 1_798_761_600  # 2027-01-01T00:00:00Z
PURGE = HandsetChange("purge", (), "ops", "expired", "")


def test_parse_time_forms() -> None:
    assert parse_time("2026-12-15", "effective") == DEC15
    assert parse_time("2026-12-15T00:00:00Z", "effective") == DEC15
    assert parse_time("2026-12-15T07:00:00+07:00", "expires") == DEC15
    assert parse_time(" ", "expires") == 0
    assert time_text(DEC15) == "2026-12-15T00:00:00Z"
    assert time_text(0) == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "15/12/2026",
            "effective: '15/12/2026' is not an ISO date (2026-12-15) or date-time with Z or an "
            "offset (2026-12-15T08:00:00Z)",
        ),
        (
            "2026-12-15T10:00",
            "effective: '2026-12-15T10:00' names no time zone (end it with Z or +HH:MM)",
        ),
        ("2200-01-01", "effective: '2200-01-01' is not between 1970 and 2106"),
    ],
)
def test_parse_time_refused(text: str, message: str) -> None:
    with pytest.raises(IdentityError) as caught:
        parse_time(text, "effective")
    assert str(caught.value) == message


def test_expires_after_effective() -> None:
    assert check_times(DEC15, JAN1) == (DEC15, JAN1)
    assert check_times(0, DEC15) == (0, DEC15)
    with pytest.raises(IdentityError) as caught:
        check_times(JAN1, DEC15)
    assert str(caught.value) == (
        "expires: 2026-12-15T00:00:00Z is not after effective 2027-01-01T00:00:00Z"
    )


def _parse(tmp_path: Path, text: str, **options: object) -> tuple[list[str], object]:
    path = tmp_path / "times.csv"
    path.write_text(text)
    problems: list[str] = []
    try:
        batch = parse_files([str(path)], LoadOptions(**options), problems.append)  # type: ignore[arg-type]
    except LoadError as exc:
        return problems, exc
    return problems, batch


def test_bad_time_cells_named_by_line(tmp_path: Path) -> None:
    problems, result = _parse(
        tmp_path,
        f"imei,effective,expires\n{A1},2026-12-15,2026-12-01\n{A2},soon,\n{A3},,2026-13-01\n",
    )
    assert isinstance(result, LoadError)
    name = tmp_path / "times.csv"
    assert problems == [
        f"{name}:2: expires: 2026-12-01T00:00:00Z is not after effective 2026-12-15T00:00:00Z",
        f"{name}:3: effective: 'soon' is not an ISO date (2026-12-15) or date-time with Z or "
        "an offset (2026-12-15T08:00:00Z)",
        f"{name}:4: expires: '2026-13-01' is not an ISO date (2026-12-15) or date-time with Z "
        "or an offset (2026-12-15T08:00:00Z)",
    ]


def test_grace_fills_rows_without_their_own(store: ListStore, batch_of: BatchOf) -> None:
    text = f"imei,effective,expires\n{A1},2026-12-15,\n{A2},,\n"
    batch = batch_of(text, effective=DEC15 - 86400, expires=JAN1)
    store.apply(batch, Mode.ADD, [(B, "manual")], now=1)
    entries = {key: hits.imei[0].entry for key in (A1, A2) for hits in [store.lookup(key, None)]}
    assert (entries[A1].effective, entries[A1].expires) == (DEC15, JAN1)
    assert (entries[A2].effective, entries[A2].expires) == (DEC15 - 86400, JAN1)


def test_plain_file_takes_the_load_times(store: ListStore, batch_of: BatchOf) -> None:
    """A file of IMEIs alone (the bulk path's) gets --grace through the row path."""
    store.apply(batch_of(f"{A1}\n{A2}\n", expires=JAN1), Mode.ADD, [(B, "manual")], now=1)
    assert [store.lookup(k, None).imei[0].entry.expires for k in (A1, A2)] == [JAN1, JAN1]


def test_due_date_change_is_an_update(store: ListStore, batch_of: BatchOf) -> None:
    scope = [(B, "p")]
    first = batch_of(f"imei,reason,effective\n{A1},stolen,2026-12-15\n{A2},lost,\n", source="p")
    store.apply(first, Mode.ADD, scope, now=1)
    again = store.apply(first, Mode.ADD, scope, now=2)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    moved = batch_of(f"imei,reason,effective\n{A1},stolen,2027-01-01\n{A2},lost,\n", source="p")
    changes: dict[str, list[Change]] = {}
    summary = store.apply(moved, Mode.ADD, scope, now=3, changes=changes)
    assert (summary.updated, summary.unchanged) == (1, 1)
    assert list(diff_rows(changes)) == [
        ("updated", A1, "", "", "black", "p", "stolen", "", "2027-01-01T00:00:00Z", "")
    ]
    timed = batch_of(f"imei,reason,expires\n{A2},lost,2027-01-01\n", source="p")
    changes = {}
    summary = store.apply(timed, Mode.REPLACE, scope, now=4, changes=changes)
    assert (summary.updated, summary.removed) == (1, 1)
    assert sorted(diff_rows(changes)) == [
        ("removed", A1, "", "", "black", "p", "stolen", "", "2027-01-01T00:00:00Z", ""),
        ("updated", A2, "", "", "black", "p", "lost", "", "", "2027-01-01T00:00:00Z"),
    ]
    lines = b"".join(line for chunk in diff_lines(changes) for line in chunk).decode()
    assert lines == (
        f"updated,{A2},,,black,p,lost,,,2027-01-01T00:00:00Z\n"
        f"removed,{A1},,,black,p,stolen,,2027-01-01T00:00:00Z,\n"
    )


def test_replace_without_times_drops_them(store: ListStore, batch_of: BatchOf) -> None:
    scope = [(B, "p")]
    store.apply(batch_of(f"imei,expires\n{A1},2027-01-01\n", source="p"), Mode.ADD, scope, now=1)
    summary = store.apply(batch_of(f"{A1}\n", source="p"), Mode.REPLACE, scope, now=2)
    assert (summary.updated, summary.unchanged) == (1, 0)
    assert store.lookup(A1, None).imei[0].entry.expires == 0
    again = store.apply(batch_of(f"{A1}\n", source="p"), Mode.REPLACE, scope, now=3)
    assert again.unchanged == 1


def test_expired_of_keeps_other_entries() -> None:
    kept = Entry(G, "q", "lab")
    gone = Entry(B, "p", "stolen", expires=DEC15)
    later = Entry(B, "r", "", effective=DEC15, expires=JAN1)
    record = pack_record([kept, gone, later])
    assert expired_of(record, DEC15 - 1) is None
    found = expired_of(record, DEC15)
    assert found is not None
    assert unpack_record(found[0] or b"") == [kept, later]
    assert found[1] == [gone]
    assert expired_of(pack_record([gone]), JAN1) == (None, [gone])
    assert expired_of(pack_record([kept]), JAN1) is None


def test_purge_in_steps(tmp_path: Path, batch_of: BatchOf) -> None:
    store = LmdbStore(tmp_path / "db", map_size_mb=16)
    try:
        rows = "".join(f"{A1[:8]}{n:06d},2026-12-15\n" for n in range(250))
        store.apply(batch_of(f"imei,expires\n{rows}", source="p"), Mode.ADD, [(B, "p")], now=1)
        store.apply(batch_of(f"{A1[:8]}000001\n", list=G), Mode.ADD, [(G, "manual")], now=1)
        before = store.stats().digest
        dry = store.purge(DEC15, 100, PURGE, dry_run=True)
        assert (dry.removed, dry.dry_run) == (250, True)
        assert store.stats().digest == before
        assert store.purge(DEC15 - 1, 100, PURGE).removed == 0
        versions: list[int] = []
        summary = store.purge(DEC15, 100, PURGE, versions=versions)
        assert summary.removed == 250
        assert versions == [3, 4, 5]
        stats = store.stats()
        assert stats.counts == {"imei/grey/manual": 1}
        history = stats.history[-3:]
        assert [(h.action, h.removed, h.by, h.origin) for h in history] == [
            ("purge", 100, "ops", "cli"),
            ("purge", 100, "ops", "cli"),
            ("purge", 50, "ops", "cli"),
        ]
        assert store.lookup(f"{A1[:8]}000001", None).imei[0].entry.list is G
        assert store.purge(JAN1, 100, PURGE).removed == 0
    finally:
        store.close()
