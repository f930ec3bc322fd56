"""Two ways to one answer: :func:`eir.store.formats.blank_trailing_columns` (counts in C)
agrees with the csv module's reading of the rows on whether the last columns are all empty."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from eir.store.formats import blank_trailing_columns

cells = st.text(alphabet="0123456789ab ", max_size=3)
rows = st.lists(st.lists(cells, min_size=3, max_size=3), max_size=6)


@given(rows, st.integers(1, 2), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_blank_trailing_columns_as_the_csv_module_reads_them(
    table: list[list[str]], count: int, end: str, last_end: bool
) -> None:
    text = end.join(";".join(row) for row in table) + (end if table and last_end else "")
    read = list(csv.reader(io.StringIO(text), delimiter=";"))
    expected = all(not any(r[-count:]) for r in read)
    assert blank_trailing_columns(text.encode(), b";", count) == expected
