"""What ``eir-sim run`` and ``eir-sim compare`` do once `sim.cli` parsed their arguments:
settings, outputs and baseline checked before anything is sent (a `UsageError`, exit 2), the
run (`sim.runner`), its reports (`sim.report`, `sim.junit`, written where `sim.outputs` checked)
and gates (`sim.gates`); two reports compared (`sim.compare`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sim.compare import DEFAULT_TOLERANCE

if TYPE_CHECKING:
    from sim.gates import Baseline
    from sim.settings import RunSettings

_RUN_KEYS = (
    "title",
    "target_metrics",
    "duration",
    "requests",
    "seed",
    "timeout",
    "pool",
    "max_in_flight",
    "json",
    "html",
    "live",
    "policy_config",
    "identities",
    "devices",
    "approved",
    "max_p99_ms",
    "min_rate",
    "max_error_rate",
)
_FLOW_KEYS = (
    "protocol",
    "map_version",
    "sccp",
    "rate",
    "concurrency",
    "ramp",
    "ramp_from",
    "connections",
    "processes",
    "mix",
    "realm",
    "destination_realm",
    "opc",
    "dpc",
    "routing_context",
    "network_appearance",
    "called_gt",
    "calling_gt",
    "local",
)


class UsageError(ValueError):
    """Bad input found before anything is sent: ``eir-sim: ...``, exit 2."""


def _settings(args: argparse.Namespace) -> RunSettings:
    """The run's settings from the scenario and the command line (SettingsError as it comes)."""
    from sim.settings import build, load_scenario

    scenario = load_scenario(args.scenario) if args.scenario else {}
    overrides = {k: getattr(args, k) for k in _RUN_KEYS}
    if args.lists:
        overrides["lists"] = args.lists
    if args.observations:
        overrides["observations"] = args.observations
    return build(
        scenario,
        overrides,
        {k: getattr(args, k) for k in _FLOW_KEYS},
        args.target,
        args.scenario or "command line",
    )


def _baseline(args: argparse.Namespace) -> Baseline | None:
    """The --baseline report, read and checked before the run (UsageError when it is not one)."""
    from sim.compare import ReportError, load_report
    from sim.gates import Baseline

    if args.baseline is None:
        if args.max_regression is not None:
            raise UsageError("--max-regression needs --baseline FILE")
        return None
    try:
        doc = load_report(args.baseline)
    except ReportError as exc:
        raise UsageError(f"--baseline {args.baseline}: {exc}") from None
    tol = DEFAULT_TOLERANCE if args.max_regression is None else args.max_regression
    return Baseline(args.baseline, doc, tol)


def _prepared(
    args: argparse.Namespace,
) -> tuple[RunSettings, dict[str, str | None], Baseline | None]:
    """Settings, outputs and baseline, every one checked before the run (UsageError)."""
    from sim.outputs import OutputError, check_all
    from sim.settings import SettingsError

    try:
        settings = _settings(args)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    outputs = {"--json": settings.json, "--html": settings.html, "--junit": args.junit}
    try:
        check_all(outputs)
    except OutputError as exc:
        raise UsageError(str(exc)) from None
    return settings, outputs, _baseline(args)


def _write_reports(doc: dict[str, Any], outputs: dict[str, str | None]) -> None:
    from sim import junit
    from sim.outputs import write
    from sim.report_page import page

    writers = {
        "--json": lambda: json.dumps(doc, indent=2) + "\n",
        "--html": lambda: page(doc),
        "--junit": lambda: junit.document(doc),
    }
    for option, path in outputs.items():
        if path:
            write(path, writers[option]())


def _not_started(settings: RunSettings, error: str) -> dict[str, Any]:
    """The JSON report of a run that could not start: what was meant, and ``error`` saying
    why; no counts (nothing was measured), the gates failed with the reason."""
    from sim.axis import tidy
    from sim.report import default_title
    from sim.versions import SIM_VERSION

    return {
        "tool": "eir-sim",
        "title": settings.title or default_title(settings),
        "description": settings.description,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "error": error,
        "versions": {"eir-sim": SIM_VERSION},
        "settings": tidy(settings.describe()),
        "gates": {
            "passed": False,
            "failures": [f"the run could not start: {error}"],
            "results": [],
        },
    }


def _write_not_started(doc: dict[str, Any], outputs: dict[str, str | None]) -> None:
    """The JSON report and the JUnit XML of a run that could not start (no HTML page: there is
    nothing to chart)."""
    from sim import junit
    from sim.outputs import write

    texts: dict[str, Callable[[], str]] = {
        "--json": lambda: json.dumps(doc, indent=2) + "\n",
        "--junit": lambda: junit.not_started(doc),
    }
    for option, text in texts.items():
        path = outputs.get(option)
        if path:
            try:
                write(path, text())
            except OSError as exc:
                print(
                    f"eir-sim: cannot write {option} {path}: {exc.strerror or exc}", file=sys.stderr
                )


def run_command(args: argparse.Namespace) -> int:
    """``eir-sim run``: exit 0 passed, 1 failed (or could not start), 2 bad input."""
    from sim import gates, report
    from sim.outputs import show, to_stdout
    from sim.runner import RunError, run

    try:
        settings, outputs, baseline = _prepared(args)
    except UsageError as exc:
        print(f"eir-sim: {exc}", file=sys.stderr)
        return 2
    try:
        outcome = run(settings)
    except RunError as exc:
        print(f"eir-sim: {exc}", file=sys.stderr)
        _write_not_started(_not_started(settings, str(exc)), outputs)
        return 1
    doc = report.document(settings, outcome)
    if baseline is not None:
        doc["settings"]["gates"]["baseline"] = baseline.path
        doc["settings"]["gates"]["max_regression"] = baseline.tolerance
        doc["gates"] = gates.judge(settings.gates, doc, baseline)
    try:
        show(report.table(doc) + "\n", sys.stderr if to_stdout(outputs) else sys.stdout)
        _write_reports(doc, outputs)
    except OSError as exc:
        print(f"eir-sim: cannot write the report: {exc}", file=sys.stderr)
        return 1
    for reason in doc["gates"]["failures"]:
        print(f"eir-sim: FAILED: {reason}", file=sys.stderr)
    return 1 if doc["gates"]["failures"] else 0


def _reports(paths: Sequence[str]) -> list[dict[str, Any]]:
    """The JSON reports to compare (UsageError: the path and why it is not one)."""
    from sim.compare import ReportError, load_report

    docs = []
    for path in paths:
        try:
            docs.append(load_report(path))
        except ReportError as exc:
            raise UsageError(f"{path}: {exc}") from None
    return docs


def compare_command(args: argparse.Namespace) -> int:
    """``eir-sim compare``: exit 0 within tolerance, 1 regressed or not comparable, 2 bad
    input."""
    from sim import compare_page
    from sim.compare import compare, document, table
    from sim.outputs import OutputError, check_all, show, to_stdout, write

    outputs = {"--json": args.json, "--html": args.html}
    try:
        check_all(outputs)
        a, b = _reports((args.a, args.b))
    except (OutputError, UsageError) as exc:
        print(f"eir-sim: {exc}", file=sys.stderr)
        return 2
    comparison = compare(a, b, args.max_regression)
    try:
        show(table(comparison) + "\n", sys.stderr if to_stdout(outputs) else sys.stdout)
        if args.json:
            write(args.json, json.dumps(document(comparison, args.a, args.b), indent=2) + "\n")
        if args.html:
            write(args.html, compare_page.page(comparison, args.a, args.b))
    except OSError as exc:
        print(f"eir-sim: cannot write the comparison: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if not comparison.comparable and not args.allow_different:
        print(f"eir-sim: {comparison.comparability()}", file=sys.stderr)
        return 1
    return 1 if comparison.regressed else 0
