"""The form an IMEI was loaded in (its check digit, ``Group.digits``) kept in the entry: the
record's code octet, the values a group packs, add and replace deciding unchanged or updated,
the digest, and the IMEI as ``eir export`` writes it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from eir.model import Entry, ListName
from eir.store.api import ListStore, Mode
from eir.store.batch import Batch, Group
from eir.store.reading import imei_as, last_as
from eir.store.records import (
    NO_DIGIT,
    Table,
    canonical_record,
    entry_code,
    is_single_entry,
    pack_entry,
    pack_record,
    pack_tail,
    unpack_record,
)
from tests.conftest import BatchOf

B, G, W = ListName.BLACK, ListName.GREY, ListName.WHITE
A1, A2, A3 = "49015420323751", "35693803564380", "35345678901234"


def with_digits(batch: Batch, digits: dict[str, int]) -> Batch:
    """``batch`` whose one group's keys were written with these check digits (by IMEI; the
    others without one)."""
    (group,) = batch.groups
    group.digits = bytes(digits.get(key.decode(), NO_DIGIT) for key in group.keys)
    return batch


def test_code_octet_holds_the_list_and_the_digit() -> None:
    assert entry_code(B) == entry_code(B, NO_DIGIT) == b"B"
    assert [entry_code(name, 7) for name in (W, G, B)] == [b"\x87", b"\x97", b"\xa7"]
    record = pack_entry(B, "police", "stolen", "PR-1", 5, 3)
    assert record[:1] == b"\xa3" and is_single_entry(record)
    assert unpack_record(record) == [Entry(B, "police", "stolen", "PR-1", 5, 3)]
    assert unpack_record(pack_entry(B, "police", "", "", 5)) == [Entry(B, "police", "", "", 5)]
    # the digest covers the form: 15 digits and 14 are different content
    assert canonical_record(record) != canonical_record(
        pack_entry(B, "police", "stolen", "PR-1", 5)
    )
    both = pack_record([Entry(B, "a", digit=9), Entry(G, "b")])
    assert [e.digit for e in unpack_record(both)] == [9, None]


fields = st.tuples(st.text(max_size=5), st.text(max_size=5), st.sampled_from([0, 0, 77]))


@given(
    st.lists(st.tuples(st.integers(0, NO_DIGIT), fields), min_size=1, max_size=20),
    st.sampled_from(["plain", "tails", "fields"]),
)
def test_values_with_digits_are_the_entries_packed_one_by_one(
    items: list[tuple[int, tuple[str, str, int]]], form: str
) -> None:
    keys = [b"%014d" % i for i in range(len(items))]
    digits = bytes(d for d, _ in items)
    group = Group(Table.IMEI, B, "src", keys, digits=digits)
    if form == "plain":
        expect = [pack_entry(B, "src", "", "", 100, d) for d in digits]
    else:
        expect = [pack_entry(B, "src", r, ref, added or 100, d) for d, (r, ref, added) in items]
        if form == "fields":
            group.fields = [f for _, f in items]
        else:
            expect = [pack_entry(B, "src", r, ref, 100, d) for d, (r, ref, _) in items]
            tails = [pack_tail(b"", r, ref) for _, (r, ref, _) in items]
            ends = [sum(map(len, tails[: i + 1])) for i in range(len(tails))]
            group.tails = (
                b"".join(tails),
                [e - len(t) for e, t in zip(ends, tails, strict=True)],
                ends,
            )
    assert list(group.values(100)) == expect
    picked = list(range(0, len(items), 2))
    assert group.values_at(picked, 100) == [expect[i] for i in picked]


def test_all_no_digit_is_the_plain_form(batch_of: BatchOf) -> None:
    plain = batch_of(f"{A1}\n{A2}\n").groups[0]
    marked = batch_of(f"{A1}\n{A2}\n").groups[0]
    marked.digits = bytes([NO_DIGIT, NO_DIGIT])
    assert list(plain.values(9)) == list(marked.values(9))
    made = Group(Table.IMEI, B, "s", [A1.encode(), A2.encode()], digits=bytes([NO_DIGIT] * 2))
    assert made.digits is None  # the plain code path


def test_the_store_keeps_the_digit(store: ListStore, batch_of: BatchOf) -> None:
    batch = with_digits(
        batch_of(f"imei,reason\n{A1},stolen\n{A2},lost\n", source="p"), {A1: 8, A2: 1}
    )
    s = store.apply(batch, Mode.ADD, [(B, "p")], now=100)
    assert s.added == 2
    assert store.lookup(A1, None).imei[0].entry == Entry(B, "p", "stolen", "", 100, 8)
    assert [(r.imei, r.entry.digit) for r in store.export()] == [(A2, 1), (A1, 8)]


def test_same_form_unchanged_other_form_updated(store: ListStore, batch_of: BatchOf) -> None:
    text = f"imei,reason\n{A1},stolen\n{A2},lost\n"
    store.apply(
        with_digits(batch_of(text, source="p"), {A1: 8, A2: 1}),
        Mode.ADD,
        [(B, "p")],
        now=1,
    )
    for mode in (Mode.ADD, Mode.REPLACE):
        again = with_digits(batch_of(text, source="p"), {A1: 8, A2: 1})
        s = store.apply(again, mode, [(B, "p")], now=2)
        assert (s.unchanged, s.updated) == (2, 0), mode
    # the same IMEIs written with 14 digits: another form, so an update
    s = store.apply(batch_of(text, source="p"), Mode.REPLACE, [(B, "p")], now=3)
    assert (s.unchanged, s.updated, s.removed) == (0, 2, 0)
    assert store.lookup(A1, None).imei[0].entry.digit is None
    s = store.apply(
        with_digits(batch_of(text, source="p"), {A1: 8, A2: 2}),
        Mode.ADD,
        [(B, "p")],
        now=4,
    )
    assert (s.unchanged, s.updated) == (0, 2)
    assert [r.entry.digit for r in store.export()] == [2, 8]


def test_digest_covers_the_form(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(f"{A1}\n", source="p"), Mode.ADD, [(B, "p")])
    fourteen = store.stats().digest
    store.apply(with_digits(batch_of(f"{A1}\n", source="p"), {A1: 8}), Mode.ADD, [(B, "p")])
    assert store.stats().digest != fourteen


def test_replace_with_digits_beside_other_entries(store: ListStore, batch_of: BatchOf) -> None:
    """A record holding entries of several sources: the walk's key-by-key path keeps the form."""
    store.apply(batch_of(f"{A1}\n{A2}\n", source="other"), Mode.ADD, [(B, "other")])
    store.apply(with_digits(batch_of(f"{A1}\n", source="p"), {A1: 8}), Mode.ADD, [(B, "p")])
    s = store.apply(
        with_digits(batch_of(f"{A1}\n{A3}\n", source="p"), {A1: 7, A3: 4}),
        Mode.REPLACE,
        [(B, "p")],
    )
    assert (s.added, s.updated, s.removed) == (1, 1, 0)
    assert sorted((m.entry.source, m.entry.digit) for m in store.lookup(A1, None).imei) == [
        ("other", None),
        ("p", 7),
    ]


def test_export_form() -> None:
    assert imei_as(A1, None) == A1  # loaded with 14 digits: as loaded
    assert imei_as(A1, 8) == A1 + "8"  # loaded with 15: as loaded, even a wrong digit
    assert imei_as(A1, 8, 14) == A1
    assert imei_as(A1, None, 15) == A1 + "8"  # the Luhn digit computed
    assert imei_as(A1, 3, 15) == A1 + "3"  # the digit it was loaded with
    assert last_as(A2, False) == A2
    assert last_as(A2, True) == A2 + "9"
