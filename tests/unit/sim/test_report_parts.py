"""The report's parts: round ticks and readable labels, partial seconds, charts (legend under
the plot, thresholds drawn), the spec names of answers, and the target's versions."""

from __future__ import annotations

import re

import pytest

from eir.diameter import base, wire
from eir.diameter.node import NodeIdentity
from sim import gates
from sim import report_charts as charts
from sim.axis import decimals_for, label, nice_step, ticks, tidy
from sim.report_page import page, value_html
from sim.result_names import result_label, status_label
from sim.stats import Aggregate, Counts, Tick, covered
from sim.svg_chart import (
    LEFT,
    PLOT_HEIGHT,
    TOP,
    WIDTH,
    Series,
    Threshold,
    legend_layout,
    line_chart,
    y_scale,
)
from sim.versions import from_cea, parse_build_info


def test_ticks_are_round_and_cover_the_data() -> None:
    assert ticks(1050) == [0, 250, 500, 750, 1000, 1250]
    assert ticks(4.2) == [0, 1, 2, 3, 4, 5]
    assert ticks(0.37) == [0, 0.1, 0.2, 0.3, 0.4]
    assert ticks(0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_step(12) == 2.5 and nice_step(100) == 20 and nice_step(7, 8) == 1
    assert decimals_for(2.5) == 1 and decimals_for(0.05) == 2 and decimals_for(250) == 0


def test_labels_are_readable_and_never_exponents() -> None:
    assert label(1050) == "1,050"
    assert label(1050.0, 250) == "1,050"
    assert label(1200, 100) == "1,200"
    assert label(12_500) == "12.5k"
    assert label(20_000, 5000) == "20k"
    assert label(2_500_000, 500_000) == "2.5M"
    assert label(0.45) == "0.45"
    assert label(0.44999999999999996) == "0.45"
    assert label(7.5, 2.5) == "7.5" and label(5.0, 2.5) == "5.0"
    assert label(0) == "0" and label(-0.0001) == "-0.0001"
    assert "e" not in label(1e-9) and "e" not in label(1e17)


def test_tidy_rounds_float_noise_only() -> None:
    noisy = {"mix": {"unknown": 1 - 0.55, "black": 0.2}, "rate": [0.1 + 0.2], "n": 3, "s": "x"}
    assert tidy(noisy) == {"mix": {"unknown": 0.45, "black": 0.2}, "rate": [0.3], "n": 3, "s": "x"}
    assert tidy(1 / 3) == 0.333333333333


def test_settings_read_as_written() -> None:
    text = value_html({"mix": {"unknown": 0.45}, "pool": 20000, "tiny": 1e-05, "off": None})
    assert "0.45<" in text and "20,000" in text and "0.00001" in text and "\u2014" in text
    assert "e-05" not in text
    assert "&lt;b&gt;" in value_html({"name": "<b>"})


def test_the_last_partial_second_is_marked_and_not_drawn_as_a_drop() -> None:
    assert covered(2, 3.3) == 1.0 and covered(3, 3.3) == pytest.approx(0.3)
    assert covered(4, 3.3) == 0.0 and covered(9, None) == 1.0
    rows = [
        {"second": s, "sent": n, "covered_s": c}
        for s, n, c in ((0, 100, 1.0), (1, 100, 1.0), (2, 60, 0.6), (3, 1, 0.0))
    ]
    drawn = charts.drawn_rows(rows)
    assert [r["second"] for r in drawn] == [0, 1, 2]
    assert [charts.per_second(r, r["sent"]) for r in drawn] == [100, 100, 100]
    short = [{"second": 0, "sent": 30, "covered_s": 0.3}]
    assert charts.drawn_rows(short) == short  # a run shorter than half a second


def test_aggregate_keeps_a_timeline_per_flow_and_when_sending_ended() -> None:
    agg = Aggregate()
    for flow, second, until in (("a", 0, None), ("b", 0, None), ("a", 1, 1.25), ("b", 1, 1.5)):
        agg.add(Tick(flow, second, Counts(sent=10), sent_until=until))
    assert agg.timeline[1].sent == 20 and agg.flow_timelines["a"][1].sent == 10
    assert agg.sending_end("a") == 1.25 and agg.sending_end() == 1.5


def test_thresholds_are_dashed_labelled_lines_or_named_above() -> None:
    series = [Series("p99", "#f00", ((0.5, 2.0), (1.5, 3.0)))]
    near = line_chart("latency", "ms", series, 2, [Threshold("--max-p99-ms 5", 5)])
    assert 'class="threshold"' in near and 'stroke-dasharray="6 4"' in near
    assert ">--max-p99-ms 5</text>" in near
    assert y_scale(3.0, [Threshold("t", 5)]) == (6.0, 2.0)  # the threshold on the chart
    far = line_chart("latency", "ms", series, 2, [Threshold("--max-p99-ms 100", 100)])
    assert 'class="threshold"' not in far and "--max-p99-ms 100 (above)" in far


def test_the_legend_is_under_the_plot_and_wraps() -> None:
    names = [result_label(c) for c in ("2001", "5004", "5005", "5422", "5001", "3001")]
    rows = legend_layout(names)
    assert len(rows) > 1 and sorted(i for row in rows for i in row) == list(range(len(names)))
    chart = line_chart("r", "", [Series(n, "#000", ((0.5, 1.0),)) for n in names], 1)
    legend_y = [float(y) for y in re.findall(r'class="legend" x="[\d.]+" y="([\d.]+)"', chart)]
    assert len(legend_y) == len(names) and min(legend_y) > TOP + PLOT_HEIGHT
    x_of = [float(x) for x in re.findall(r'class="legend" x="([\d.]+)"', chart)]
    assert all(LEFT <= x < WIDTH for x in x_of)
    y_labels = re.findall(r'class="y-label"[^>]*>([^<]*)<', chart)
    assert y_labels == ["0.00", "0.25", "0.50", "0.75", "1.00", "1.25"]


def test_answers_are_named_as_the_specs_name_them() -> None:
    assert result_label("5004") == "5004 DIAMETER_INVALID_AVP_VALUE"
    assert result_label("2001") == "2001 DIAMETER_SUCCESS"
    assert result_label("DIAMETER_ERROR_EQUIPMENT_UNKNOWN") == (
        "5422 DIAMETER_ERROR_EQUIPMENT_UNKNOWN"
    )
    assert result_label("4242") == "4242"
    assert result_label("error:unknownEquipment") == "error:unknownEquipment"
    assert status_label("white") == "0 WHITELISTED"
    assert status_label("black") == "1 BLACKLISTED"
    assert status_label("2") == "2 GREYLISTED" and status_label("purple") == "purple"


def test_the_versions_a_cea_and_a_metrics_page_tell() -> None:
    node = NodeIdentity("eir.test", "test", product_name="eir", firmware_revision=102)
    cer = wire.decode_message(wire.encode_message(base.cer(node, 1, 1)))
    cea = wire.encode_message(base.cea(node, cer))
    assert from_cea(cea) == {
        "product_name": "eir",
        "origin_host": "eir.test",
        "firmware_revision": 102,
    }
    assert from_cea(wire.encode_message(cer)) is None  # a CER, not a CEA
    page = (
        "# HELP eir_build_info eir's version\n# TYPE eir_build_info gauge\n"
        'eir_build_info{version="0.2.0",python="3.11.2",pycrate="0.8.1",lmdb="3.0.0"} 1.0\n'
    )
    assert parse_build_info(page) == {
        "version": "0.2.0",
        "python": "3.11.2",
        "pycrate": "0.8.1",
        "lmdb": "3.0.0",
    }
    assert parse_build_info("eir_checks_total 3\n") is None


def _points(chart: str, series: str) -> list[tuple[float, float]]:
    found = re.search(rf'data-series="{series}"[^>]*points="([^"]+)"', chart)
    assert found is not None
    return [(float(x), float(y)) for x, y in (p.split(",") for p in found.group(1).split())]


def test_errors_are_drawn_per_covered_second_and_after_the_end_as_counted() -> None:
    rows = [
        {"second": s, "timeouts": t, "errors": 0, "mismatches": m, "covered_s": c}
        for s, t, m, c in ((0, 0, 10, 1.0), (1, 0, 6, 0.6), (2, 5, 0, 0.0))
    ]
    chart = charts.errors("s13", rows)
    mismatches = _points(chart, "mismatches")
    assert len(mismatches) == 3 and mismatches[0][1] == mismatches[1][1]  # 10/s, then 6/0.6 s
    timeouts = _points(chart, "timeouts")
    assert timeouts[2][1] < timeouts[0][1]  # 5 timeouts after the end, drawn higher than 0


def test_the_page_shows_structured_gates_examples_and_escapes_input() -> None:
    row = {
        "name": "s13 <a>",
        "protocol": "s13",
        "target": "tcp://127.0.0.1:1",
        "sent": 10,
        "answered": 10,
        "timeouts": 0,
        "errors": 0,
        "mismatches": 1,
        "rate": 10.0,
        "latency_ms": {"p50": 1.0, "p90": 1.0, "p99": 1.0, "p999": 1.0, "max": 1.0},
        "result_code": {"2001": 10},
        "equipment_status": {"white": 10},
        "timeline": [],
    }
    doc = {
        **row,
        "title": "<script>x</script>",
        "description": "",
        "started": "2026-01-01T00:00:00Z",
        "elapsed_s": 1.0,
        "flows": [row],
        "timeline": [],
        "mismatch_kinds": {"expected 2001 grey, got 2001 white": 1},
        "error_kinds": {},
        "examples": [
            {
                "what": "mismatch",
                "flow": "s13 <a>",
                "request": "unknown: imei 49015420323751",
                "expected": "2001 grey",
                "detail": "expected 2001 grey, got 2001 white",
            }
        ],
        "settings": {"gates": {"max_p99_ms": 0.5}},
        "gates": {
            "passed": False,
            "failures": ["p99 latency 1.00 ms is over --max-p99-ms 0.5"],
            "results": [
                {
                    "name": "max-p99-ms",
                    "threshold": 0.5,
                    "value": 1.0,
                    "passed": False,
                    "message": "p99 latency 1.00 ms is over --max-p99-ms 0.5",
                }
            ],
        },
    }
    text = page(doc)
    assert "<script>" not in text and "<h1>&lt;script&gt;x&lt;/script&gt;</h1>" in text
    # the threshold and the value with their unit, and which side passes
    assert '<td>max-p99-ms</td><td class="n">\u2264 0.50 ms</td><td class="n">1.00 ms</td>' in text
    assert "p99 latency 1.00 ms is over --max-p99-ms 0.5</td>" in text
    assert "<td>unknown: imei 49015420323751</td>" in text and "<td>s13 &lt;a&gt;</td>" in text
    assert "<td>2001 DIAMETER_SUCCESS</td>" in text and "<td>0 WHITELISTED</td>" in text


def test_an_axis_has_one_style_of_labels() -> None:
    """If a tick of the axis needs ``k``, all do (``5,000`` next to ``10k`` was the fault)."""
    axis = ticks(9_000)
    assert [label(v, 2000, axis[-1]) for v in axis] == ["0", "2k", "4k", "6k", "8k", "10k"]
    assert [label(v, 2500, 10_000) for v in (0, 2500, 5000)] == ["0", "2.5k", "5.0k"]
    assert [label(v, 2000, 8000) for v in (0, 2000, 8000)] == ["0", "2,000", "8,000"]
    assert [label(v, 0.25, 1.25) for v in (0, 0.25)] == ["0.00", "0.25"]
    chart = line_chart("s13: throughput", "requests/s", [Series("sent", "#000", ((0.5, 9e3),))], 1)
    ys = re.findall(r'class="y-label"[^>]*>([^<]*)<', chart)
    assert ys[0] == "0" and all(y.endswith("k") for y in ys[1:]), ys
    long = line_chart("soak", "ms", [Series("p99", "#000", ((0.5, 1.0),))], 12_000)
    xs = re.findall(r'class="x-label"[^>]*>([^<]*)<', long)
    assert xs[:3] == ["0", "2k", "4k"] and xs[-1] == "12k"


def test_gate_numbers_read_with_their_unit_and_the_charts_name_the_option() -> None:
    assert gates.shown("max-p99-ms", 6.0123101083) == "6.01 ms"
    assert gates.shown("baseline-rate", 1600064.6662990581) == "1,600,064.7/s"
    assert gates.shown("max-error-rate", 0.0123) == "1.23%"
    assert gates.shown("baseline-error-rate", 0.00001) == "0.0010%"
    assert gates.shown("max-error-rate", 0) == "0%"
    assert gates.shown("requests-sent", 40_000) == "40,000" and gates.shown("x", None) == "\u2014"
    assert gates.threshold_text("min-rate", 150) == "\u2265 150.0/s"
    assert gates.threshold_text("max-p99-ms", 250) == "\u2264 250.00 ms"
    rows = [{"second": 0, "answered": 1, "sent": 1, **{k: 1.0 for _, k, _ in charts.LATENCIES}}]
    assert "--max-p99-ms 250 (above)<" in charts.latency("s13", rows, 250)
    assert 'data-threshold="--min-rate 0.5"' in charts.throughput("s13", rows, 0.5)


def test_errors_after_the_end_and_in_a_second_barely_covered_are_drawn_as_counted() -> None:
    rows = [
        {"second": s, "timeouts": t, "errors": 0, "mismatches": 0, "covered_s": c}
        for s, t, c in ((0, 4, 1.0), (1, 3, 0.2), (2, 5, 0.0))
    ]
    # drawn 4, 3, 5 (the SVG's y grows downwards): 3 in 0.2 s is not scaled up to 15/s
    ys = [y for _, y in _points(charts.errors("s13", rows), "timeouts")]
    assert len(ys) == 3 and ys[2] < ys[0] < ys[1]
