"""RangeIndex against a brute-force search over the same ranges."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from eir.model import Entry, ListName
from eir.store.records import RangeIndex, pack_entry

BASE = 35_000_000_000_000

spans = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 30), st.sampled_from(list(ListName))), max_size=12
)


@settings(max_examples=200)
@given(spans, st.lists(st.integers(-2, 95), min_size=1, max_size=20))
def test_narrowest_covering_ranges(
    ranges: list[tuple[int, int, ListName]], points: list[int]
) -> None:
    items: dict[bytes, bytes] = {}
    for start, length, list_name in ranges:
        key = b"%014d%014d" % (BASE + start, BASE + start + length)
        items[key] = items.get(key, b"") + pack_entry(list_name, "s", "", "", 0)
    index = RangeIndex(sorted(items.items()))
    for point in points:
        value = BASE + point
        covering = [
            (int(k[:14]), int(k[14:])) for k in items if int(k[:14]) <= value <= int(k[14:])
        ]
        found = index.lookup(str(value))
        if not covering:
            assert found == ()
            continue
        width = min(end - start for start, end in covering)
        expected = sorted((s, e) for s, e in covering if e - s == width)
        got = sorted({(int(mt.key), int(mt.last or 0)) for mt in found})
        assert got == expected
        assert all(isinstance(mt.entry, Entry) for mt in found)
