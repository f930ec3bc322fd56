"""The log of a real `eir serve` (eir.logs, eir.check_log): every line of one style, text or
JSON, times in UTC; ``--log-level``; the per-check log over S13 and MAP with the IMSI masked,
and its rate limit; each connection event logged once."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eir.diameter.node import NodeIdentity
from tests.support.diameter import BLACK, BlockingClient, Served, serve
from tests.support.logs import TEXT_LINE
from tests.support.sigtran import BLACK as BLACK_TBCD
from tests.support.sigtran import Msc

IMSI = "001019876543210"
MASKED = "00101**********"
CHECK_KEYS = {"imei", "imsi", "protocol", "peer", "answer", "why"}


def wait_for(served: Served, found: Callable[[list[str]], bool], timeout: float = 20) -> None:
    """Until ``found(served.raw)``; the daemon writes as it goes."""
    deadline = time.monotonic() + timeout
    while not found(list(served.raw)):
        assert time.monotonic() < deadline, served.raw
        time.sleep(0.02)


def stopped(served: Served) -> list[str]:
    """Every line the daemon wrote, once it has stopped."""
    served.proc.terminate()
    assert served.proc.wait(30) == 0
    deadline = time.monotonic() + 20
    while served.lines[-1:] != ["<eof>"]:  # the reader has read the last line
        assert time.monotonic() < deadline, served.lines
        time.sleep(0.02)
    assert "eir: stopping" in served.lines
    return list(served.raw)


def records(raw: list[str]) -> list[dict[str, Any]]:
    """Each line parsed as one JSON object (a line that is not fails the test)."""
    out = []
    for line in raw:
        record = json.loads(line)
        assert isinstance(record, dict), line
        out.append(record)
    return out


def s13_black(port: int, host: str = "mme1.epc.example") -> None:
    client = BlockingClient(port, local=NodeIdentity(host, "epc.example"))
    try:
        client.check(BLACK, imsi=IMSI)
    finally:
        client.close()


def map_black(port: int) -> None:
    msc = Msc(port)
    try:
        msc.check(2, BLACK_TBCD)
    finally:
        msc.close()


def test_json_lines_from_the_supervisor_and_every_worker(demo_db: Path) -> None:
    with serve(demo_db, "--log-format", "json", "--workers", "2") as served:
        s13_black(served.port())
        map_black(served.port("m3ua"))
        wait_for(served, lambda raw: sum('"eir.checks"' in line for line in raw) >= 2)
        raw = stopped(served)
    found = records(raw)
    for record in found:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        assert record["time"].endswith("Z") and len(record["time"]) == 24, record
        assert record["level"] in ("debug", "info", "warning", "error"), record
    said = [(r["logger"], r["message"]) for r in found]
    assert said[0][1].startswith(f"serving lists from {demo_db}")
    assert ("eir", "ready (2 workers)") in said and ("eir", "stopping") in said
    lifecycle = [r for r in found if r["logger"] == "eir"]
    assert all("worker" not in r for r in lifecycle)  # the supervisor's
    checks = [r for r in found if r["logger"] == "eir.checks"]
    assert all(r["worker"] in (0, 1) for r in checks), checks
    s13 = next(r for r in checks if r["protocol"] == "s13")
    assert s13["imei"].startswith(BLACK[:14]) and s13["imsi"] == MASKED
    assert s13["answer"] == "black" and s13["why"].startswith("imei: imei 49015420323751 on black")
    assert s13["peer"].startswith("mme1.epc.example")
    mapped = next(r for r in checks if r["protocol"] != "s13")
    assert mapped["protocol"].startswith("map") and mapped["answer"] == "black"
    assert mapped["imsi"] is None and mapped.keys() >= CHECK_KEYS


def test_text_lines_all_match_one_shape(demo_db: Path) -> None:
    with serve(demo_db) as served:
        s13_black(served.port())
        map_black(served.port("m3ua"))
        wait_for(served, lambda raw: sum(" eir.checks: " in line for line in raw) >= 2)
        raw = stopped(served)
    assert raw and all(TEXT_LINE.match(line) for line in raw), raw
    checks = [line for line in raw if " INFO eir.checks: " in line]
    assert checks[0].endswith(
        f"INFO eir.checks: check imei {BLACK} imsi {MASKED} over s13 from mme1.epc.example "
        "(127.0.0.1): black (imei: imei 49015420323751 on black from demo)"
    ), checks
    assert re.search(
        r"INFO eir\.checks: check imei 49015420323751 imsi - over map from 127\.0\.0\.1:\d+: "
        r"black \(imei: imei 49015420323751 on black from demo\)$",
        checks[1],
    ), checks
    assert IMSI not in "\n".join(raw)


def test_warning_hides_info_but_not_the_lifecycle(demo_db: Path) -> None:
    with serve(demo_db, "--log-level", "warning") as served:
        s13_black(served.port())
        raw = stopped(served)
    assert all(TEXT_LINE.match(line) for line in raw), raw
    infos = [line for line in raw if " INFO " in line]
    assert infos and all(" INFO eir: " in line for line in infos), raw
    assert not any("eir.checks" in line or "peer up" in line for line in raw), raw


def test_checks_are_rate_limited_and_the_rest_counted(demo_db: Path, tmp_path: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text('[log]\nchecks = "all"\nchecks_per_second = 2\n')
    sent = 12
    with serve(demo_db, "--config", str(config)) as served:
        client = BlockingClient(served.port())
        try:
            for _ in range(sent):
                client.check(BLACK, imsi=IMSI)
        finally:
            client.close()

        def counted(raw: list[str]) -> int:
            logged = sum(" INFO eir.checks: check " in line for line in raw)
            suppressed = [line for line in raw if "check lines suppressed" in line]
            return logged + sum(int(line.split(": ", 1)[1].split()[0]) for line in suppressed)

        wait_for(served, lambda raw: counted(raw) == sent)
        raw = list(served.raw)
    suppressed = [line for line in raw if "check lines suppressed" in line]
    assert suppressed, raw
    assert TEXT_LINE.match(suppressed[0]) and " WARNING eir.checks: " in suppressed[0]
    assert suppressed[0].endswith("check lines suppressed (log.checks_per_second = 2)")
    assert sum(" INFO eir.checks: check " in line for line in raw) < sent


def test_no_check_lines_with_none(demo_db: Path, tmp_path: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text('[log]\nchecks = "none"\n')
    with serve(demo_db, "--config", str(config)) as served:
        s13_black(served.port())
        raw = stopped(served)
    assert not any("eir.checks" in line for line in raw), raw


def test_each_connection_event_is_logged_once(demo_db: Path) -> None:
    """Before: ASP-DOWN (every state) twice, from the M3UA core and its adapter; at debug a
    Diameter peer's ``closed:`` from the core, then ``down:`` from the adapter."""
    with serve(demo_db, "--log-level", "debug") as served:
        s13_black(served.port(), host="once.epc.example")
        map_black(served.port("m3ua"))
        raw = stopped(served)
    peer = [line for line in raw if "once.epc.example" in line and "eir.checks" not in line]
    assert len(peer) == 2, peer
    assert "diameter peer up: once.epc.example realm epc.example (responder)" in peer[0]
    assert "diameter peer once.epc.example (127.0.0.1) down: peer sent DPR (REBOOTING)" in peer[1]
    m3ua = [line for line in raw if " eir.m3ua: " in line]
    for state in ("ASP-INACTIVE", "ASP-ACTIVE", "ASP-DOWN"):
        assert sum(line.endswith(f": {state}") for line in m3ua) == 1, m3ua
    assert sum(" closed: " in line for line in m3ua) == 1, m3ua
