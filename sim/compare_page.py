"""The HTML page of ``eir-sim compare``: one self-contained page (no script, no fetch) with the
verdict (and whether the runs are comparable), both runs' facts and versions, the settings that
differ, the table of metrics of A and B, and the result codes and equipment statuses."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from sim.compare import Comparison, mapping, percent, setting_text, show
from sim.report_page import STYLE, version_rows
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


def _fact_rows(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    elapsed = run.get("elapsed_s")
    return [
        ("title", str(run.get("title") or "")),
        ("started", f"{run['started']} (UTC)" if run.get("started") else ""),
        ("duration", f"{elapsed:,.1f} s" if isinstance(elapsed, int | float) else ""),
        *version_rows(mapping(run.get("versions"))),
    ]


def _runs(comparison: Comparison, a_path: str, b_path: str) -> str:
    """Both runs side by side: file, title, start, duration, versions."""
    a_rows = dict(_fact_rows(comparison.a_facts or {}))
    b_rows = dict(_fact_rows(comparison.b_facts or {}))
    keys = list(a_rows) + [k for k in b_rows if k not in a_rows]
    rows = [("file", a_path, b_path)] + [(k, a_rows.get(k, ""), b_rows.get(k, "")) for k in keys]
    body = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>"
        for k, a, b in rows
    )
    return (
        '<h2>The runs</h2><table class="runs"><thead><tr><th></th><th>A (reference)</th>'
        f"<th>B (judged)</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _settings(comparison: Comparison) -> str:
    """The settings that differ (flows matched by name)."""
    if not comparison.settings:
        return "<h2>Settings that differ</h2><p>None.</p>"
    body = "".join(
        f"<tr><td>{html.escape(d.key)}</td><td>{html.escape(setting_text(d.a))}</td>"
        f"<td>{html.escape(setting_text(d.b))}</td></tr>"
        for d in comparison.settings
    )
    return (
        '<h2>Settings that differ</h2><table class="settings-differ"><thead><tr><th>setting</th>'
        f"<th>A</th><th>B</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _verdicts(comparison: Comparison) -> str:
    # within tolerance means little for runs that are not comparable: not drawn as a pass
    verdict_class = "bad" if comparison.regressed else ("ok" if comparison.comparable else "muted")
    out = f'<p class="{verdict_class}">{html.escape(comparison.verdict())}</p>'
    if not comparison.comparable:
        out = f'<p class="bad">{html.escape(comparison.comparability())}</p>' + out
    return out


def page(comparison: Comparison, a_path: str, b_path: str) -> str:
    a, b = html.escape(a_path), html.escape(b_path)
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
{_verdicts(comparison)}
{_runs(comparison, a_path, b_path)}
{_settings(comparison)}
<h2>Metrics</h2>
{_metrics(comparison)}
{f"<ul>{unmatched}</ul>" if unmatched else ""}
{_counts(comparison)}
</body></html>
"""
