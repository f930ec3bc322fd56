"""The HTML report of a run, drawn from its JSON document (`sim.report.document`): one
self-contained page (inline SVG charts, inline CSS, no script, nothing fetched) a lab attaches
to a test report. Every text that came from input is escaped here."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import Any

from sim import report_charts as charts
from sim.gates import shown, threshold_text
from sim.result_names import result_label, status_label

STYLE = """
body{font-family:sans-serif;margin:1.5em auto;max-width:1240px;padding:0 1em;color:#222}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.description{font-size:1.05em;color:#444;margin-top:0}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #d4d4d4;padding:.25em .6em;vertical-align:top}
th{background:#f2f2f2;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.total td{font-weight:bold;background:#fafafa}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(600px,1fr));gap:.8em}
.ok{color:#1e7b1e;font-weight:bold}.bad{color:#c62828;font-weight:bold}
code{font-size:.9em;word-break:break-all}.wide{overflow-x:auto}
"""
#: the columns of the results table: heading, key, format
COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("sent", "sent", lambda v: f"{v:,}"),
    ("answered", "answered", lambda v: f"{v:,}"),
    ("timeouts", "timeouts", lambda v: f"{v:,}"),
    ("errors", "errors", lambda v: f"{v:,}"),
    ("mismatches", "mismatches", lambda v: f"{v:,}"),
    ("rate/s", "rate", lambda v: f"{v:,.0f}"),
)
LATENCY_COLUMNS = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99.9", "p999"))


def page(doc: dict[str, Any]) -> str:
    title = escape(doc.get("title") or "eir-sim report")
    return "\n".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f"<title>{title} \u2014 eir-sim report {escape(doc['started'])}</title>",
            f"<style>{STYLE}</style></head><body>",
            f"<h1>{title}</h1>",
            _description(doc),
            _facts(doc),
            "<h2>Final table</h2>",
            results_table(doc),
            _gates(doc),
            *_sections(doc),
            _codes(doc, "result_code", "Result codes", result_label),
            _codes(doc, "equipment_status", "Equipment statuses", status_label),
            _problems(doc),
            "<h2>Settings</h2>",
            value_html(doc.get("settings", {})),
            "</body></html>\n",
        ]
    )


def _description(doc: dict[str, Any]) -> str:
    text = doc.get("description") or ""
    return f'<p class="description">{escape(text)}</p>' if text else ""


def _facts(doc: dict[str, Any]) -> str:
    """When, how long, the verdict, and the versions."""
    rows = [
        ("started", f"{doc['started']} (UTC)"),
        ("duration", f"{doc['elapsed_s']:,.1f} s"),
        *version_rows(doc.get("versions") or {}),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def version_rows(versions: dict[str, Any]) -> list[tuple[str, str]]:
    """eir-sim's version and the target's as it told them: ``(what, text)`` rows."""
    rows = [("eir-sim", str(versions.get("eir-sim", "")))]
    target = versions.get("target")
    target = target if isinstance(target, dict) else {}
    flows = target.get("flows")
    for flow, said in sorted((flows if isinstance(flows, dict) else {}).items()):
        rows.append((f"target of {flow}", _cea_text(said if isinstance(said, dict) else {})))
    metrics = target.get("metrics")
    if isinstance(metrics, dict):
        rows.append(("target metrics", _metrics_text(metrics)))
    return rows


def _cea_text(said: dict[str, Any]) -> str:
    parts = [str(said.get("product_name", "(no Product-Name)"))]
    if "firmware_revision" in said:
        parts.append(f"Firmware-Revision {said['firmware_revision']}")
    if "origin_host" in said:
        parts.append(f"Origin-Host {said['origin_host']}")
    return ", ".join(parts) + " (its CEA)"


def _metrics_text(metrics: dict[str, Any]) -> str:
    if "error" in metrics:
        return f"{metrics.get('url', '?')}: {metrics['error']}"
    labels = ", ".join(f"{k} {v}" for k, v in metrics.items() if k not in ("url", "version"))
    return f"version {metrics.get('version', '?')} ({labels}) from {metrics.get('url', '?')}"


def _parts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The table's rows: each flow, then the total when there are several."""
    flows: list[dict[str, Any]] = doc.get("flows", [])
    if len(flows) == 1:
        return flows
    return [*flows, {**doc, "name": "total"}]


def results_table(doc: dict[str, Any]) -> str:
    """Per flow and total: counts, rate and latency percentiles."""
    heads = [h for h, _, _ in COLUMNS] + [f"{h} ms" for h, _ in LATENCY_COLUMNS] + ["max ms"]
    head = "<tr><th>flow</th>" + "".join(f"<th>{escape(h)}</th>" for h in heads) + "</tr>"
    rows = []
    for part in _parts(doc):
        cells = [fmt(part[key]) for _, key, fmt in COLUMNS]
        lat = part["latency_ms"]
        cells += [f"{lat[key]:,.2f}" for _, key in LATENCY_COLUMNS] + [f"{lat['max']:,.2f}"]
        css = ' class="total"' if part.get("name") == "total" else ""
        rows.append(
            f"<tr{css}><td>{escape(str(part['name']))}</td>"
            + "".join(f'<td class="n">{c}</td>' for c in cells)
            + "</tr>"
        )
    client = doc.get("client", {})
    note = (
        f"<p>Client: {client.get('processes', 1)} process(es), "
        f"{client.get('cpu_us_per_request', 0.0):,.1f} \u00b5s of CPU per request.</p>"
    )
    return f'<table class="results">{head}{"".join(rows)}</table>{note}'


def _gates(doc: dict[str, Any]) -> str:
    gates = doc.get("gates", {})
    verdict = (
        '<p class="ok">Gates: passed.</p>'
        if gates.get("passed")
        else '<p class="bad">Gates: FAILED.</p>'
    )
    results = gates.get("results")
    if results:
        head = "<tr><th>gate</th><th>threshold</th><th>value</th><th>verdict</th></tr>"
        rows = "".join(
            f"<tr><td>{escape(str(r.get('name', '')))}</td>"
            f'<td class="n">{escape(threshold_text(str(r.get("name")), r.get("threshold")))}</td>'
            f'<td class="n">{escape(shown(str(r.get("name")), r.get("value")))}</td>'
            f'<td class="{"ok" if r.get("passed") else "bad"}">'
            f"{escape(str(r.get('message', '')) or ('passed' if r.get('passed') else 'failed'))}"
            "</td></tr>"
            for r in results
        )
        return f'{verdict}<table class="gates">{head}{rows}</table>'
    items = "".join(f"<li>{escape(str(f))}</li>" for f in gates.get("failures", []))
    return verdict + (f'<ul class="bad">{items}</ul>' if items else "")


def _sections(doc: dict[str, Any]) -> list[str]:
    """Charts: the whole run (with the gates drawn), then each flow when there are several."""
    gates = doc.get("settings", {}).get("gates", {})
    flows = doc.get("flows", [])
    out = [
        "<h2>Over time: all flows</h2>" if len(flows) > 1 else "<h2>Over time</h2>",
        _charts("all flows" if len(flows) > 1 else _flow_name(doc), doc["timeline"], gates),
    ]
    if len(flows) > 1:
        for flow in flows:
            heading = f"Over time: {flow['name']} ({flow['protocol']} against {flow['target']})"
            out += [f"<h2>{escape(heading)}</h2>", _charts(flow["name"], flow["timeline"], {})]
    return out


def _flow_name(doc: dict[str, Any]) -> str:
    flows = doc.get("flows", [])
    return str(flows[0]["name"]) if flows else "run"


def _charts(title: str, rows: Sequence[dict[str, Any]], gates: dict[str, Any]) -> str:
    items = [
        charts.throughput(title, rows, gates.get("min_rate")),
        charts.latency(title, rows, gates.get("max_p99_ms")),
        charts.errors(title, rows),
        charts.results(title, rows),
        charts.statuses(title, rows),
    ]
    return '<div class="charts">' + "".join(f"<div>{c}</div>" for c in items) + "</div>"


def _codes(doc: dict[str, Any], key: str, heading: str, name_of: Callable[[str], str]) -> str:
    """Totals per result code (or status), per flow and in total."""
    parts = _parts(doc)
    codes = sorted(
        {code for part in parts for code in part.get(key, {})},
        key=lambda code: _code_order(name_of(code)),
    )
    if not codes:
        return ""
    head = "<tr><th>answer</th>" + "".join(f"<th>{escape(str(p['name']))}</th>" for p in parts)
    rows = "".join(
        f"<tr><td>{escape(name_of(code))}</td>"
        + "".join(f'<td class="n">{p.get(key, {}).get(code, 0):,}</td>' for p in parts)
        + "</tr>"
        for code in codes
    )
    return f'<h2>{escape(heading)}</h2><table class="codes">{head}</tr>{rows}</table>'


def _code_order(label: str) -> tuple[int, str]:
    """Numbered answers (``0 WHITELISTED``, ``2001 ...``) by number, then the rest by name."""
    first = label.split(" ", 1)[0]
    return (int(first), label) if first.isdigit() else (1 << 30, label)


def _problems(doc: dict[str, Any]) -> str:
    """Mismatches and errors by kind, and examples with the answer's bytes."""
    kinds = [("mismatch", k, n) for k, n in doc.get("mismatch_kinds", {}).items()]
    kinds += [("error", k, n) for k, n in doc.get("error_kinds", {}).items()]
    examples = doc.get("examples", [])
    if not kinds and not examples:
        return "<h2>Mismatches and errors</h2><p>None.</p>"
    rows = "".join(
        f'<tr><td>{what}</td><td>{escape(str(kind))}</td><td class="n">{n:,}</td></tr>'
        for what, kind, n in kinds
    )
    out = [
        "<h2>Mismatches and errors</h2>",
        f"<table><tr><th>what</th><th>kind</th><th>count</th></tr>{rows}</table>",
    ]
    if examples:
        head = "<tr><th>what</th><th>flow</th><th>request</th><th>expected</th><th>detail</th></tr>"
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{escape(str(e.get(k, '')))}</td>"
                for k in ("what", "flow", "request", "expected", "detail")
            )
            + "</tr>"
            for e in examples[:10]
        )
        out.append(f"<h3>Examples</h3><table>{head}{body}</table>")
    return "".join(out)


def value_html(value: Any) -> str:
    """A settings value as HTML: tables of names and values, rows of records, numbers rounded
    as they were written."""
    if isinstance(value, dict):
        if not value:
            return "\u2014"
        rows = "".join(
            f"<tr><th>{escape(str(k))}</th><td>{value_html(v)}</td></tr>" for k, v in value.items()
        )
        return f'<table class="settings">{rows}</table>'
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return _records(value)
        return escape(", ".join(_scalar(v) for v in value)) or "\u2014"
    return escape(_scalar(value))


def _records(records: Iterable[dict[str, Any]]) -> str:
    rows = list(records)
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    head = "".join(f"<th>{escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{_inline(r.get(k))}</td>" for k in keys) + "</tr>" for r in rows
    )
    return f'<div class="wide"><table class="settings"><tr>{head}</tr>{body}</table></div>'


def _inline(value: Any) -> str:
    """A value in a table cell: a table of names and values written on one line."""
    if isinstance(value, dict):
        text = ", ".join(f"{k} {_scalar(v)}" for k, v in value.items())
        return escape(text) or "\u2014"
    return value_html(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return _number(value)
    return str(value)


def _number(value: Any) -> str:
    """A setting's number as written: ``0.45``, ``20,000``, ``0.00001``; never an exponent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "\u2014" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    rounded = float(f"{value:.12g}")
    if rounded == int(rounded) and abs(rounded) < 1e15:
        return f"{int(rounded):,}"
    return f"{rounded:,.12f}".rstrip("0").rstrip(".")
