"""The report of a run: the final table, the JSON document (the HTML page is drawn from it by
`sim.report_page`); the CI gates are `sim.gates`.

Definitions:
* ``rate``: answers per second, from the start to the last answer;
* ``error_rate``: (errors + timeouts) / sent. Errors are requests lost with their connection
  and answers that cannot be decoded; a request unanswered after the timeout is a timeout;
* a mismatch is an answer other than the expected one; any mismatch fails the run.
"""

from __future__ import annotations

import time
from typing import Any

from sim import gates
from sim.axis import tidy
from sim.result_names import result_label, status_label
from sim.runner import RunOutcome
from sim.settings import RunSettings
from sim.stats import Counts, covered
from sim.versions import SIM_VERSION


def _counts(counts: Counts, elapsed: float) -> dict[str, Any]:
    sent = counts.sent
    return {
        "sent": sent,
        "answered": counts.answered,
        "timeouts": counts.timeouts,
        "errors": counts.errors,
        "mismatches": counts.mismatches,
        "late_answers": counts.late,
        "rate": counts.answered / elapsed if elapsed > 0 else 0.0,
        "error_rate": (counts.errors + counts.timeouts) / sent if sent else 0.0,
        "latency_ms": counts.latency.summary(),
        "equipment_status": dict(sorted(counts.statuses.items())),
        "result_code": dict(sorted(counts.results.items())),
        "mismatch_kinds": dict(counts.mismatch_kinds.most_common()),
        "error_kinds": dict(counts.error_kinds.most_common()),
        "stopped_early": counts.stopped,
    }


def document(settings: RunSettings, outcome: RunOutcome) -> dict[str, Any]:
    agg = outcome.aggregate
    elapsed = outcome.elapsed_s
    doc: dict[str, Any] = {
        "tool": "eir-sim",
        "title": settings.title or default_title(settings),
        "description": settings.description,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(outcome.started)),
        "elapsed_s": elapsed,
        "versions": versions(outcome),
        **_counts(agg.total, elapsed),
    }
    doc["examples"] = agg.total.examples
    doc["flows"] = [
        {
            "name": b.flow.name,
            "protocol": b.flow.protocol,
            "target": str(b.flow.target),
            "mix": tidy(b.mix),
            **_counts(agg.flows.get(b.flow.name, Counts()), elapsed),
            "timeline": timeline(
                agg.flow_timelines.get(b.flow.name, {}), agg.sending_end(b.flow.name)
            ),
        }
        for b in outcome.built
    ]
    doc["timeline"] = timeline(agg.timeline, agg.sending_end())
    doc["names"] = {
        "result_code": {k: result_label(k) for k in sorted(agg.total.results)},
        "equipment_status": {k: status_label(k) for k in sorted(agg.total.statuses)},
    }
    doc["client"] = {
        "processes": outcome.processes,
        "cpu_s": agg.cpu_s,
        "cpu_us_per_request": agg.cpu_s / agg.total.sent * 1e6 if agg.total.sent else 0.0,
    }
    doc["settings"] = tidy(settings.describe())
    doc["gates"] = gates.judge(settings.gates, doc)
    return doc


def default_title(settings: RunSettings) -> str:
    """``eir-sim: s13 against tcp://127.0.0.1:3868, map against ...`` when none is given."""
    aims = ", ".join(f"{f.name} against {f.target}" for f in settings.flows)
    return f"eir-sim: {aims}"


def versions(outcome: RunOutcome) -> dict[str, Any]:
    """eir-sim's version, and the target's as it told it (CEA, metrics page)."""
    target: dict[str, Any] = {"flows": dict(outcome.target_says)}
    if outcome.target_metrics is not None:
        target["metrics"] = outcome.target_metrics
    return {"eir-sim": SIM_VERSION, "target": target}


def timeline(seconds: dict[int, Counts], sent_until: float | None) -> list[dict[str, Any]]:
    """One row per second. ``covered_s``: the part of the second the sending covered (less
    than 1 for the last one, 0 after the end); ``partial``: less than a whole second."""
    rows = []
    for second, c in sorted(seconds.items()):
        part = covered(second, sent_until)
        rows.append(
            {
                "second": second,
                "sent": c.sent,
                "answered": c.answered,
                "timeouts": c.timeouts,
                "errors": c.errors,
                "mismatches": c.mismatches,
                "p50_ms": c.latency.quantile_ms(0.5),
                "p90_ms": c.latency.quantile_ms(0.9),
                "p99_ms": c.latency.quantile_ms(0.99),
                "p999_ms": c.latency.quantile_ms(0.999),
                "max_ms": c.latency.max_s * 1000.0,
                "covered_s": round(part, 3),
                "partial": part < 1.0,
                "result_code": dict(sorted(c.results.items())),
                "equipment_status": dict(sorted(c.statuses.items())),
            }
        )
    return rows


def table(doc: dict[str, Any]) -> str:
    """The final table, for a terminal."""
    rows = [
        (
            "",
            "sent",
            "answered",
            "timeouts",
            "errors",
            "mismatch",
            "rate/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
        )
    ]
    parts = (
        [*doc["flows"], {**doc, "name": "total"}]
        if len(doc["flows"]) > 1
        else [{**doc, "name": doc["flows"][0]["name"] if doc["flows"] else "total"}]
    )
    for part in parts:
        lat = part["latency_ms"]
        rows.append(
            (
                part["name"],
                f"{part['sent']:,}",
                f"{part['answered']:,}",
                f"{part['timeouts']:,}",
                f"{part['errors']:,}",
                f"{part['mismatches']:,}",
                f"{part['rate']:,.0f}",
                f"{lat['p50']:.2f}",
                f"{lat['p90']:.2f}",
                f"{lat['p99']:.2f}",
                f"{lat['p999']:.2f}",
                f"{lat['max']:.2f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    for part in parts:
        if part["result_code"]:
            codes = ", ".join(f"{k}: {v:,}" for k, v in part["result_code"].items())
            lines.append(f"{part['name']} results: {codes}")
        if part["equipment_status"]:
            statuses = ", ".join(f"{k}: {v:,}" for k, v in part["equipment_status"].items())
            lines.append(f"{part['name']} equipment status: {statuses}")
    for kind, n in doc["mismatch_kinds"].items():
        lines.append(f"mismatch: {n:,} x {kind}")
    for kind, n in doc["error_kinds"].items():
        lines.append(f"error: {n:,} x {kind}")
    for example in doc["examples"][:5]:
        lines.append(f"  {example['what']}: {example['request']}: {example['detail']}")
    client = doc["client"]
    lines.append(
        f"client: {client['processes']} process(es), "
        f"{client['cpu_us_per_request']:.1f} us CPU per request"
    )
    return "\n".join(lines)
