"""The tolerance of ``--max-regression``: a percentage or a fraction reads back as the share it
wrote, and any other text is refused with a `ToleranceError` (never another exception)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.compare import ToleranceError, parse_tolerance

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
