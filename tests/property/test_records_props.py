"""Store records: round trips, and any bytes decode to entries or a StoreError."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from eir.errors import StoreError
from eir.model import Entry, ListName
from eir.store.records import canonical_record, is_single_entry, pack_record, unpack_record

text = st.text(max_size=30).filter(lambda t: len(t.encode()) <= 255)
entries = st.builds(
    Entry,
    st.sampled_from(list(ListName)),
    text,
    text,
    text,
    st.integers(0, 2**32 - 1),
    st.none() | st.integers(0, 9),  # the check digit the IMEI was loaded with
    # effective and expires: mostly none, else any time (an entry with times)
    st.just(0) | st.integers(0, 2**32 - 1),
    st.just(0) | st.integers(0, 2**32 - 1),
)


@given(st.lists(entries, min_size=1, max_size=4))
def test_round_trip(items: list[Entry]) -> None:
    record = pack_record(items)
    assert unpack_record(record) == items
    assert canonical_record(record) == canonical_record(pack_record(reversed(items)))


@given(st.lists(entries, min_size=1, max_size=3))
def test_single_entry_is_read_from_the_header(items: list[Entry]) -> None:
    assert is_single_entry(pack_record(items)) == (len(items) == 1)


@given(st.binary(max_size=60))
def test_any_bytes(record: bytes) -> None:
    if is_single_entry(record):
        with contextlib.suppress(StoreError):  # one entry by its lengths, yet not UTF-8 text
            assert len(unpack_record(record)) == 1
    try:
        items = unpack_record(record)
    except StoreError:
        return
    assert pack_record(items) == record
