"""The diff of a load written fast (eir.store.diff.diff_lines) is the CSV of its reference
rows (diff_rows), whatever the records before and after."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from eir.model import Entry, ListName
from eir.store.diff import Change, diff_lines, diff_rows
from eir.store.records import Table, pack_record

text = st.sampled_from(["", "stolen", 'a "quoted", reason', "vol à l'arraché", "x\ny"]) | st.text(
    alphabet=' ,"ab\r\né', max_size=50
)  # lengths 10, 13, 34, 44: octets the csv module would quote
entries = st.builds(
    Entry,
    st.sampled_from(list(ListName)),
    st.sampled_from(["police", "crm", ""]),
    text,
    text,
    st.sampled_from([0, 7]),
    st.none() | st.integers(0, 9),
    st.sampled_from([0, 0, 1_797_292_800]),  # entries with and without times
    st.sampled_from([0, 0, 1_798_761_600]),
)
records = st.none() | st.lists(
    entries, min_size=1, max_size=2, unique_by=lambda e: (e.list, e.source)
).map(pack_record)


@given(st.lists(st.tuples(records, records), max_size=12), st.sampled_from(list(Table)))
def test_fast_lines_are_the_reference_rows(
    pairs: list[tuple[bytes | None, bytes | None]], table: Table
) -> None:
    width = {Table.IMEI: 14, Table.RANGE: 28, Table.PAIR: 20, Table.CLASS: 14}[table]
    log: list[Change] = [
        (b"%0*d" % (width, 10**13 + n), old, new)
        for n, (old, new) in enumerate(pairs)
        if old is not None or new is not None
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(diff_rows({table.value: list(log)}))
    lines = [b"".join(part) for part in diff_lines({table.value: list(log)})]
    assert b"".join(lines) == buffer.getvalue().encode()
