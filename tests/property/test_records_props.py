"""Store records: round trips, and any bytes decode to entries or a StoreError."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from eir.errors import StoreError
from eir.model import Entry, ListName
from eir.store.records import canonical_record, pack_record, unpack_record

text = st.text(max_size=30).filter(lambda t: len(t.encode()) <= 255)
entries = st.builds(Entry, st.sampled_from(list(ListName)), text, text, text,
                    st.integers(0, 2**32 - 1))


@given(st.lists(entries, min_size=1, max_size=4))
def test_round_trip(items: list[Entry]) -> None:
    record = pack_record(items)
    assert unpack_record(record) == items
    assert canonical_record(record) == canonical_record(pack_record(reversed(items)))


@given(st.binary(max_size=60))
def test_any_bytes(record: bytes) -> None:
    try:
        items = unpack_record(record)
    except StoreError:
        return
    assert pack_record(items) == record
