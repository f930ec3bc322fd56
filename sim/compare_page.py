"""The HTML page of ``eir-sim compare``: one self-contained page (no script, no fetch) with the
verdict, the table of metrics of A and B, and the result codes and equipment statuses."""

from __future__ import annotations

import html

from sim.compare import Comparison, percent, show

_STYLE = """body{font-family:sans-serif;margin:2em;max-width:80em}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .6em}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#2ca02c}.bad{color:#d62728;font-weight:bold}.muted{color:#777}"""


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


def _counts(comparison: Comparison) -> str:
    if not comparison.counts:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(c.scope)}</td><td>{html.escape(c.kind.replace('_', ' '))}</td>"
        f'<td>{html.escape(c.name)}</td><td class="n">{c.a:,}</td><td class="n">{c.b:,}</td>'
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
<style>{_STYLE}</style></head>
<body><h1>eir-sim compare</h1>
<p>A (reference): <code>{a}</code><br>B (judged): <code>{b}</code><br>
Tolerance: {percent(comparison.tolerance)}</p>
<p class="{verdict_class}">{html.escape(comparison.verdict())}</p>
{_metrics(comparison)}
{f"<ul>{unmatched}</ul>" if unmatched else ""}
{_counts(comparison)}
</body></html>
"""
