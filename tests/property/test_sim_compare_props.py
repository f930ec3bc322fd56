"""The input of ``eir-sim compare`` and ``--baseline``: a tolerance (a percentage or a fraction)
reads back as the share it wrote and any other text is refused with a `ToleranceError`; a
damaged report is refused with a `ReportError` or compared; never another exception."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import compare_page
from sim.compare import (
    ReportError,
    ToleranceError,
    checked_report,
    compare,
    document,
    parse_tolerance,
    table,
)
from tests.unit.sim.test_sim_ci import crafted

SPACE = st.sampled_from(["", " ", "\t"])


@given(fraction=st.floats(0, 1), before=SPACE, after=SPACE)
def test_a_fraction_reads_back(fraction: float, before: str, after: str) -> None:
    assert parse_tolerance(f"{before}{fraction!r}{after}") == fraction


@given(share=st.floats(0, 1e6), between=SPACE)
def test_a_percentage_reads_back_as_its_share(share: float, between: str) -> None:
    assert parse_tolerance(f"{share!r}{between}%") == pytest.approx(share / 100, rel=1e-12)


@given(text=st.text(max_size=12))
def test_any_text_is_a_tolerance_or_refused(text: str) -> None:
    try:
        value = parse_tolerance(text)
    except ToleranceError as exc:
        assert repr(text) in str(exc)
        return
    assert math.isfinite(value) and value >= 0
    assert text.strip().endswith("%") or value <= 1


@given(value=st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not 0 <= v <= 1))
def test_fractions_out_of_range_are_refused(value: float) -> None:
    with pytest.raises(ToleranceError):
        parse_tolerance(repr(value))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    [
        "sent",
        "rate",
        "error_rate",
        "mismatches",
        "latency_ms",
        "flows",
        "result_code",
        "tool",
        "settings",
        "versions",
        "elapsed_s",
        "title",
    ]
)


@given(where=st.lists(st.tuples(st.booleans(), FIELDS, JSON), min_size=1, max_size=4))
def test_any_damaged_report_is_refused_or_compared(
    where: list[tuple[bool, str, object]],
) -> None:
    """A report with fields replaced by any JSON value (in its total or its first flow) is
    refused with a `ReportError`, or compares without another exception."""
    doc = crafted()
    flow = doc["flows"][0]
    for in_flow, key, value in where:
        (flow if in_flow else doc)[key] = value
    try:
        checked = checked_report(json.loads(json.dumps(doc)))
    except ReportError as exc:
        assert str(exc).startswith("not an eir-sim JSON report (")
        return
    result = compare(crafted(), checked, 0.1)
    assert table(result).splitlines()[-1] == (result.comparability() or result.verdict())
    compare_page.page(result, "a.json", "b.json")
    json.dumps(document(result, "a.json", "b.json"))
