"""eir-sim for CI, on crafted reports: the comparison and its verdicts, the structured gates and
the baseline gate, JUnit XML against both schemas, the output path checks."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from sim import compare_page, gates, junit
from sim.compare import (
    ReportError,
    ToleranceError,
    compare,
    document,
    load_report,
    parse_tolerance,
    table,
)
from sim.outputs import OutputError, check, check_all
from sim.settings import Gates

DATA = Path(__file__).resolve().parents[2] / "data"
SCHEMAS = [xmlschema.XMLSchema(str(DATA / name)) for name in ("JUnit.xsd", "junit-10.xsd")]


def part(
    rate: float = 1000.0,
    p99: float = 2.0,
    error_rate: float = 0.0,
    mismatches: int = 0,
    sent: int = 10_000,
    results: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The numbers of a report's total or flow, as `sim.report` writes them."""
    errors = round(error_rate * sent)
    return {
        "sent": sent,
        "answered": sent - errors,
        "timeouts": 0,
        "errors": errors,
        "mismatches": mismatches,
        "late_answers": 0,
        "rate": rate,
        "error_rate": error_rate,
        "latency_ms": {"p50": p99 / 4, "p90": p99 / 2, "p99": p99, "p999": p99 * 2, "max": p99 * 3},
        "equipment_status": {"white": sent - errors},
        "result_code": results or {"2001": sent - errors},
        "mismatch_kinds": {"expected 2001 grey, got 2001 white": mismatches} if mismatches else {},
        "error_kinds": {"connection lost": errors} if errors else {},
        "stopped_early": [],
    }


def crafted(flows: dict[str, dict[str, Any]] | None = None, **total: Any) -> dict[str, Any]:
    """A whole eir-sim JSON report: a total and its flows."""
    flows = flows if flows is not None else {"s13": part(**total)}
    return {
        "tool": "eir-sim",
        "started": "2026-11-30T01:00:00Z",
        "elapsed_s": 10.0,
        **part(**total),
        "examples": [],
        "flows": [
            {"name": name, "protocol": "s13", "target": "tcp://127.0.0.1:1", "mix": {}, **p}
            for name, p in flows.items()
        ],
        "timeline": [],
        "client": {"processes": 1, "cpu_s": 1.0, "cpu_us_per_request": 10.0},
        "settings": {"gates": {"max_p99_ms": None, "min_rate": None, "max_error_rate": None}},
        "gates": {"passed": True, "failures": [], "results": []},
    }


# --- tolerance ------------------------------------------------------------------------------


def test_tolerance_as_a_percentage_or_a_fraction() -> None:
    assert parse_tolerance("10%") == pytest.approx(0.1)
    assert parse_tolerance(" 2.5 % ") == pytest.approx(0.025)
    assert parse_tolerance("0.1") == pytest.approx(0.1)
    assert parse_tolerance("0") == 0.0
    assert parse_tolerance("150%") == pytest.approx(1.5)
    for bad, why in (
        ("ten", "not a percentage"),
        ("", "not a percentage"),
        ("%", "not a percentage"),
        ("-5%", "0 or more"),
        ("nan", "0 or more"),
        ("inf%", "0 or more"),
        ("10", "a fraction is from 0 to 1"),
    ):
        with pytest.raises(ToleranceError, match=why):
            parse_tolerance(bad)


# --- the comparison -------------------------------------------------------------------------


def test_the_same_run_is_within_tolerance() -> None:
    a = crafted()
    result = compare(a, copy.deepcopy(a), 0.1)
    assert not result.regressed
    assert result.verdict() == "within tolerance: 8 judged metrics within 10%"
    assert {r.scope for r in result.rows} == {"total", "s13"}
    assert len(result.rows) == 2 * 8


@pytest.mark.parametrize(
    ("b", "regressed"),
    [
        ({"rate": 905.0}, False),  # 9.5 % slower
        ({"rate": 890.0}, True),  # 11 % slower
        ({"rate": 5000.0}, False),  # faster is never a regression
        ({"p99": 2.19}, False),
        ({"p99": 2.21}, True),
        ({"p99": 0.5}, False),
        ({"error_rate": 0.0009}, False),  # a clean baseline: under the 0.1 point floor
        ({"error_rate": 0.0011}, True),
        ({"mismatches": 1}, True),  # a clean baseline: any mismatch
    ],
)
def test_each_judged_metric_and_its_direction(b: dict[str, Any], regressed: bool) -> None:
    result = compare(crafted(), crafted(**b), 0.1)
    assert result.regressed is regressed
    assert result.row("total", next(iter(b))).regressed is regressed


def test_the_error_rate_of_a_noisy_baseline_is_judged_relatively() -> None:
    a = crafted(error_rate=0.02)
    assert not compare(a, crafted(error_rate=0.0215), 0.1).regressed  # +7.5 %
    assert compare(a, crafted(error_rate=0.0225), 0.1).regressed  # +12.5 %, +0.25 point


def test_the_other_percentiles_are_shown_not_judged() -> None:
    a = crafted()
    b = copy.deepcopy(a)
    b["latency_ms"]["max"] = 1000.0
    b["latency_ms"]["p50"] = 100.0
    result = compare(a, b, 0.1)
    assert not result.regressed
    assert result.row("total", "max").b == 1000.0 and not result.row("total", "max").regressed
    assert "total max 1000.000 ms against 6.000 ms (+16566.7%): not judged" in [
        r.message(0.1) for r in result.rows
    ]


def test_flows_are_matched_by_name_and_judged_each() -> None:
    a = crafted({"s13": part(), "map": part(rate=500.0)})
    b = crafted({"s13": part(), "map": part(rate=400.0), "extra": part()})
    result = compare(a, b, 0.1)
    assert result.regressed
    assert [f"{r.scope} {r.metric.key}" for r in result.regressions] == ["map rate"]
    assert result.only_in_b == ("extra",) and result.only_in_a == ()
    assert result.verdict() == (
        "regressed: 1 of 12 judged metrics worse by more than 10% (map rate)"
    )
    text = table(result)
    assert "flow extra: only in B" in text
    # a flow of one run only: not comparable, said on the last line (it was only a note)
    assert text.splitlines()[-2:] == [result.verdict(), "not comparable: flow extra only in B"]
    assert any(line.startswith("map    rate") and "REGRESSED" in line for line in text.splitlines())


def test_result_codes_and_statuses_are_compared_by_name() -> None:
    a = crafted(results={"2001": 9000, "5004": 1000})
    b = crafted(results={"2001": 9500, "5005": 500})
    result = compare(a, b, 0.1)
    by_name = {(c.scope, c.kind, c.name): (c.a, c.b) for c in result.counts}
    assert by_name[("total", "result_code", "5004")] == (1000, 0)
    assert by_name[("total", "result_code", "5005")] == (0, 500)
    assert by_name[("total", "equipment_status", "white")] == (10_000, 10_000)
    assert "total result code 5005: 0 -> 500" in table(result)
    page = compare_page.page(result, "a.json", "b.json")  # named as the run's report names them
    assert "<td>5005 DIAMETER_MISSING_AVP</td>" in page and "<td>0 WHITELISTED</td>" in page


def test_the_comparison_as_json_and_html() -> None:
    result = compare(crafted(), crafted(p99=3.0), 0.05)
    doc = document(result, "a.json", "b.json")
    json.dumps(doc)
    assert doc["regressed"] is True and doc["tolerance"] == 0.05
    p99 = next(r for r in doc["rows"] if r["scope"] == "total" and r["metric"] == "p99")
    assert p99 == {
        "scope": "total",
        "metric": "p99",
        "a": 2.0,
        "b": 3.0,
        "change": 0.5,
        "judged": True,
        "regressed": True,
        "message": "total p99 3.000 ms against 2.000 ms (+50.0%): worse by more than 5%",
    }
    page = compare_page.page(result, "a.json", "b<&>.json")
    assert page.startswith("<!DOCTYPE html>") and "b&lt;&amp;&gt;.json" in page
    assert '<td class="bad">regressed</td>' in page and "<script" not in page
    assert "regressed: 2 of 8 judged metrics" in page


def test_reports_read_back_and_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(crafted()))
    assert load_report(str(good))["tool"] == "eir-sim"
    cases = {
        "missing.json": None,
        "text.json": "rate 1000/s",
        "list.json": "[1, 2]",
        "other.json": json.dumps({"tool": "k6", "rate": 1}),
        "partial.json": json.dumps({"tool": "eir-sim", "sent": 1}),
        "binary.json": b"\xff\xfe\x00",
    }
    whys = {
        "missing.json": "No such file or directory",
        "text.json": "not JSON",
        "list.json": 'not an eir-sim JSON report (no "tool": "eir-sim")',
        "other.json": 'not an eir-sim JSON report (no "tool": "eir-sim")',
        "partial.json": "not an eir-sim JSON report (no 'rate')",
        "binary.json": "not JSON",
    }
    flawed = crafted()
    flawed["flows"][0]["latency_ms"]["p99"] = "2 ms"
    cases["flawed.json"] = json.dumps(flawed)
    whys["flawed.json"] = "not an eir-sim JSON report (flows[0].latency_ms.p99 is not a number)"
    for name, content in cases.items():
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        with pytest.raises(ReportError) as caught:
            load_report(str(path))
        assert str(caught.value).startswith(whys[name]), (name, str(caught.value))


# --- the gates ------------------------------------------------------------------------------


def test_every_gate_configured_or_implied_has_a_result() -> None:
    doc = crafted(rate=900.0, p99=3.0, error_rate=0.02)
    judged = gates.judge(Gates(max_p99_ms=5, min_rate=1000, max_error_rate=0.01), doc)
    results = {r["name"]: r for r in judged["results"]}
    assert list(results) == [
        "requests-sent",
        "stopped-early",
        "mismatches",
        "max-p99-ms",
        "min-rate",
        "max-error-rate",
    ]
    assert results["max-p99-ms"] == {
        "name": "max-p99-ms",
        "threshold": 5,
        "value": 3.0,
        "passed": True,
        "message": "p99 latency 3.00 ms is within --max-p99-ms 5",
    }
    assert results["min-rate"]["passed"] is False
    assert results["min-rate"]["message"] == "rate 900.0/s is under --min-rate 1000"
    assert judged["passed"] is False
    assert judged["failures"] == [
        "rate 900.0/s is under --min-rate 1000",
        "error rate 2.0000% (errors 200, timeouts 0) is over --max-error-rate 0.01",
    ]


def test_the_implied_gates_fail_as_they_always_did() -> None:
    doc = crafted(sent=0, mismatches=0)
    doc["stopped_early"] = ["every connection was lost", "every connection was lost"]
    judged = gates.judge(Gates(), doc)
    assert judged["failures"] == [
        "no request was sent",
        "the run stopped early: every connection was lost",
    ]
    stopped = next(r for r in judged["results"] if r["name"] == "stopped-early")
    assert stopped["value"] == 2 and stopped["threshold"] == 0
    mismatched = gates.judge(Gates(), crafted(mismatches=3))
    assert mismatched["failures"] == [
        "3 answers were not the expected ones (3 x expected 2001 grey, got 2001 white)"
    ]


def test_the_baseline_gate_judges_rate_p99_and_error_rate() -> None:
    baseline = gates.Baseline("base.json", crafted(rate=1000.0, p99=2.0), 0.1)
    passing = gates.judge(Gates(), crafted(rate=950.0, p99=2.1), baseline)
    assert passing["passed"], passing["failures"]
    names = [r["name"] for r in passing["results"]]
    assert names[-3:] == ["baseline-rate", "baseline-p99", "baseline-error-rate"]
    failing = gates.judge(Gates(), crafted(rate=800.0, p99=2.1, error_rate=0.01), baseline)
    assert failing["failures"] == [
        "rate 800.0/s against 1,000.0/s in the baseline base.json (-20.0%): worse by more "
        "than --max-regression 10%",
        "error rate 1.0000% against 0.0000% in the baseline base.json: worse by more than "
        "--max-regression 10%",
    ]
    rate = next(r for r in failing["results"] if r["name"] == "baseline-rate")
    assert rate["threshold"] == pytest.approx(900.0) and rate["value"] == 800.0
    error = next(r for r in failing["results"] if r["name"] == "baseline-error-rate")
    assert error["threshold"] == pytest.approx(0.001)


# --- JUnit ----------------------------------------------------------------------------------


def _validated(text: str) -> None:
    for schema in SCHEMAS:
        schema.validate(text)


def test_junit_of_a_passing_run_is_valid() -> None:
    doc = crafted()
    doc["gates"] = gates.judge(Gates(max_p99_ms=10), doc)
    text = junit.document(doc, hostname="ci-runner")
    _validated(text)
    assert 'tests="5" failures="0" errors="0"' in text
    assert '<testcase name="s13" classname="eir-sim.flow" time="10.000"' in text
    assert '<testcase name="max-p99-ms" classname="eir-sim.gate" time="0"' in text
    assert 'timestamp="2026-11-30T01:00:00"' in text


def test_junit_of_a_failing_run_names_the_flow_and_the_gates() -> None:
    doc = crafted({"s13": part(mismatches=2), "map": part(error_rate=0.1)}, mismatches=2)
    doc["examples"] = [
        {
            "what": "mismatch",
            "flow": "s13",
            "request": "unknown: imei 45533431566402",
            "expected": "2001 grey",
            "detail": "expected 2001 grey, got 2001 white\x07",
            "answer_hex": "0100",
        }
    ]
    doc["error_rate"] = 0.05
    doc["gates"] = gates.judge(Gates(max_error_rate=0.01), doc)
    text = junit.document(doc)
    _validated(text)
    assert 'tests="6" failures="4"' in text
    assert (
        '<failure message="2 answers were not the expected ones" type="flow">' in text
        and "mismatch: unknown: imei 45533431566402: expected 2001 grey, got 2001 white\n" in text
    )
    assert '<failure message="1,000 errors and 0 timeouts (error rate 10.0000%)"' in text
    assert "is over --max-error-rate 0.01" in text


# --- output paths ---------------------------------------------------------------------------


def test_output_paths_are_checked_and_leave_nothing_behind(tmp_path: Path) -> None:
    fresh = tmp_path / "r.json"
    check("--json", str(fresh))
    assert not fresh.exists()
    kept = tmp_path / "kept.json"
    kept.write_text("old")
    check("--json", str(kept))
    assert kept.read_text() == "old"
    check("--json", "-")
    for option, path, why in (
        ("--html", tmp_path / "nowhere" / "r.html", "No such file or directory"),
        ("--json", tmp_path, "Is a directory"),
        ("--junit", kept / "r.xml", "Not a directory"),
    ):
        with pytest.raises(OutputError) as caught:
            check(option, str(path))
        assert str(caught.value) == f"{option} {path}: {why}"
    with pytest.raises(OutputError, match="--json and --junit cannot both write to standard"):
        check_all({"--json": "-", "--html": None, "--junit": "-"})
    again = os.path.join(tmp_path, ".", "r.json")
    with pytest.raises(OutputError) as same:
        check_all({"--json": str(fresh), "--html": again})
    assert str(same.value) == f"--json and --html name the same file {again}"


def test_runs_of_other_flows_or_pacing_are_not_comparable() -> None:
    a = crafted({"s13": part(), "map": part()})
    a["settings"] = {
        "duration_s": 10.0,
        "requests": None,
        "seed": 1,
        "flows": [
            {"name": "s13", "protocol": "s13", "rate": 200.0, "concurrency": None},
            {"name": "map", "protocol": "map", "rate": 200.0, "concurrency": None},
        ],
    }
    b = crafted()
    b["settings"] = {
        "duration_s": None,
        "requests": 300,
        "seed": 2,
        "flows": [{"name": "s13", "protocol": "map", "rate": None, "concurrency": 16}],
    }
    result = compare(a, b, 0.1)
    assert not result.comparable and not result.regressed
    assert result.reasons == (
        "flow map only in A",
        "duration_s 10 in A, none in B",
        "requests none in A, 300 in B",
        "flows.s13.protocol s13 in A, map in B",
        "flows.s13.rate 200 in A, none in B",
        "flows.s13.concurrency none in A, 16 in B",
    )
    assert [d.key for d in result.settings if d.key not in ("seed",)] == [
        "duration_s",
        "requests",
        "flows.s13.protocol",
        "flows.s13.rate",
        "flows.s13.concurrency",
    ]  # not the settings of flow map, which is in A only
    doc = document(result, "a.json", "b.json")
    assert doc["comparable"] is False and doc["not_comparable"] == list(result.reasons)
    assert doc["runs"]["a"]["started"] == "2026-11-30T01:00:00Z"
    assert {"key": "seed", "a": 1, "b": 2} in doc["settings_differ"]
    # a differing seed alone is shown, not a reason
    c = copy.deepcopy(a)
    c["settings"]["seed"] = 5
    same_pacing = compare(a, c, 0.1)
    assert same_pacing.comparable and [d.key for d in same_pacing.settings] == ["seed"]
    baseline = gates.Baseline("base.json", a, 0.1)
    gate = gates.judge(Gates(), b, baseline)["results"][3]
    assert gate["name"] == "baseline-comparable" and not gate["passed"]
    assert gate["message"].startswith("the baseline base.json is not comparable: flow map only")
