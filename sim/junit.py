"""A run as JUnit XML, for CI servers: one ``<testsuite>``, one test case per flow and one per
gate.

A flow's case fails when the flow had mismatches, stopped early, or had errors or timeouts while
the run's ``--max-error-rate`` gate failed; its failure text lists the flow's mismatch and error
kinds and its examples. A gate's case fails when the gate did, with the gate's message. The
document follows the Apache Ant JUnit schema (``tests/data/JUnit.xsd``), which Jenkins' xunit
schema (``tests/data/junit-10.xsd``) also accepts: ``properties``, the cases, ``system-out`` (the
final table) and ``system-err``, in that order; times in seconds; the timestamp in UTC without a
zone.

A run that could not start (a target refusing the connection) is one test case with an
``<error>`` saying why (`not_started`), so that CI shows the cause rather than "no test results".
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import eir
from sim import report
from sim.gates import shown, threshold_text

SUITE = "eir-sim"
#: characters XML 1.0 cannot hold (C0 controls but tab, newline, carriage return)
_NOT_XML = dict.fromkeys(c for c in range(32) if c not in (9, 10, 13))


def _clean(text: object) -> str:
    return str(text).translate(_NOT_XML)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _properties(doc: Mapping[str, Any]) -> ET.Element:
    props = ET.Element("properties")
    values: list[tuple[str, object]] = [
        ("eir-sim.version", eir.__version__),
        ("started", doc["started"]),
        ("sent", doc["sent"]),
        ("answered", doc["answered"]),
        ("rate", f"{doc['rate']:.1f}"),
        ("error_rate", f"{doc['error_rate']:.6f}"),
        ("p99_ms", f"{doc['latency_ms']['p99']:.3f}"),
    ]
    values.extend((f"flow.{f['name']}.target", f["target"]) for f in doc["flows"])
    for name, value in values:
        ET.SubElement(props, "property", name=name, value=_clean(value))
    return props


def _flow_failure(flow: Mapping[str, Any], doc: Mapping[str, Any]) -> str | None:
    """Why the flow's case fails (its first line), or None."""
    error_gate_failed = any(
        r["name"] == "max-error-rate" and not r["passed"] for r in doc["gates"].get("results", [])
    )
    if flow["mismatches"]:
        return f"{flow['mismatches']:,} answers were not the expected ones"
    if flow["stopped_early"]:
        return f"stopped early: {'; '.join(dict.fromkeys(flow['stopped_early']))}"
    if error_gate_failed and (flow["errors"] or flow["timeouts"]):
        return (
            f"{flow['errors']:,} errors and {flow['timeouts']:,} timeouts "
            f"(error rate {flow['error_rate']:.4%})"
        )
    return None


def _flow_details(flow: Mapping[str, Any], doc: Mapping[str, Any]) -> str:
    lines = [
        f"sent {flow['sent']:,}, answered {flow['answered']:,}, timeouts {flow['timeouts']:,}, "
        f"errors {flow['errors']:,}, mismatches {flow['mismatches']:,}"
    ]
    lines.extend(f"mismatch: {n:,} x {kind}" for kind, n in flow["mismatch_kinds"].items())
    lines.extend(f"error: {n:,} x {kind}" for kind, n in flow["error_kinds"].items())
    for example in doc["examples"]:
        if example.get("flow") == flow["name"]:
            lines.append(f"{example['what']}: {example['request']}: {example['detail']}")
            if example.get("answer_hex"):
                lines.append(f"  answer {example['answer_hex']}")
    return "\n".join(lines)


def _flow_case(flow: Mapping[str, Any], doc: Mapping[str, Any]) -> ET.Element:
    case = ET.Element(
        "testcase",
        name=_clean(flow["name"]),
        classname=f"{SUITE}.flow",
        time=_seconds(doc["elapsed_s"]),
    )
    why = _flow_failure(flow, doc)
    if why is not None:
        failure = ET.SubElement(case, "failure", message=_clean(why), type="flow")
        failure.text = _clean(_flow_details(flow, doc))
    return case


def _gate_case(gate: Mapping[str, Any]) -> ET.Element:
    name = str(gate["name"])
    case = ET.Element("testcase", name=name, classname=f"{SUITE}.gate", time="0")
    if not gate["passed"]:
        failure = ET.SubElement(case, "failure", message=_clean(gate["message"]), type="gate")
        failure.text = _clean(
            f"{gate['message']}\nthreshold: {threshold_text(name, gate['threshold'])}\n"
            f"value: {shown(name, gate['value'])}"
        )
    return case


def document(doc: Mapping[str, Any], hostname: str | None = None) -> str:
    """The run's report `doc` as a JUnit XML document."""
    cases = [_flow_case(f, doc) for f in doc["flows"]]
    cases.extend(_gate_case(g) for g in doc["gates"].get("results", []))
    failures = sum(case.find("failure") is not None for case in cases)
    suite = ET.Element(
        "testsuite",
        name=_clean(doc.get("title") or SUITE),
        timestamp=str(doc["started"]).removesuffix("Z"),
        hostname=hostname or socket.gethostname() or "localhost",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=_seconds(doc["elapsed_s"]),
    )
    suite.append(_properties(doc))
    suite.extend(cases)
    ET.SubElement(suite, "system-out").text = _clean(report.table(dict(doc)))
    ET.SubElement(suite, "system-err")
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


def not_started(doc: Mapping[str, Any], hostname: str | None = None) -> str:
    """A run that could not start (``doc["error"]`` says why) as JUnit XML: one test case, in
    error, with the reason."""
    error = _clean(doc["error"])
    suite = ET.Element(
        "testsuite",
        name=_clean(doc.get("title") or SUITE),
        timestamp=str(doc["started"]).removesuffix("Z"),
        hostname=hostname or socket.gethostname() or "localhost",
        tests="1",
        failures="0",
        errors="1",
        skipped="0",
        time="0.000",
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("eir-sim.version", eir.__version__), ("started", doc["started"])):
        ET.SubElement(props, "property", name=name, value=_clean(value))
    case = ET.SubElement(suite, "testcase", name="start", classname=f"{SUITE}.run", time="0")
    ET.SubElement(
        case, "error", message=error, type="not-started"
    ).text = f"the run could not start: {error}"
    ET.SubElement(suite, "system-out")
    ET.SubElement(suite, "system-err").text = f"eir-sim: {error}"
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )
