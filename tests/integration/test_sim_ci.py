"""eir-sim in CI, through the real executable against the real `eir serve`: the JSON report on
standard output (the table on stderr), output paths refused before anything is sent, JUnit XML
valid against the schemas CI servers use, the baseline gate, `eir-sim compare`, `--version`."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import xmlschema

import eir
from tests.integration.test_sim import report, sim
from tests.support.cli import EIR_SIM, env
from tests.support.diameter import DEMO, serve
from tests.unit.sim.test_sim_ci import crafted

DATA = Path(__file__).resolve().parents[1] / "data"
SCHEMAS = [xmlschema.XMLSchema(str(DATA / name)) for name in ("JUnit.xsd", "junit-10.xsd")]
TABLE_HEAD = "sent  answered  timeouts  errors  mismatch"


def run_args(port: int, *extra: str | Path) -> list[str | Path]:
    return [
        "run",
        "--target",
        f"tcp://127.0.0.1:{port}",
        "--requests",
        "400",
        "--concurrency",
        "8",
        "--lists",
        DEMO,
        "--live",
        "never",
        *extra,
    ]


def test_json_on_stdout_junit_and_the_version(demo_db: Path, tmp_path: Path) -> None:
    junit = tmp_path / "run.xml"
    grey_unknown = tmp_path / "eir.toml"
    grey_unknown.write_text('[policy]\nunknown = "grey"\n')
    with serve(demo_db) as served:
        good = sim(
            *run_args(served.port(), "--json", "-", "--junit", junit, "--max-p99-ms", "5000")
        )
        # the simulator believes unknown IMEIs are greylisted; the EIR says white
        bad = sim(
            *run_args(served.port(), "--policy-config", grey_unknown, "--mix", "unknown=1"),
            "--junit",
            "-",
        )
    assert good.returncode == 0, good.stderr
    doc = json.loads(good.stdout)  # nothing but the report on stdout
    assert doc["sent"] == doc["answered"] == 400
    assert TABLE_HEAD in good.stderr and "s13 equipment status" in good.stderr
    results = {r["name"]: r for r in doc["gates"]["results"]}
    assert set(results) == {"requests-sent", "stopped-early", "mismatches", "max-p99-ms"}
    assert results["max-p99-ms"]["threshold"] == 5000 and results["max-p99-ms"]["passed"]
    assert doc["gates"] == {"passed": True, "failures": [], "results": doc["gates"]["results"]}
    passing = junit.read_text()
    for schema in SCHEMAS:
        schema.validate(passing)
    assert 'tests="5" failures="0"' in passing and '<testcase name="s13"' in passing

    assert bad.returncode == 1
    assert bad.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuite')
    for schema in SCHEMAS:
        schema.validate(bad.stdout)
    assert 'tests="4" failures="2"' in bad.stdout
    assert '<failure message="400 answers were not the expected ones" type="flow">' in bad.stdout
    assert "expected 2001 grey, got 2001 white" in bad.stdout
    assert TABLE_HEAD in bad.stderr and "eir-sim: FAILED: 400 answers" in bad.stderr

    version = sim("--version")
    assert version.returncode == 0 and version.stdout == f"eir-sim {eir.__version__}\n"


def _listener() -> socket.socket:
    """A target that never accepts: after the test, its backlog says whether anyone came."""
    return socket.create_server(("127.0.0.1", 0))


def _nobody_came(listener: socket.socket) -> bool:
    listener.setblocking(False)
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def test_bad_outputs_and_baselines_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    not_a_report = tmp_path / "k6.json"
    not_a_report.write_text('{"metrics": {}}')
    missing = tmp_path / "missing" / "r.html"
    cases: list[tuple[list[str | Path], str]] = [
        (["--html", missing], f"eir-sim: --html {missing}: No such file or directory\n"),
        (["--json", tmp_path], f"eir-sim: --json {tmp_path}: Is a directory\n"),
        (
            ["--junit", tmp_path / "missing" / "r.xml", "--json", tmp_path / "r.json"],
            f"eir-sim: --junit {tmp_path / 'missing' / 'r.xml'}: No such file or directory\n",
        ),
        (
            ["--json", "-", "--junit", "-"],
            "eir-sim: --json and --junit cannot both write to standard output (-)\n",
        ),
        (
            ["--baseline", not_a_report],
            f"eir-sim: --baseline {not_a_report}: not an eir-sim JSON report "
            '(no "tool": "eir-sim")\n',
        ),
        (
            ["--baseline", tmp_path / "none.json"],
            f"eir-sim: --baseline {tmp_path / 'none.json'}: No such file or directory\n",
        ),
        (["--max-regression", "10%"], "eir-sim: --max-regression needs --baseline FILE\n"),
    ]
    with _listener() as listener:
        port = listener.getsockname()[1]
        for extra, message in cases:
            result = sim(*run_args(port, *extra, "--duration", "3600"))
            assert (result.returncode, result.stderr, result.stdout) == (2, message, ""), extra
        assert _nobody_came(listener)
    assert not (tmp_path / "r.json").exists()  # the good path was checked, not left behind
    bad_tolerance = sim(*run_args(port, "--baseline", not_a_report, "--max-regression", "ten"))
    assert bad_tolerance.returncode == 2
    assert "argument --max-regression: 'ten' is not a percentage (10%) or a fraction (0.1)" in (
        bad_tolerance.stderr
    )


def _edited(doc: dict[str, Any], path: Path, rate: float, p99_ms: float) -> Path:
    """A copy of a real report with the rate and p99 of its total and flows set: a baseline made
    to measure."""
    edited = json.loads(json.dumps(doc))
    for part in [edited, *edited["flows"]]:
        part["rate"] = rate
        part["latency_ms"]["p99"] = p99_ms
    path.write_text(json.dumps(edited))
    return path


def test_the_baseline_gate_and_compare_on_real_runs(demo_db: Path, tmp_path: Path) -> None:
    a_json, b_json = tmp_path / "a.json", tmp_path / "b.json"
    with serve(demo_db) as served:
        first = sim(*run_args(served.port(), "--json", a_json))
        assert first.returncode == 0, first.stderr
        a = report(a_json)
        easy = _edited(a, tmp_path / "easy.json", a["rate"] / 1e6, a["latency_ms"]["p99"] * 1e6)
        hard = _edited(a, tmp_path / "hard.json", a["rate"] * 1e6, a["latency_ms"]["p99"] / 1e6)
        passed = sim(*run_args(served.port(), "--json", b_json, "--baseline", easy))
        failed = sim(
            *run_args(served.port(), "--json", "-", "--baseline", hard, "--max-regression", "0.2")
        )
    assert passed.returncode == 0, passed.stderr
    b = report(b_json)
    baseline = {r["name"]: r for r in b["gates"]["results"] if r["name"].startswith("baseline")}
    assert set(baseline) == {
        "baseline-comparable",
        "baseline-rate",
        "baseline-p99",
        "baseline-error-rate",
    }
    assert all(r["passed"] for r in baseline.values())
    assert b["settings"]["gates"]["baseline"] == str(easy)
    assert b["settings"]["gates"]["max_regression"] == pytest.approx(0.1)

    assert failed.returncode == 1
    doc = json.loads(failed.stdout)
    failing = [r["name"] for r in doc["gates"]["results"] if not r["passed"]]
    assert failing == ["baseline-rate", "baseline-p99"]
    assert re.search(
        r"eir-sim: FAILED: rate [\d,.]+/s against [\d,.]+/s in the baseline "
        + re.escape(f"{hard} (")
        + r"-[\d.]+%\): worse by more than --max-regression 20%\n",
        failed.stderr,
    ), failed.stderr

    same = sim("compare", a_json, a_json, "--max-regression", "0")
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout.splitlines()[-1] == "within tolerance: 8 judged metrics within 0%"
    html = tmp_path / "compare.html"
    worse = sim("compare", easy, b_json, "--json", "-", "--html", html)
    assert worse.returncode == 0, worse.stderr  # B is far better than this baseline
    worse = sim("compare", hard, b_json, "--json", "-", "--html", html)
    assert worse.returncode == 1
    verdict = json.loads(worse.stdout)
    assert verdict["verdict"] == (
        "regressed: 4 of 8 judged metrics worse by more than 10% "
        "(total rate, total p99, s13 rate, s13 p99)"
    )
    assert verdict["verdict"] in worse.stderr  # the table went to stderr
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "regressed: 4 of 8" in page
    refused = sim("compare", a_json, tmp_path / "absent.json")
    assert refused.returncode == 2
    assert refused.stderr == f"eir-sim: {tmp_path / 'absent.json'}: No such file or directory\n"


def test_a_reader_gone_from_stdout_gets_a_message_not_a_traceback(tmp_path: Path) -> None:
    """`eir-sim compare ... --json - | head -c0`: the pipe is closed before the JSON comes."""
    a = tmp_path / "a.json"
    a.write_text(json.dumps(crafted()))
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [EIR_SIM, "compare", str(a), str(a), "--json", "-"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 2
    assert result.stderr.endswith(
        "within tolerance: 8 judged metrics within 10%\n"
        "eir-sim: cannot write the comparison: Broken pipe\n"
    ), result.stderr


TWO_FLOWS = """
title = "S13 and MAP"
duration = 1
lists = ["{lists}"]

[[flow]]
name = "s13"
protocol = "s13"
rate = 200

[[flow]]
name = "map"
protocol = "map"
rate = 200
"""


def test_runs_that_are_not_comparable_are_said_so(demo_db: Path, tmp_path: Path) -> None:
    """A 2-flow 400/s open-loop run against a 1-flow 300-request closed-loop run: whatever the
    numbers, the verdict is "not comparable" with why, exit 1 (and the baseline gate fails)."""
    scenario = tmp_path / "two.toml"
    scenario.write_text(TWO_FLOWS.format(lists=DEMO))
    a_json, b_json, page = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "compare.html"
    with serve(demo_db) as served:
        first = sim(
            "run",
            "--scenario",
            scenario,
            "--target",
            f"s13=tcp://127.0.0.1:{served.port()}",
            "--target",
            f"map=tcp://127.0.0.1:{served.port('m3ua')}",
            "--json",
            a_json,
            "--live",
            "never",
        )
        assert first.returncode == 0, first.stderr
        second = sim(
            *run_args(served.port(), "--requests", "300", "--json", b_json, "--baseline", a_json)
        )
    assert second.returncode == 1
    reasons = [
        "flow map only in A",
        "duration_s 1 in A, none in B",
        "requests none in A, 300 in B",
        "flows.s13.rate 200 in A, none in B",
        "flows.s13.concurrency none in A, 8 in B",
    ]
    gate = next(r for r in report(b_json)["gates"]["results"] if r["name"] == "baseline-comparable")
    message = f"the baseline {a_json} is not comparable: {'; '.join(reasons)}"
    assert gate == {
        "name": "baseline-comparable",
        "threshold": 0,
        "value": 5,
        "passed": False,
        "message": message,
    }
    assert f"eir-sim: FAILED: {message}\n" in second.stderr

    compared = sim("compare", a_json, b_json, "--json", "-", "--html", page)
    assert compared.returncode == 1, compared.stderr
    doc = json.loads(compared.stdout)
    assert doc["comparable"] is False and doc["not_comparable"] == reasons
    line = f"not comparable: {'; '.join(reasons)}"
    assert compared.stderr.endswith(f"{doc['verdict']}\n{line}\neir-sim: {line}\n")
    a, b = report(a_json), report(b_json)
    for side, run in (("a", a), ("b", b)):
        assert doc["runs"][side] == {
            k: run[k] for k in ("title", "started", "elapsed_s", "versions")
        }
    differ = {d["key"]: (d["a"], d["b"]) for d in doc["settings_differ"]}
    assert differ["flows.s13.rate"] == (200, None) and differ["requests"] == (None, 300)
    assert not [k for k in differ if k.startswith("flows.map.")]  # "flow map only in A" says it
    html = page.read_text()
    assert f'<p class="bad">{line}</p>' in html
    assert "<th>title</th><td>S13 and MAP</td><td>eir-sim: s13 against tcp://127.0.0.1:" in html
    assert f"<th>eir-sim</th><td>{eir.__version__}</td><td>{eir.__version__}</td>" in html
    assert "<tr><td>flows.s13.rate</td><td>200</td><td>none</td></tr>" in html

    allowed = sim("compare", a_json, b_json, "--allow-different", "--json", "-")
    judged = json.loads(allowed.stdout)
    assert judged["comparable"] is False
    assert allowed.returncode == (1 if judged["regressed"] else 0), allowed.stderr
    assert f"eir-sim: {line}" not in allowed.stderr and line in allowed.stderr


def test_a_run_that_cannot_start_leaves_junit_and_json_saying_why(tmp_path: Path) -> None:
    """The target refuses the connection: CI still gets a test result (one errored case) and the
    JSON report says why, with no counts; exit 1 as before."""
    with _listener() as listener:
        port = listener.getsockname()[1]
    junit_path, json_path = tmp_path / "j.xml", tmp_path / "r.json"
    result = sim(*run_args(port, "--junit", junit_path, "--json", json_path))
    why = f"tcp://127.0.0.1:{port}: cannot connect: Connection refused"
    assert (result.returncode, result.stderr, result.stdout) == (1, f"eir-sim: {why}\n", "")
    text = junit_path.read_text()
    for schema in SCHEMAS:
        schema.validate(text)
    assert 'tests="1" failures="0" errors="1"' in text
    assert (
        '<testcase name="start" classname="eir-sim.run" time="0">\n'
        f'    <error message="{why}" type="not-started">the run could not start: {why}</error>'
    ) in text
    doc = report(json_path)
    assert doc["error"] == why and "sent" not in doc and "flows" not in doc
    assert doc["gates"] == {
        "passed": False,
        "failures": [f"the run could not start: {why}"],
        "results": [],
    }
    assert doc["settings"]["flows"][0]["target"] == f"tcp://127.0.0.1:{port}"
    refused = sim("compare", json_path, json_path)
    assert refused.returncode == 2
    assert refused.stderr == f"eir-sim: {json_path}: a run that could not start ({why})\n"
    on_stdout = sim(*run_args(port, "--junit", "-"))
    assert on_stdout.returncode == 1 and 'errors="1"' in on_stdout.stdout
