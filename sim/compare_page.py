"""The HTML page of ``eir-sim compare``: one self-contained page (no script, no fetch) with the
verdict, the table of metrics of A and B, and the result codes and equipment statuses."""

from __future__ import annotations

import html

from sim.compare import Comparison, percent, show
from sim.report_page import STYLE
from sim.result_names import result_label, status_label


def _metrics(comparison: Comparison) -> str:
    rows = []
    for r in comparison.rows:
        if r.regressed:
            verdict = '<td class="bad">regressed</td>'
        elif r.metric.judged:
            verdict = '<td class="ok">ok</td>'
        else:
            verdict = '<td class="muted">not judged</td>'
        change = "" if r.change is None else f"{r.change:+.1%}"
        rows.append(
            f"<tr><td>{html.escape(r.scope)}</td><td>{html.escape(r.metric.label)}</td>"
            f'<td class="n">{html.escape(show(r.metric, r.a))}</td>'
            f'<td class="n">{html.escape(show(r.metric, r.b))}</td>'
            f'<td class="n">{change}</td>{verdict}</tr>'
        )
    return (
        "<table><thead><tr><th>scope</th><th>metric</th><th>A</th><th>B</th><th>change</th>"
        "<th>verdict</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _named(kind: str, name: str) -> str:
    """``5004 DIAMETER_INVALID_AVP_VALUE``, ``0 WHITELISTED``: as the run's report names them."""
    return result_label(name) if kind == "result_code" else status_label(name)


def _counts(comparison: Comparison) -> str:
    if not comparison.counts:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(c.scope)}</td><td>{html.escape(c.kind.replace('_', ' '))}</td>"
        f'<td>{html.escape(_named(c.kind, c.name))}</td><td class="n">{c.a:,}</td>'
        f'<td class="n">{c.b:,}</td>'
        f'<td class="n">{c.b - c.a:+,}</td></tr>'
        for c in comparison.counts
    )
    return (
        "<h2>Result codes and equipment statuses</h2><table><thead><tr><th>scope</th>"
        "<th>kind</th><th>name</th><th>A</th><th>B</th><th>difference</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def page(comparison: Comparison, a_path: str, b_path: str) -> str:
    a, b = html.escape(a_path), html.escape(b_path)
    verdict_class = "bad" if comparison.regressed else "ok"
    unmatched = "".join(
        f"<li>flow {html.escape(name)}: only in {side}</li>"
        for side, names in (("A", comparison.only_in_a), ("B", comparison.only_in_b))
        for name in names
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>eir-sim compare: {a} and {b}</title>
<style>{STYLE}.muted{{color:#777}}</style></head>
<body><h1>eir-sim compare</h1>
<p>A (reference): <code>{a}</code><br>B (judged): <code>{b}</code><br>
Tolerance: {percent(comparison.tolerance)}</p>
<p class="{verdict_class}">{html.escape(comparison.verdict())}</p>
{_metrics(comparison)}
{f"<ul>{unmatched}</ul>" if unmatched else ""}
{_counts(comparison)}
</body></html>
"""
