"""The CI gates of a run: each gate configured or implied, judged on the report's document, with
its threshold, its value, whether it passed and why.

Implied gates (always judged): a request was sent, no worker stopped early, no mismatch.
Configured gates: ``--max-p99-ms``, ``--min-rate``, ``--max-error-rate`` and, with
``--baseline A.json``, the rate, p99 and error rate against the baseline's within
``--max-regression`` (the comparison of `sim.compare`), after ``baseline-comparable``: the
baseline drove the same flows with the same protocol and pacing (else it fails with why).

``doc["gates"]`` holds ``passed``, ``failures`` (the failing gates' messages) and ``results``
(one object per gate: ``name``, ``threshold``, ``value``, ``passed``, ``message``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sim.compare import BASELINE_METRICS, ERROR_RATE_FLOOR, compare, percent, show
from sim.settings import Gates

#: the configured gates by their option's name (``--max-p99-ms``): the gate's name in the JSON
#: and the tables, and the label of its line on the charts
MAX_P99_MS = "max-p99-ms"
MIN_RATE = "min-rate"
MAX_ERROR_RATE = "max-error-rate"
#: gates whose threshold is a floor (the value must be at least it); the others are ceilings
FLOORS = frozenset({"requests-sent", MIN_RATE, "baseline-rate"})
#: how a gate's numbers read: in ms, as a rate, as a share; the others are counts
UNITS = {
    MAX_P99_MS: "ms",
    "baseline-p99": "ms",
    MIN_RATE: "rate",
    "baseline-rate": "rate",
    MAX_ERROR_RATE: "share",
    "baseline-error-rate": "share",
}


def option(name: str, value: float) -> str:
    """``--max-p99-ms 100``: a configured gate as the user wrote it."""
    return f"--{name} {value:g}"


def shown(name: str, value: object) -> str:
    """A gate's threshold or value with its unit: ``6.01 ms``, ``1,600,064.7/s``, ``0.012%``,
    ``400``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "\u2014" if value is None else str(value)
    unit = UNITS.get(name)
    if unit == "ms":
        return f"{value:,.2f} ms"
    if unit == "rate":
        return f"{value:,.1f}/s"
    if unit == "share":
        return share(value)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def share(value: float) -> str:
    """A fraction as a percentage with the decimals it needs: ``1.00%``, ``0.0012%``, ``0%``."""
    percent_ = value * 100
    if percent_ == 0 or not math.isfinite(percent_):
        return f"{percent_:g}%"
    places = max(2, min(6, 1 - math.floor(math.log10(abs(percent_)))))
    return f"{percent_:,.{places}f}%"


def threshold_text(name: str, threshold: object) -> str:
    """``≤ 100.00 ms``, ``≥ 500.0/s``: the threshold, with which side passes."""
    if threshold is None:
        return "\u2014"
    side = "\u2265" if name in FLOORS else "\u2264"
    return f"{side} {shown(name, threshold)}"


@dataclass(frozen=True)
class GateResult:
    name: str
    threshold: float | None
    value: float
    passed: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "threshold": self.threshold,
            "value": self.value,
            "passed": self.passed,
            "message": self.message,
        }


@dataclass(frozen=True)
class Baseline:
    """A previous run's JSON report and how much worse this run may be."""

    path: str
    doc: Mapping[str, Any]
    tolerance: float


def _sent(doc: Mapping[str, Any]) -> GateResult:
    sent = doc["sent"]
    message = f"{sent:,} requests were sent" if sent else "no request was sent"
    return GateResult("requests-sent", 1, sent, sent > 0, message)


def _stopped(doc: Mapping[str, Any]) -> GateResult:
    reasons = list(dict.fromkeys(doc["stopped_early"]))
    message = (
        f"the run stopped early: {'; '.join(reasons)}" if reasons else "no worker stopped early"
    )
    return GateResult("stopped-early", 0, len(doc["stopped_early"]), not reasons, message)


def _mismatches(doc: Mapping[str, Any]) -> GateResult:
    count = doc["mismatches"]
    if not count:
        return GateResult("mismatches", 0, 0, True, "every answer was the expected one")
    kinds = "; ".join(f"{n} x {k}" for k, n in list(doc["mismatch_kinds"].items())[:3])
    return GateResult(
        "mismatches", 0, count, False, f"{count} answers were not the expected ones ({kinds})"
    )


def _max_p99(limit: float, doc: Mapping[str, Any]) -> GateResult:
    p99 = doc["latency_ms"]["p99"]
    over = p99 > limit
    verb = "over" if over else "within"
    return GateResult(
        MAX_P99_MS,
        limit,
        p99,
        not over,
        f"p99 latency {p99:.2f} ms is {verb} {option(MAX_P99_MS, limit)}",
    )


def _min_rate(limit: float, doc: Mapping[str, Any]) -> GateResult:
    rate = doc["rate"]
    under = rate < limit
    verb = "under" if under else "not under"
    return GateResult(
        MIN_RATE, limit, rate, not under, f"rate {rate:.1f}/s is {verb} {option(MIN_RATE, limit)}"
    )


def _max_error_rate(limit: float, doc: Mapping[str, Any]) -> GateResult:
    rate = doc["error_rate"]
    over = rate > limit
    verb = "over" if over else "within"
    return GateResult(
        MAX_ERROR_RATE,
        limit,
        rate,
        not over,
        f"error rate {rate:.4%} (errors {doc['errors']}, timeouts {doc['timeouts']}) is {verb} "
        f"{option(MAX_ERROR_RATE, limit)}",
    )


def _comparable(baseline: Baseline, reasons: tuple[str, ...]) -> GateResult:
    """The baseline drove the same flows with the same protocol and pacing (`sim.compare`)."""
    if not reasons:
        message = f"the baseline {baseline.path} is comparable: same flows, protocols and pacing"
    else:
        message = f"the baseline {baseline.path} is not comparable: {'; '.join(reasons)}"
    return GateResult("baseline-comparable", 0, len(reasons), not reasons, message)


def _baseline(baseline: Baseline, doc: Mapping[str, Any]) -> list[GateResult]:
    """This run's totals against the baseline's: one gate per judged metric."""
    tol = baseline.tolerance
    comparison = compare(baseline.doc, doc, tol, BASELINE_METRICS, ("total",))
    out = [_comparable(baseline, comparison.reasons)]
    for row in comparison.rows:
        m = row.metric
        limit = max(0.0, row.a * (1 - tol)) if m.higher_is_better else row.a * (1 + tol)
        if m.key == "error_rate":
            limit = max(limit, row.a + ERROR_RATE_FLOOR)
        change = "" if row.change is None else f" ({row.change:+.1%})"
        verdict = "worse by more than" if row.regressed else "within"
        out.append(
            GateResult(
                f"baseline-{m.key.replace('_', '-')}",
                limit,
                row.b,
                not row.regressed,
                f"{m.label} {show(m, row.b)} against {show(m, row.a)} in the baseline "
                f"{baseline.path}{change}: {verdict} --max-regression {percent(tol)}",
            )
        )
    return out


def evaluate(
    gates: Gates, doc: Mapping[str, Any], baseline: Baseline | None = None
) -> list[GateResult]:
    """Every gate configured or implied, judged on `doc` (the report's document)."""
    results = [_sent(doc), _stopped(doc), _mismatches(doc)]
    if gates.max_p99_ms is not None:
        results.append(_max_p99(gates.max_p99_ms, doc))
    if gates.min_rate is not None:
        results.append(_min_rate(gates.min_rate, doc))
    if gates.max_error_rate is not None:
        results.append(_max_error_rate(gates.max_error_rate, doc))
    if baseline is not None:
        results.extend(_baseline(baseline, doc))
    return results


def judge(gates: Gates, doc: Mapping[str, Any], baseline: Baseline | None = None) -> dict[str, Any]:
    """``doc["gates"]``: passed, the failures' messages, and every gate's result."""
    results = evaluate(gates, doc, baseline)
    failures = [r.message for r in results if not r.passed]
    return {
        "passed": not failures,
        "failures": failures,
        "results": [r.as_dict() for r in results],
    }
