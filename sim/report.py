"""The report of a run: the final table, the JSON document, the HTML page, and the CI gates.

Definitions:
* ``rate``: answers per second, from the start to the last answer;
* ``error_rate``: (errors + timeouts) / sent. Errors are requests lost with their connection
  and answers that cannot be decoded; a request unanswered after the timeout is a timeout;
* a mismatch is an answer other than the expected one; any mismatch fails the run.
"""

from __future__ import annotations

import html
import json
import time
from typing import Any

from sim import gates
from sim.runner import RunOutcome
from sim.settings import RunSettings
from sim.stats import Counts


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
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(outcome.started)),
        "elapsed_s": elapsed,
        **_counts(agg.total, elapsed),
    }
    doc["examples"] = agg.total.examples
    doc["flows"] = [
        {
            "name": b.flow.name,
            "protocol": b.flow.protocol,
            "target": str(b.flow.target),
            "mix": b.mix,
            **_counts(agg.flows.get(b.flow.name, Counts()), elapsed),
        }
        for b in outcome.built
    ]
    doc["timeline"] = [
        {
            "second": second,
            "sent": c.sent,
            "answered": c.answered,
            "timeouts": c.timeouts,
            "errors": c.errors,
            "mismatches": c.mismatches,
            "p50_ms": c.latency.quantile_ms(0.5),
            "p99_ms": c.latency.quantile_ms(0.99),
            "max_ms": c.latency.max_s * 1000.0,
        }
        for second, c in sorted(agg.timeline.items())
    ]
    doc["client"] = {
        "processes": outcome.processes,
        "cpu_s": agg.cpu_s,
        "cpu_us_per_request": agg.cpu_s / agg.total.sent * 1e6 if agg.total.sent else 0.0,
    }
    doc["settings"] = settings.describe()
    doc["gates"] = gates.judge(settings.gates, doc)
    return doc


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


def write_json(doc: dict[str, Any], path: str) -> None:
    with open(path, "w") as handle:
        json.dump(doc, handle, indent=2)
        handle.write("\n")


# --- HTML: one self-contained page, charts as inline SVG -----------------------------------------


def _chart(
    title: str, unit: str, series: list[tuple[str, str, list[float]]], seconds: list[int]
) -> str:
    width, height, left, bottom = 720, 240, 60, 30
    top = 20
    peak = max([max(values) for _, _, values in series if values] + [1e-9])
    span = max(len(seconds) - 1, 1)

    def x(i: int) -> float:
        return left + (width - left - 10) * i / span

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - v / peak)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<rect x="{left}" y="{top}" width="{width - left - 10}" '
        f'height="{height - top - bottom}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        value = peak * frac
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" font-size="11" '
            f'text-anchor="end">{value:,.3g}</text>'
        )
    for i, second in enumerate(seconds):
        if len(seconds) <= 12 or i % max(1, len(seconds) // 10) == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 10}" font-size="11" '
                f'text-anchor="middle">{second}s</text>'
            )
    legend_x = left + 10
    for name, color, values in series:
        if values:
            points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>'
            )
        parts.append(
            f'<text x="{legend_x}" y="{top + 14}" font-size="12" fill="{color}">'
            f"{html.escape(name)}</text>"
        )
        legend_x += 12 + 8 * len(name)
    parts.append(
        f'<text x="{left}" y="14" font-size="13" font-weight="bold">'
        f"{html.escape(title)} ({html.escape(unit)})</text></svg>"
    )
    return "".join(parts)


def page(doc: dict[str, Any]) -> str:
    timeline = doc["timeline"]
    seconds = [t["second"] for t in timeline]
    throughput = _chart(
        "Throughput",
        "requests/s",
        [
            ("sent", "#1f77b4", [float(t["sent"]) for t in timeline]),
            ("answered", "#2ca02c", [float(t["answered"]) for t in timeline]),
            ("timeouts+errors", "#d62728", [float(t["timeouts"] + t["errors"]) for t in timeline]),
        ],
        seconds,
    )
    latency = _chart(
        "Latency",
        "ms",
        [
            ("p50", "#2ca02c", [t["p50_ms"] for t in timeline]),
            ("p99", "#ff7f0e", [t["p99_ms"] for t in timeline]),
            ("max", "#d62728", [t["max_ms"] for t in timeline]),
        ],
        seconds,
    )
    gates = doc["gates"]
    verdict = "passed" if gates["passed"] else "FAILED: " + "; ".join(gates["failures"])
    body = html.escape(table(doc))
    settings = html.escape(json.dumps(doc["settings"], indent=2))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>eir-sim report {doc["started"]}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:80em}}
pre{{background:#f4f4f4;padding:1em;overflow-x:auto}}
.ok{{color:#2ca02c}}.bad{{color:#d62728}}</style></head>
<body><h1>eir-sim report</h1>
<p>Started {doc["started"]}, {doc["elapsed_s"]:.1f} s;
{doc["sent"]:,} sent, {doc["answered"]:,} answered, {doc["rate"]:,.0f}/s,
p99 {doc["latency_ms"]["p99"]:.2f} ms.</p>
<p class="{"ok" if gates["passed"] else "bad"}">Gates: {html.escape(verdict)}</p>
{throughput}
{latency}
<h2>Final table</h2><pre>{body}</pre>
<h2>Settings</h2><pre>{settings}</pre>
</body></html>
"""


def write_html(doc: dict[str, Any], path: str) -> None:
    with open(path, "w") as handle:
        handle.write(page(doc))
