"""Properties of sim.axis: labels never use exponents and keep the order of the numbers;
ticks are round, increasing and cover the data."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from sim.axis import SUFFIXES, label, ticks

values = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_infinity=False)
peaks = st.floats(min_value=1e-6, max_value=1e12, allow_nan=False, allow_infinity=False)
SCALE = {suffix: scale for scale, suffix in SUFFIXES}


def read(text: str) -> float:
    """A label back to its number."""
    plain = text.replace(",", "")
    if plain[-1] in SCALE:
        return float(plain[:-1]) * SCALE[plain[-1]]
    return float(plain)


@given(values)
def test_a_label_has_no_exponent_and_reads_back_close(value: float) -> None:
    text = label(value)
    assert "e" not in text.lower() and "nan" not in text
    assert math.isclose(read(text), value, rel_tol=0.01, abs_tol=1e-6)


@given(values, values)
def test_labels_keep_the_order_of_numbers(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert read(label(low)) <= read(label(high))


@given(peaks)
def test_ticks_are_round_increasing_and_cover_the_peak(peak: float) -> None:
    axis = ticks(peak)
    assert axis[0] == 0 and axis[-1] >= peak * (1 - 1e-9)
    assert 3 <= len(axis) <= 12
    step = axis[1] - axis[0]
    texts = [label(t, step, axis[-1]) for t in axis]
    assert len(set(texts)) == len(texts)  # ticks tell apart
    suffixes = {t[-1] if t[-1].isalpha() else "" for t in texts[1:]}
    assert len(suffixes) == 1, texts  # one style for the whole axis
    assert all("e" not in t.lower() for t in texts)
    numbers = [read(t) for t in texts]
    assert numbers == sorted(numbers)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 2.5, 5, 10))
