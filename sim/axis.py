"""Numbers as a reader wants them on a chart or in a table: round axis ticks (1, 2, 2.5 or 5
times a power of ten), labels without exponents (``1,050``, ``12.5k``, ``0.45``), and values
rid of binary float noise (``0.44999999999999996`` -> ``0.45``)."""

from __future__ import annotations

import math

#: multiples of a power of ten a tick step may be
STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)
#: suffixes of large numbers, from 10,000 up
SUFFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
#: the most decimals a label shows
MAX_DECIMALS = 12


def nice_step(span: float, count: int = 5) -> float:
    """A round step that cuts `span` into about `count` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in STEPS:
        if multiple * power >= raw * (1 - 1e-9):
            return multiple * power
    return 10.0 * power


def ticks(high: float, count: int = 5, low: float = 0.0) -> list[float]:
    """Round ticks from `low` (rounded down to a step) to at least `high`."""
    top = max(high, low)
    if top <= low:
        top = low + 1.0
    step = nice_step(top - low, count)
    first = math.floor(low / step + 1e-9) * step
    out = []
    k = 0
    while True:
        value = first + k * step
        out.append(round(value, 12))
        if value >= top * (1 - 1e-9) - 1e-12:
            return out
        k += 1


def decimals_for(step: float) -> int:
    """Decimals that tell ticks `step` apart (2.5 -> 1, 0.05 -> 2, 100 -> 0)."""
    if step <= 0 or not math.isfinite(step):
        return 0
    for places in range(MAX_DECIMALS + 1):
        if abs(round(step, places) - step) <= step * 1e-9:
            return places
    return MAX_DECIMALS


def label(value: float, step: float | None = None, top: float | None = None) -> str:
    """`value` for a reader: thousands separated below 10,000 (``1,050``), k/M/G/T above
    (``12.5k``), as many decimals as `step` needs (else three significant digits), never an
    exponent. `top`: the axis's largest tick, whose size picks the one style of every label of
    the axis (``0, 2.5k, 5k, 7.5k, 10k``, never ``5,000`` next to ``10k``)."""
    if not math.isfinite(value):
        return str(value)
    size = abs(value) if top is None else abs(top)
    for scale, suffix in SUFFIXES:
        if size >= 10_000 and size >= scale:
            if value == 0:
                return "0"
            scaled_step = None if step is None else step / scale
            return _fixed(value / scale, scaled_step) + suffix
    return _fixed(value, step)


def _fixed(value: float, step: float | None) -> str:
    if step is not None:
        places = decimals_for(step)
    elif value == 0:
        places = 0
    else:
        places = min(MAX_DECIMALS, max(0, 2 - math.floor(math.log10(abs(value)))))
    text = f"{value:,.{places}f}"
    if step is None and "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def tidy(value: object) -> object:
    """`value` (and what a dict or list holds) with floats rounded to 12 significant digits:
    what a user wrote, without the float noise of arithmetic on it."""
    if isinstance(value, float):
        return float(f"{value:.12g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [tidy(v) for v in value]
    return value
