"""The report a lab attaches, made by the real `eir-sim` against the real `eir serve`: title,
description, versions, per-flow timelines with the partial second marked, charts with their
series, spec names and gate thresholds, the HTML tables and settings; and the page rendered by
a real browser (Debian's chromium, headless), its screenshot kept in var/report/."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from eir import __version__
from tests.support.cli import EIR_SIM, eir, env
from tests.support.diameter import DEMO, serve

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "var" / "report"
TITLE = "Lab run <S13 & MAP>"
SCENARIO = """
title = "{title}"
description = "Two flows at fixed rates against the demo lists; <every> answer checked."
duration = 3.3
seed = 4
timeout = 2
lists = ["{lists}"]

[gates]
max_p99_ms = 250
min_rate = 150

[[flow]]
name = "s13"
protocol = "s13"
rate = 120
connections = 2
mix = {{ black = 0.2, grey = 0.1, white = 0.1, pair = 0.05, anomaly = 0.05, malformed = 0.05 }}

[[flow]]
name = "map"
protocol = "map"
rate = 80
mix = {{ black = 0.2, grey = 0.1, white = 0.1, anomaly = 0.05, malformed = 0.05 }}
"""
BUILD_INFO = (
    "# TYPE eir_build_info gauge\n"
    'eir_build_info{version="9.8.7",python="3.11.2",pycrate="0.8.1",lmdb="3.0.0"} 1.0\n'
)


def sim(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EIR_SIM, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env(),
        check=False,
        cwd=ROOT,
    )


class Made:
    """One run's report: the JSON document, the HTML page and where they are."""

    def __init__(self, json_path: Path, html_path: Path, metrics_url: str) -> None:
        self.doc: dict[str, Any] = json.loads(json_path.read_text())
        self.page = html_path.read_text()
        self.html_path = html_path
        self.metrics_url = metrics_url

    def chart(self, label: str) -> str:
        """The SVG whose title is `label`."""
        found = re.search(rf'<svg [^>]*aria-label="{re.escape(label)}".*?</svg>', self.page)
        assert found is not None, f"no chart {label!r}"
        return found.group(0)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    """eir-sim's scenario of two flows against eir serve, reports written under var/report."""
    tmp = tmp_path_factory.mktemp("report")
    db = tmp / "db"
    loaded = eir("load", DEMO, "--list", "black", "--source", "demo", "--db", db)
    assert loaded.returncode == 0, loaded.stderr
    scenario = tmp / "lab.toml"
    scenario.write_text(SCENARIO.format(title=TITLE.replace('"', ""), lists=DEMO))
    OUT.mkdir(parents=True, exist_ok=True)
    json_path, html_path = OUT / "report.json", OUT / "report.html"
    with serve(db) as served:
        metrics = f"http://127.0.0.1:{served.port('metrics', 'http')}/metrics"
        result = sim(
            "run",
            "--scenario",
            scenario,
            "--target",
            f"s13=tcp://127.0.0.1:{served.port()}",
            "--target",
            f"map=tcp://127.0.0.1:{served.port('m3ua')}",
            "--target-metrics",
            metrics,
            "--json",
            json_path,
            "--html",
            html_path,
            "--live",
            "never",
        )
    assert result.returncode == 0, result.stderr + result.stdout
    return Made(json_path, html_path, metrics)


def test_title_description_and_versions(made: Made) -> None:
    doc, page = made.doc, made.page
    assert doc["title"] == TITLE
    assert doc["description"] == (
        "Two flows at fixed rates against the demo lists; <every> answer checked."
    )
    escaped = html.escape(TITLE)
    assert f"<h1>{escaped}</h1>" in page
    assert re.search(rf"<title>{re.escape(escaped)} \u2014 eir-sim report [0-9T:Z-]+</title>", page)
    assert (
        '<p class="description">Two flows at fixed rates against the demo lists; &lt;every' in page
    )
    versions = doc["versions"]
    assert versions["eir-sim"] == __version__
    said = versions["target"]["flows"]["s13"]
    assert said["product_name"] == "eir" and said["origin_host"] == "eir.localdomain"
    assert isinstance(said["firmware_revision"], int)
    assert "map" not in versions["target"]["flows"]  # M3UA says no version
    assert f"eir, Firmware-Revision {said['firmware_revision']}, Origin-Host" in page
    metrics = versions["target"]["metrics"]
    assert metrics["url"] == made.metrics_url
    assert metrics["version"] == __version__  # eir's own eir_build_info


def test_timelines_per_flow_with_the_partial_second_marked(made: Made) -> None:
    doc = made.doc
    for timeline in [doc["timeline"], *(f["timeline"] for f in doc["flows"])]:
        rows = {r["second"]: r for r in timeline}
        assert [rows[s]["partial"] for s in (0, 1, 2)] == [False] * 3
        assert rows[3]["partial"] and rows[3]["covered_s"] == pytest.approx(0.3, abs=0.002)
        assert all(r["covered_s"] == 0 for s, r in rows.items() if s > 3)
        assert {"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"} <= set(rows[0])
    s13 = doc["flows"][0]["timeline"]
    assert sum(r["sent"] for r in s13) == doc["flows"][0]["sent"]
    codes: dict[str, int] = {}
    for row in s13:
        for code, n in row["result_code"].items():
            codes[code] = codes.get(code, 0) + n
    assert codes == doc["flows"][0]["result_code"] and "5004" in codes
    assert doc["names"]["result_code"]["5004"] == "5004 DIAMETER_INVALID_AVP_VALUE"
    assert doc["names"]["equipment_status"]["white"] == "0 WHITELISTED"


def test_charts_series_names_and_thresholds(made: Made) -> None:
    for section in ("all flows", "s13", "map"):
        latency = made.chart(f"{section}: latency (ms)")
        series = re.findall(r'class="series" data-series="([^"]+)"', latency)
        assert series == ["p50", "p90", "p99", "p99.9", "max"]
        throughput = made.chart(f"{section}: throughput (requests/s)")
        answered = re.search(r'data-series="answered"[^>]*points="([^"]+)"', throughput)
        assert answered is not None
        assert len(answered.group(1).split()) == 3  # seconds 0-2; 3 (0.3 s) is left out
        errors = made.chart(f"{section}: errors (per second)")
        assert re.findall(r'data-series="([^"]+)"', errors) == ["timeouts", "errors", "mismatches"]
    total = made.chart("all flows: throughput (requests/s)")
    # the option's name, as the gate table and the messages write it
    assert 'data-threshold="--min-rate 150"' in total and 'stroke-dasharray="6 4"' in total
    assert "--max-p99-ms 250" in made.chart("all flows: latency (ms)")
    gates = re.search(r'<table class="gates">.*?</table>', made.page)
    assert gates is not None
    assert re.search(
        r'<td>max-p99-ms</td><td class="n">\u2264 250\.00 ms</td>'
        r'<td class="n">[\d,]+\.\d\d ms</td>',
        gates.group(0),
    )
    assert re.search(
        r'<td>min-rate</td><td class="n">\u2265 150\.0/s</td>'
        r'<td class="n">[\d,]+\.\d/s</td>',
        gates.group(0),
    )
    for svg in re.findall(r"<svg .*?</svg>", made.page):  # one style of labels per axis
        for axis in ("y-label", "x-label"):
            ticks = re.findall(rf'class="{axis}"[^>]*>([^<]*)<', svg)
            assert len({t.endswith("k") for t in ticks if t != "0"}) <= 1, ticks
    codes = made.chart("s13: result codes (answers/s)")
    bands = re.findall(r'class="band" data-series="([^"]+)"', codes)
    assert "2001 DIAMETER_SUCCESS" in bands and "5004 DIAMETER_INVALID_AVP_VALUE" in bands
    statuses = made.chart("map: equipment statuses (answers/s)")
    assert set(re.findall(r'class="band" data-series="([^"]+)"', statuses)) == {
        "0 WHITELISTED",
        "1 BLACKLISTED",
        "2 GREYLISTED",
    }
    labels = re.findall(r'class="y-label"[^>]*>([^<]*)<', made.page)
    assert labels and not [t for t in labels if "e+" in t or "e-" in t]


def test_tables_and_settings_are_html(made: Made) -> None:
    page = made.page
    assert "<pre>" not in page
    results = re.search(r'<table class="results">.*?</table>', page)
    assert results is not None
    heads = re.findall(r"<th>([^<]*)</th>", results.group(0))
    assert heads == [
        "flow",
        "sent",
        "answered",
        "timeouts",
        "errors",
        "mismatches",
        "rate/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
    ]
    assert re.findall(r"<tr(?: class=\"total\")?><td>([^<]+)</td>", results.group(0)) == [
        "s13",
        "map",
        "total",
    ]
    assert "<td>5004 DIAMETER_INVALID_AVP_VALUE</td>" in page
    assert "<td>0 WHITELISTED</td>" in page
    assert made.doc["settings"]["flows"][0]["mix"]["unknown"] == 0.45
    assert "0.44999999999999996" not in page + made.html_path.with_suffix(".json").read_text()
    assert "unknown 0.45" in page


@pytest.fixture
def metrics_page() -> Iterator[str]:
    """A metrics endpoint with an eir_build_info, on a free port."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = BUILD_INFO.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def test_the_target_version_from_eir_build_info(
    demo_db: Path, tmp_path: Path, metrics_page: str
) -> None:
    out = tmp_path / "r.json"
    with serve(demo_db) as served:
        result = sim(
            "run",
            "--target",
            f"tcp://127.0.0.1:{served.port()}",
            "--requests",
            "20",
            "--concurrency",
            "2",
            "--target-metrics",
            metrics_page,
            "--title",
            "versions",
            "--json",
            out,
            "--live",
            "never",
        )
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc["title"] == "versions" and doc["description"] == ""
    assert doc["versions"]["target"]["metrics"] == {
        "url": metrics_page,
        "version": "9.8.7",
        "python": "3.11.2",
        "pycrate": "0.8.1",
        "lmdb": "3.0.0",
    }


def test_a_bad_metrics_url_is_refused_before_the_run() -> None:
    result = sim("run", "--target", "127.0.0.1:1", "--target-metrics", "ftp://x/metrics")
    assert result.returncode == 2
    assert result.stderr == (
        "eir-sim: command line: target_metrics 'ftp://x/metrics' is not an http:// or "
        "https:// URL\n"
    )


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def screenshot(page: Path, png: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium is not None
    png.unlink(missing_ok=True)
    flags = ["--headless", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # chromium refuses to run as root with its sandbox
    subprocess.run(
        [chromium, *flags, f"--screenshot={png}", "--window-size=1280,2400", page.as_uri()],
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert png.exists(), f"chromium wrote no {png}"


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium is not installed (make chromium)"
)
def test_the_report_renders_in_a_real_browser(made: Made) -> None:
    png = OUT / "report.png"
    screenshot(made.html_path, png)
    assert png_size(png) == (1280, 2400)
    blank_page = OUT / "blank.html"
    blank_page.write_text("<!DOCTYPE html><html><body></body></html>\n")
    blank = OUT / "blank.png"
    screenshot(blank_page, blank)
    # a page of charts and tables compresses far worse than one colour
    assert png.stat().st_size > 5 * blank.stat().st_size
