"""Two runs side by side: the JSON reports of eir-sim read back, their totals and flows (matched
by name) compared metric by metric, and a verdict against a tolerance.

One definition serves ``eir-sim compare A.json B.json`` and the ``--baseline`` gate of
``eir-sim run``. A is the reference (the baseline), B the run judged. The judged metrics:

* ``rate``: B regressed when lower than A's by more than the tolerance (relative);
* ``p99``: B regressed when higher than A's by more than the tolerance (relative);
* ``error_rate``: B regressed when higher than A's by more than the tolerance (relative) and by
  at least `ERROR_RATE_FLOOR` (so that one timeout in a million is not a regression of a
  clean baseline);
* ``mismatches``: B regressed when it has mismatches and its share of mismatched answers is
  higher than A's by more than the tolerance (a clean A: any mismatch).

The other percentiles, the result codes and the equipment statuses are shown, not judged.

Two runs are *comparable* when they drove the same flows (by name) with the same protocol and
pacing (`PACING_KEYS` of each flow, `RUN_PACING_KEYS` of the run); otherwise the comparison says
"not comparable" and why, whatever the numbers. Both runs' facts (title, start, duration,
versions) and every setting that differs are shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: the error rate must rise by at least this much (0.1 percentage point) to be a regression
ERROR_RATE_FLOOR = 0.001
#: the tolerance when none is given
DEFAULT_TOLERANCE = 0.10
#: what a JSON report must hold to be compared
REPORT_KEYS = ("sent", "rate", "error_rate", "mismatches", "latency_ms", "flows")
#: the latency percentiles compared
LATENCY_KEYS = ("p50", "p90", "p99", "p999", "max")
#: a matched flow's settings that must be equal for two runs to be comparable
PACING_KEYS = ("protocol", "rate", "concurrency", "ramp_s")
#: the run's settings that must be equal for two runs to be comparable
RUN_PACING_KEYS = ("requests", "duration_s")
#: the facts of each run shown side by side
FACT_KEYS = ("title", "started", "elapsed_s", "versions")


class ToleranceError(ValueError):
    """A tolerance that is not a percentage (``10%``) or a fraction (``0.1``)."""


class ReportError(ValueError):
    """A file that is not an eir-sim JSON report."""


def parse_tolerance(text: str) -> float:
    """``10%`` or ``0.1`` -> 0.1. A fraction is from 0 to 1; a percentage is 0 % or more."""
    raw = text.strip()
    percent = raw.endswith("%")
    number = raw[:-1].strip() if percent else raw
    try:
        value = float(number)
    except ValueError:
        raise ToleranceError(f"{text!r} is not a percentage (10%) or a fraction (0.1)") from None
    if not math.isfinite(value) or value < 0:
        raise ToleranceError(f"{text!r} must be 0 or more")
    if percent:
        return value / 100.0
    if value > 1:
        raise ToleranceError(f"{text!r}: a fraction is from 0 to 1 (write {value:g}% for a share)")
    return value


def percent(fraction: float) -> str:
    """0.1 -> ``10%`` (as the user would write it)."""
    return f"{fraction * 100:g}%"


def load_report(path: str) -> dict[str, Any]:
    """An eir-sim JSON report read back, or `ReportError` saying why it is not one."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ReportError(exc.strerror or str(exc)) from None
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"not JSON ({exc})") from None
    return checked_report(doc)


def checked_report(doc: object) -> dict[str, Any]:
    """`doc` if it holds what a comparison reads, else `ReportError` naming the first field
    that is missing or of the wrong type."""
    if not isinstance(doc, dict) or doc.get("tool") != "eir-sim":
        raise ReportError('not an eir-sim JSON report (no "tool": "eir-sim")')
    if "error" in doc and "sent" not in doc:
        raise ReportError(f"a run that could not start ({doc['error']})")
    _check_part(doc, "")
    flows = doc["flows"]
    if not isinstance(flows, list):
        raise ReportError("not an eir-sim JSON report (flows is not a list)")
    for index, flow in enumerate(flows):
        where = f"flows[{index}]."
        if not isinstance(flow, dict) or not isinstance(flow.get("name"), str):
            raise ReportError(f"not an eir-sim JSON report ({where}name is not a string)")
        _check_part(flow, where)
    return doc


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_part(part: Mapping[str, Any], where: str) -> None:
    """The numbers of a total or a flow: each there and a finite number."""
    missing = [k for k in REPORT_KEYS if k not in part and (where == "" or k != "flows")]
    if missing:
        raise ReportError(f"not an eir-sim JSON report (no {where}{missing[0]!r})")
    numbers = [(k, part[k]) for k in ("sent", "rate", "error_rate", "mismatches")]
    latency = part["latency_ms"]
    if not isinstance(latency, dict):
        raise ReportError(f"not an eir-sim JSON report ({where}latency_ms is not an object)")
    numbers += [(f"latency_ms.{k}", latency.get(k)) for k in LATENCY_KEYS]
    for kind in ("result_code", "equipment_status"):
        counts = part.get(kind, {})
        if not isinstance(counts, dict):
            raise ReportError(f"not an eir-sim JSON report ({where}{kind} is not an object)")
        numbers += [(f"{kind}.{name}", n) for name, n in counts.items()]
    for key, value in numbers:
        if not _is_number(value):
            raise ReportError(f"not an eir-sim JSON report ({where}{key} is not a number)")


def _latency(key: str) -> Callable[[Mapping[str, Any]], float]:
    def value(part: Mapping[str, Any]) -> float:
        return float(part.get("latency_ms", {}).get(key, 0.0))

    return value


def _field(key: str) -> Callable[[Mapping[str, Any]], float]:
    def value(part: Mapping[str, Any]) -> float:
        return float(part.get(key, 0.0))

    return value


@dataclass(frozen=True)
class Metric:
    """One compared number: its key, its label, which way is better, whether it is judged."""

    key: str
    label: str
    higher_is_better: bool
    judged: bool
    value: Callable[[Mapping[str, Any]], float]

    def worse_by(self, a: float, b: float) -> float:
        """How much worse B is than A, relative to A (negative: better; inf: A was 0)."""
        change = (a - b) if self.higher_is_better else (b - a)
        if a == 0:
            return math.inf if change > 0 else 0.0
        return change / abs(a)

    def regressed(self, a_part: Mapping[str, Any], b_part: Mapping[str, Any], tol: float) -> bool:
        a, b = self.value(a_part), self.value(b_part)
        if self.key == "mismatches":
            return b > 0 and _worse_share(a_part, b_part, "mismatches") > tol
        if self.key == "error_rate" and b - a < ERROR_RATE_FLOOR:
            return False
        return self.worse_by(a, b) > tol


def _worse_share(a_part: Mapping[str, Any], b_part: Mapping[str, Any], key: str) -> float:
    def share(part: Mapping[str, Any]) -> float:
        sent = float(part.get("sent", 0))
        return float(part.get(key, 0)) / sent if sent else 0.0

    a, b = share(a_part), share(b_part)
    if a == 0:
        return math.inf if b > 0 else 0.0
    return (b - a) / a


METRICS = (
    Metric("rate", "rate", True, True, _field("rate")),
    Metric("p50", "p50", False, False, _latency("p50")),
    Metric("p90", "p90", False, False, _latency("p90")),
    Metric("p99", "p99", False, True, _latency("p99")),
    Metric("p999", "p99.9", False, False, _latency("p999")),
    Metric("max", "max", False, False, _latency("max")),
    Metric("error_rate", "error rate", False, True, _field("error_rate")),
    Metric("mismatches", "mismatches", False, True, _field("mismatches")),
)
#: the metrics the --baseline gate of a run judges (on the totals)
BASELINE_METRICS = ("rate", "p99", "error_rate")


def show(m: Metric, value: float) -> str:
    """A metric's value as the table and messages write it."""
    if m.key == "error_rate":
        return f"{value:.4%}"
    if m.key == "mismatches":
        return f"{value:,.0f}"
    if m.key == "rate":
        return f"{value:,.1f}/s"
    return f"{value:.3f} ms"


@dataclass(frozen=True)
class Row:
    """One metric of one scope (``total`` or a flow's name) in A and in B."""

    scope: str
    metric: Metric
    a: float
    b: float
    regressed: bool

    @property
    def change(self) -> float | None:
        """(B - A) / A; None when A is 0."""
        return (self.b - self.a) / abs(self.a) if self.a else None

    def message(self, tolerance: float) -> str:
        m = self.metric
        change = "" if self.change is None else f" ({self.change:+.1%})"
        if not m.judged:
            verdict = "not judged"
        elif self.regressed:
            verdict = f"worse by more than {percent(tolerance)}"
        else:
            verdict = f"within {percent(tolerance)}"
        return (
            f"{self.scope} {m.label} {show(m, self.b)} against {show(m, self.a)}{change}: {verdict}"
        )

    def as_dict(self, tolerance: float) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "metric": self.metric.key,
            "a": self.a,
            "b": self.b,
            "change": self.change,
            "judged": self.metric.judged,
            "regressed": self.regressed,
            "message": self.message(tolerance),
        }


@dataclass(frozen=True)
class CountRow:
    """How often one result code or equipment status came, in A and in B."""

    scope: str
    kind: str  # result_code or equipment_status
    name: str
    a: int
    b: int

    def as_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "kind": self.kind, "name": self.name, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class SettingDiff:
    """One setting that differs between A and B: ``duration_s``, ``flows.s13.rate``."""

    key: str
    a: Any
    b: Any

    def message(self) -> str:
        return f"{self.key} {setting_text(self.a)} in A, {setting_text(self.b)} in B"

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "a": self.a, "b": self.b}


def setting_text(value: Any) -> str:
    """A setting's value in a message: ``none``, ``400``, ``0.45``, ``black 0.1, grey 0.05``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {setting_text(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(setting_text(v) for v in value) or "none"
    return str(value)


def _flat(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as ``key: value``, flows by name (``flows.s13.rate``); the rest one level
    deep (``gates.max_p99_ms``)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "flows" and isinstance(value, list):
            for flow in value:
                if isinstance(flow, dict) and "name" in flow:
                    out.update(
                        (f"flows.{flow['name']}.{k}", v) for k, v in flow.items() if k != "name"
                    )
        elif key == "gates" and isinstance(value, dict):
            out.update((f"{key}.{k}", v) for k, v in value.items())
        else:
            out[key] = value
    return out


def mapping(value: object) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (a report's optional parts)."""
    return value if isinstance(value, dict) else {}


def settings_diff(a_doc: Mapping[str, Any], b_doc: Mapping[str, Any]) -> list[SettingDiff]:
    """Every setting whose value differs between A and B (missing on one side: None); the
    settings of a flow of one run only are left out (that flow is a reason of its own)."""
    a = _flat(mapping(a_doc.get("settings")))
    b = _flat(mapping(b_doc.get("settings")))
    a_flows, b_flows = set(_flow_names(a_doc)), set(_flow_names(b_doc))
    lone = tuple(f"flows.{n}." for n in a_flows ^ b_flows)
    keys = list(a) + [k for k in b if k not in a]
    return [
        SettingDiff(k, a.get(k), b.get(k))
        for k in keys
        if a.get(k) != b.get(k) and not k.startswith(lone)
    ]


def _flow_names(doc: Mapping[str, Any]) -> list[str]:
    return [str(f["name"]) for f in doc.get("flows", []) if isinstance(f, dict) and "name" in f]


def not_comparable(
    a_doc: Mapping[str, Any], b_doc: Mapping[str, Any], diffs: list[SettingDiff]
) -> list[str]:
    """Why A and B are not comparable (empty when they are): a flow in one run only, or a
    differing protocol or pacing."""
    a_flows, b_flows = _flow_names(a_doc), _flow_names(b_doc)
    reasons = [f"flow {n} only in A" for n in a_flows if n not in b_flows]
    reasons += [f"flow {n} only in B" for n in b_flows if n not in a_flows]
    both = [n for n in a_flows if n in b_flows]
    pacing = set(RUN_PACING_KEYS) | {f"flows.{n}.{k}" for n in both for k in PACING_KEYS}
    reasons += [d.message() for d in diffs if d.key in pacing]
    return reasons


def facts(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a run says about itself: title, start, duration, versions."""
    return {k: doc.get(k) for k in FACT_KEYS}


@dataclass(frozen=True)
class Comparison:
    tolerance: float
    rows: tuple[Row, ...]
    counts: tuple[CountRow, ...]
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]
    settings: tuple[SettingDiff, ...] = ()
    reasons: tuple[str, ...] = ()
    a_facts: Mapping[str, Any] | None = None
    b_facts: Mapping[str, Any] | None = None

    @property
    def comparable(self) -> bool:
        """Same flows, protocols and pacing: the numbers can be judged against each other."""
        return not self.reasons

    def comparability(self) -> str:
        """``not comparable: flow map only in A; ...`` (empty when comparable)."""
        return f"not comparable: {'; '.join(self.reasons)}" if self.reasons else ""

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.regressed]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def verdict(self) -> str:
        judged = sum(r.metric.judged for r in self.rows)
        worse = self.regressions
        if not worse:
            return f"within tolerance: {judged} judged metrics within {percent(self.tolerance)}"
        return (
            f"regressed: {len(worse)} of {judged} judged metrics worse by more than "
            f"{percent(self.tolerance)} ({', '.join(f'{r.scope} {r.metric.label}' for r in worse)})"
        )

    def row(self, scope: str, key: str) -> Row:
        return next(r for r in self.rows if r.scope == scope and r.metric.key == key)


def _parts(doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    parts: dict[str, Mapping[str, Any]] = {"total": doc}
    for flow in doc.get("flows", []):
        if isinstance(flow, dict) and "name" in flow:
            parts.setdefault(str(flow["name"]), flow)
    return parts


def _counts(scope: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[CountRow]:
    out = []
    for kind in ("result_code", "equipment_status"):
        a_counts, b_counts = a.get(kind) or {}, b.get(kind) or {}
        for name in sorted(set(a_counts) | set(b_counts)):
            out.append(
                CountRow(scope, kind, name, int(a_counts.get(name, 0)), int(b_counts.get(name, 0)))
            )
    return out


def compare(
    a_doc: Mapping[str, Any],
    b_doc: Mapping[str, Any],
    tolerance: float = DEFAULT_TOLERANCE,
    keys: tuple[str, ...] | None = None,
    scopes: tuple[str, ...] | None = None,
) -> Comparison:
    """A and B compared: the totals and each flow of both, by name. `keys` and `scopes`
    narrow the comparison (the baseline gate takes the totals' rate, p99 and error rate)."""
    a_parts, b_parts = _parts(a_doc), _parts(b_doc)
    common = [s for s in a_parts if s in b_parts and (scopes is None or s in scopes)]
    chosen = [m for m in METRICS if keys is None or m.key in keys]
    rows = [
        Row(
            scope,
            m,
            m.value(a_parts[scope]),
            m.value(b_parts[scope]),
            m.judged and m.regressed(a_parts[scope], b_parts[scope], tolerance),
        )
        for scope in common
        for m in chosen
    ]
    counts = [c for scope in common for c in _counts(scope, a_parts[scope], b_parts[scope])]
    diffs = settings_diff(a_doc, b_doc)
    return Comparison(
        tolerance,
        tuple(rows),
        tuple(counts),
        tuple(s for s in a_parts if s not in b_parts),
        tuple(s for s in b_parts if s not in a_parts),
        tuple(diffs),
        tuple(not_comparable(a_doc, b_doc, diffs)),
        facts(a_doc),
        facts(b_doc),
    )


def document(comparison: Comparison, a_path: str, b_path: str) -> dict[str, Any]:
    """The comparison as ``eir-sim compare --json`` writes it."""
    return {
        "tool": "eir-sim",
        "comparison": {"a": a_path, "b": b_path},
        "runs": {"a": dict(comparison.a_facts or {}), "b": dict(comparison.b_facts or {})},
        "tolerance": comparison.tolerance,
        "comparable": comparison.comparable,
        "not_comparable": list(comparison.reasons),
        "settings_differ": [d.as_dict() for d in comparison.settings],
        "regressed": comparison.regressed,
        "verdict": comparison.verdict(),
        "rows": [r.as_dict(comparison.tolerance) for r in comparison.rows],
        "counts": [c.as_dict() for c in comparison.counts],
        "only_in_a": list(comparison.only_in_a),
        "only_in_b": list(comparison.only_in_b),
    }


def _run_line(side: str, run: Mapping[str, Any] | None) -> str:
    """``A: smoke, started 2026-11-30T01:00:00Z, 10.0 s, eir-sim 0.1.0``."""
    run = run or {}
    elapsed = run.get("elapsed_s")
    parts = [
        str(run.get("title") or "(no title)"),
        f"started {run.get('started') or '?'}",
        f"{elapsed:,.1f} s" if _is_number(elapsed) else "? s",
        f"eir-sim {mapping(run.get('versions')).get('eir-sim', '?')}",
    ]
    return f"{side}: {', '.join(parts)}"


def table(comparison: Comparison) -> str:
    """The comparison for a terminal."""
    lines = [
        _run_line(side, f) for side, f in (("A", comparison.a_facts), ("B", comparison.b_facts))
    ]
    rows = [("", "metric", "A", "B", "change", "verdict")]
    for r in comparison.rows:
        verdict = "REGRESSED" if r.regressed else ("ok" if r.metric.judged else "")
        change = "" if r.change is None else f"{r.change:+.1%}"
        rows.append(
            (r.scope, r.metric.label, show(r.metric, r.a), show(r.metric, r.b), change, verdict)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines += [
        "  ".join(
            c.ljust(w) if i in (0, 1, 5) else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    for c in comparison.counts:
        if c.a != c.b:
            lines.append(f"{c.scope} {c.kind.replace('_', ' ')} {c.name}: {c.a:,} -> {c.b:,}")
    lines.extend(f"flow {name}: only in A" for name in comparison.only_in_a)
    lines.extend(f"flow {name}: only in B" for name in comparison.only_in_b)
    lines.extend(f"setting {d.message()}" for d in comparison.settings)
    lines.append(comparison.verdict())
    if not comparison.comparable:
        lines.append(comparison.comparability())
    return "\n".join(lines)
