"""eir.store.audit: the audit of a local change, the filters of `eir audit`, an entry's maker."""

from __future__ import annotations

from eir.model import Entry, ListName
from eir.store.api import HistoryRecord
from eir.store.audit import AuditFilter, daemon_change, local_change, login, maker, select


def record(seq: int, time: int, **kw: object) -> HistoryRecord:
    fields: dict[str, object] = {
        "mode": "add",
        "list": "black",
        "source": "police",
        "files": [],
        "added": 1,
        "updated": 0,
        "removed": 0,
        "unchanged": 0,
        "invalid": 0,
        "duplicates": 0,
    }
    fields.update(kw)
    return HistoryRecord(seq, time, **fields)  # type: ignore[arg-type]


def test_local_change_is_from_the_cli_and_names_the_login_when_no_one_is_given() -> None:
    change = local_change("load", "", "wrong file", "T-1", config_node="eir-a")
    assert (change.action, change.by, change.origin, change.node) == (
        "load",
        login(),
        "cli",
        "eir-a",
    )
    assert (change.reason, change.reference, change.imeis, change.case) == (
        "wrong file",
        "T-1",
        (),
        "",
    )
    named = local_change("block", "ana", "stolen", "HCM-1", ["490154203237518"], case="C-1")
    assert (named.by, named.imeis, named.case) == ("ana", ("490154203237518",), "C-1")


def test_daemon_change_is_by_and_from_the_node() -> None:
    change = daemon_change("purge", "eir-b")
    assert (change.by, change.origin, change.node) == ("eir-b", "daemon", "eir-b")


def test_filters_select_by_who_what_when_and_version_newest_last() -> None:
    records = [
        record(3, 300, action="block", by="ana", imeis=["490154203237518"]),
        record(1, 100, by="bob"),
        record(2, 200, action="case-open", by="ana", case="C-9"),
    ]
    assert [r.seq for r in select(records, AuditFilter())] == [1, 2, 3]
    assert [r.seq for r in select(records, AuditFilter(by="ana"))] == [2, 3]
    assert [r.seq for r in select(records, AuditFilter(action="load"))] == [1]
    assert [r.seq for r in select(records, AuditFilter(case="C-9"))] == [2]
    assert [r.seq for r in select(records, AuditFilter(since=150, until=250))] == [2]
    assert [r.seq for r in select(records, AuditFilter(since_version=2))] == [2, 3]
    assert [r.seq for r in select(records, AuditFilter(until_version=1))] == [1]
    by_imei = AuditFilter(imei="49015420323751", makers=frozenset({1}))
    assert [r.seq for r in select(records, by_imei)] == [1, 3]


def test_maker_is_the_newest_record_of_the_entrys_list_and_source_at_its_time() -> None:
    records = [
        record(1, 100),
        record(2, 200, list="white", source="police"),
        record(3, 200),
        record(4, 300),
    ]
    entry = Entry(ListName.BLACK, "police", added=200)
    found = maker(entry, records)
    assert found is not None and found.seq == 3
    # a device database load in the same second wrote no list entry
    devices = record(5, 200, action="devices", list="", source="")
    found = maker(entry, [*records, devices])
    assert found is not None and found.seq == 3
    # a file of several lists names its first: its other lists' entries are its too
    assert maker(Entry(ListName.GREY, "police", added=300), records) == records[3]
    assert maker(Entry(ListName.BLACK, "police", added=50), records) is None
    assert maker(Entry(ListName.GREY, "other", added=400), records) is None


def test_maker_past_the_kept_change_sets_prefers_the_record_naming_the_imei() -> None:
    alice = record(2, 500, action="block", by="alice", imeis=["490154203237518"], source="manual")
    bob = record(3, 500, action="block", by="bob", imeis=["353456789012348"], source="manual")
    entry = Entry(ListName.BLACK, "manual", added=500)
    assert maker(entry, [alice, bob], "49015420323751") == alice
    assert maker(entry, [alice, bob], "35345678901234") == bob


def test_maker_is_the_version_whose_change_set_wrote_the_entry() -> None:
    ana, bob = record(1, 100, by="ana"), record(2, 200, by="bob")
    entry = Entry(ListName.BLACK, "police", added=100)  # an `added` cell: ana's time
    changes: dict[int, tuple[tuple[Entry, ...], tuple[Entry, ...]]] = {2: ((), (entry,))}
    assert maker(entry, [ana, bob], "35345678901234", changes) == bob
    # a later version that kept the entry (it changed another of the key's entries) did not
    other = Entry(ListName.GREY, "x", added=300)
    changes[3] = ((entry,), (entry, other))
    assert maker(entry, [ana, bob, record(3, 300)], "35345678901234", changes) == bob


def test_maker_of_a_case_entry_past_the_change_sets_is_the_action_that_wrote_it() -> None:
    """A case applied from an update (a node started from a snapshot keeps no change set):
    its records name the list and source the action wrote, so the case-block made the black
    entry, not the case-open before it (which named the same IMEI)."""
    imeis = ["490154203237518"]
    kw = {"imeis": imeis, "source": "cases", "case": "C-1", "origin": "update"}
    opened = record(2, 100, action="case-open", list="grey", **kw)
    blocked = record(3, 200, action="case-block", list="black", **kw)
    entry = Entry(ListName.BLACK, "cases", "stolen", "C-1", added=200)
    assert maker(entry, [opened, blocked], "49015420323751") == blocked
    # without its list (as a published case action was recorded) the open was taken
    unnamed = record(3, 200, action="case-block", list="", **kw | {"source": ""})
    assert maker(entry, [opened, unnamed], "49015420323751") == opened
