"""The charts of a report section (the whole run, or one flow) from its timeline rows
(`sim.report`): throughput, latency percentiles, errors, result codes and equipment statuses
over time, with the gates' thresholds drawn.

A second the sending covered only in part (the last one, stopped in its middle) is drawn per
covered second; one covered less than `MIN_COVERED` (a few answers coming in after the end) is
left out of the rate, latency, result-code and status charts rather than drawn as a fall. The
errors chart draws every second, those after the end too (see `errors`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from sim.gates import MAX_P99_MS, MIN_RATE, option
from sim.result_names import result_label, status_label
from sim.svg_chart import Series, Threshold, line_chart, stacked_chart

#: a second covered less than this (in seconds) is left out of rates and latencies
MIN_COVERED = 0.5
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
LATENCIES = (
    ("p50", "p50_ms", "#2ca02c"),
    ("p90", "p90_ms", "#1f77b4"),
    ("p99", "p99_ms", "#ff7f0e"),
    ("p99.9", "p999_ms", "#9467bd"),
    ("max", "max_ms", "#d62728"),
)
ERRORS = (
    ("timeouts", "timeouts", "#ff7f0e"),
    ("errors", "errors", "#d62728"),
    ("mismatches", "mismatches", "#9467bd"),
)
#: Equipment-Status colours: allowed green, refused near black, tracked grey
STATUS_COLORS = {"white": "#2ca02c", "black": "#222222", "grey": "#9e9e9e"}


def drawn_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The seconds rates are drawn for: those covered at least `MIN_COVERED`; when none is
    (a run shorter than that), every second the sending covered at all."""
    full = [r for r in rows if r.get("covered_s", 1.0) >= MIN_COVERED]
    return full or [r for r in rows if r.get("covered_s", 1.0) > 0]


def per_second(row: dict[str, Any], count: float) -> float:
    """`count` of `row` as a rate over the part of the second the sending covered."""
    part = float(row.get("covered_s", 1.0))
    return count / part if part > 0 else float(count)


def _x(row: dict[str, Any]) -> float:
    return float(row["second"]) + 0.5


def x_end(rows: Sequence[dict[str, Any]]) -> float:
    return float(max((r["second"] for r in rows), default=0) + 1)


def throughput(title: str, rows: Sequence[dict[str, Any]], min_rate: float | None = None) -> str:
    shown = drawn_rows(rows)
    series = [
        Series(name, color, tuple((_x(r), per_second(r, r[key])) for r in shown), wide)
        for name, key, color, wide in (
            ("sent", "sent", "#1f77b4", True),
            ("answered", "answered", "#2ca02c", False),
        )
    ]
    gates = [] if min_rate is None else [Threshold(option(MIN_RATE, min_rate), min_rate)]
    return line_chart(f"{title}: throughput", "requests/s", series, x_end(rows), gates)


def latency(title: str, rows: Sequence[dict[str, Any]], max_p99_ms: float | None = None) -> str:
    shown = [r for r in drawn_rows(rows) if r["answered"]]
    series = [
        Series(name, color, tuple((_x(r), float(r[key])) for r in shown), dashed=name == "max")
        for name, key, color in LATENCIES
    ]
    gates = [] if max_p99_ms is None else [Threshold(option(MAX_P99_MS, max_p99_ms), max_p99_ms)]
    return line_chart(f"{title}: latency", "ms", series, x_end(rows), gates)


def errors(title: str, rows: Sequence[dict[str, Any]]) -> str:
    """Every second, errors included after the end: a request's timeout comes `--timeout`
    seconds after it was sent, so the timeouts of the last requests are counted in the seconds
    after the sending ended, and leaving those out would hide them. A second the sending covered
    at least `MIN_COVERED` is drawn per covered second; the others (the end, the seconds after
    it) as counted in that second, not scaled up by a small covered part."""
    series = [
        Series(name, color, tuple((_x(r), _error_rate(r, r[key])) for r in rows))
        for name, key, color in ERRORS
    ]
    return line_chart(f"{title}: errors", "per second", series, x_end(rows), whole=True)


def _error_rate(row: dict[str, Any], count: float) -> float:
    covered = float(row.get("covered_s", 1.0))
    return per_second(row, count) if covered >= MIN_COVERED else float(count)


def results(title: str, rows: Sequence[dict[str, Any]]) -> str:
    """Answers by Result-Code (or MAP outcome), stacked, per second."""
    return _stacked(f"{title}: result codes", rows, "result_code", result_label, {})


def statuses(title: str, rows: Sequence[dict[str, Any]]) -> str:
    """Answers by Equipment-Status, stacked, per second."""
    return _stacked(
        f"{title}: equipment statuses", rows, "equipment_status", status_label, STATUS_COLORS
    )


def _stacked(
    title: str,
    rows: Sequence[dict[str, Any]],
    key: str,
    name_of: Callable[[str], str],
    colors: dict[str, str],
) -> str:
    shown = drawn_rows(rows)
    totals: Counter[str] = Counter()
    for r in rows:
        totals.update(r.get(key, {}))
    layers = []
    for i, (value, _n) in enumerate(totals.most_common()):
        color = colors.get(value, PALETTE[i % len(PALETTE)])
        points = tuple((_x(r), per_second(r, r.get(key, {}).get(value, 0))) for r in shown)
        layers.append(Series(name_of(value), color, points))
    return stacked_chart(title, "answers/s", layers, x_end(rows))
