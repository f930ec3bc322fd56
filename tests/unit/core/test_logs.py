"""The daemon's log lines (eir.logs) and the per-check log (eir.check_log), without a daemon:
the formatters on fixed records, the rate limit on an injected clock."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest

from eir import logs
from eir.check_log import CheckLog, RateLimit
from eir.config import Config
from eir.events import check_fields
from eir.identity import Imei, Imsi
from eir.model import CheckRequest
from eir.policy import decide
from tests.support.diameter import BLACK, PAIR_IMEI, PAIR_IMSI, demo_store
from tests.support.logs import TEXT_LINE, said

#: 2026-11-30T01:45:12.345Z
STAMP = 1_796_003_112.345


def record(
    name: str = "eir.test", level: int = logging.INFO, message: str = "hello %s", *args: object
) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, message, args or ("world",), None)
    made.created = STAMP
    return made


def test_a_text_line_is_time_level_logger_message() -> None:
    line = logs.TextFormatter().format(record())
    assert line == "2026-11-30T01:45:12.345Z INFO eir.test: hello world"
    assert TEXT_LINE.match(line) and said(line) == "eir.test: hello world"
    worker = logs.TextFormatter(worker=3).format(record(level=logging.WARNING))
    assert worker == "2026-11-30T01:45:12.345Z WARNING eir.test[w3]: hello world"
    assert said(worker) == "eir.test: hello world"


def test_a_json_line_is_one_object_with_the_fields() -> None:
    made = record("eir.checks")
    made.fields = {"imei": "49015420323751", "imsi": None}
    line = logs.JsonFormatter(worker=1).format(made)
    assert json.loads(line) == {
        "time": "2026-11-30T01:45:12.345Z",
        "level": "info",
        "logger": "eir.checks",
        "worker": 1,
        "message": "hello world",
        "imei": "49015420323751",
        "imsi": None,
    }
    assert said(line) == "eir.checks: hello world"
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record(level=logging.ERROR)
        failed.exc_info = sys.exc_info()
    text = logs.JsonFormatter().format(failed)
    assert "\n" not in text and "ValueError: boom" in json.loads(text)["exception"]
    assert "worker" not in json.loads(text)


@pytest.fixture
def root_logger() -> Iterator[None]:
    """`logs.setup` changes the root logger: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logs.teardown()


@pytest.mark.usefixtures("root_logger")
def test_lifecycle_lines_are_plain_until_setup_then_logged_past_the_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.lifecycle("eir: ready")
    assert capsys.readouterr().err == "eir: ready\n"
    logs.setup("error", "json")
    logging.getLogger("eir.service").warning("hidden")
    logs.lifecycle("eir: ready")
    logs.lifecycle("eir: cannot listen", logging.ERROR)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["level"], r["logger"], r["message"]) for r in lines] == [
        ("info", "eir", "ready"),
        ("error", "eir", "cannot listen"),
    ]
    with pytest.raises(ValueError, match="'xml' is not one of text, json"):
        logs.setup("info", "xml")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_counts_what_it_holds_back_and_hands_the_count_over_once() -> None:
    clock = Clock()
    limit = RateLimit(2, clock)
    assert [limit.allow() for _ in range(5)] == [True, True, False, False, False]
    assert limit.due() == 0  # its second goes on
    clock.now += 0.999
    assert not limit.allow() and limit.due() == 0
    clock.now += 0.001
    assert limit.due() == 4 and limit.due() == 0
    assert limit.allow() and limit.allow() and not limit.allow()
    clock.now += 5
    assert limit.due() == 1


def test_the_check_log_says_each_check_then_how_many_were_suppressed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = demo_store()
    clock = Clock()
    notes = CheckLog("non-white", 2, mask=True, limit=RateLimit(2, clock))
    request = CheckRequest(Imei.parse(BLACK), Imsi.parse("001019876543210"), "s13", "mme1 (::1)")
    result = decide(request, store.lookup, Config().policy)
    assert notes.wants(result) and not notes.all
    with caplog.at_level(logging.INFO, "eir.checks"):
        for _ in range(5):
            notes.note(request, result)
        notes.flush()
        clock.now += 1
        notes.flush()
        notes.note(request, result)
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    line = (
        "INFO",
        f"check imei {BLACK} imsi 00101********** over s13 from mme1 (::1): black "
        "(imei: imei 49015420323751 on black from demo)",
    )
    assert said == [
        line,
        line,
        ("WARNING", "3 check lines suppressed (log.checks_per_second = 2)"),
        line,
    ]
    assert caplog.records[0].fields == {  # type: ignore[attr-defined]
        "imei": BLACK,
        "imsi": "00101**********",
        "protocol": "s13",
        "map_version": None,
        "peer": "mme1 (::1)",
        "answer": "black",
        "why": "imei: imei 49015420323751 on black from demo",
    }


def test_the_check_log_costs_nothing_below_its_level(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limit = RateLimit(1, clock)
    notes = CheckLog("all", 1, mask=True, limit=limit)
    request = CheckRequest(Imei.parse(BLACK))
    result = decide(request, demo_store().lookup, Config().policy)
    with caplog.at_level(logging.WARNING, "eir.checks"):
        for _ in range(3):
            notes.note(request, result)
    assert not caplog.records and limit.used == 0 and limit.suppressed == 0


def test_a_pair_s_imsi_is_masked_in_why_too() -> None:
    request = CheckRequest(Imei.parse(PAIR_IMEI), Imsi.parse(PAIR_IMSI), "map-v2", "msc1")
    result = decide(request, demo_store().lookup, Config().policy)
    masked = check_fields(request, result, True)
    assert masked["imsi"] == "00101" + "*" * 10 and PAIR_IMSI not in masked["why"]
    assert masked["why"].startswith("pair: pair 35345678901234+00101**********")
    assert PAIR_IMSI in check_fields(request, result, False)["why"]
