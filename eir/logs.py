"""The daemon's log: every line `eir serve` writes on stderr, in one style.

One record is one line, its time in UTC, ISO 8601 with milliseconds and ``Z``:

* ``text``: ``2026-11-30T01:45:12.345Z INFO eir: ready``, that is ``TIME LEVEL LOGGER: MESSAGE``,
  the logger followed by ``[wN]`` in worker N of ``--workers``
  (``... INFO eir.diameter[w1]: diameter peer up: ...``);
* ``json``: one object per line, ``{"time", "level", "logger", "worker" (in a worker),
  "message"}``, then the record's structured fields (a check's ``imei``, ``imsi``...) and
  ``exception`` when it carries a traceback.

The lifecycle lines (``serving lists from``, ``listening``, ``ready``, ``stopping``: what scripts
and service managers wait for) are said through `lifecycle`: logger ``eir``, level INFO, written
whatever ``--log-level`` says. Until `setup` runs (a library caller, a unit test) they are
printed as the plain ``eir: ...`` line they always were.

The other commands (`eir load`, `lookup`...) print their ``eir: ...`` messages as a user
interface, not through this log.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from eir.config import LOG_FORMATS, LOG_LEVELS
from eir.events import iso_time

__all__ = [
    "FIELDS",
    "LIFECYCLE",
    "JsonFormatter",
    "TextFormatter",
    "is_set_up",
    "lifecycle",
    "setup",
    "teardown",
]

#: the record attribute holding a line's structured fields (``extra={FIELDS: {...}}``)
FIELDS = "fields"
#: the lifecycle lines' logger
LIFECYCLE = "eir"

#: the handler `setup` installed in this process (none yet: the plain lifecycle lines)
_installed: list[logging.Handler] = []


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER[wN]: MESSAGE``; a traceback follows on the next lines."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.suffix = "" if worker is None else f"[w{worker}]"

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{iso_time(record.created)} {record.levelname} {record.name}{self.suffix}: "
            f"{record.getMessage()}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line (no newline inside: tracebacks are a string field)."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if self.worker is not None:
            body["worker"] = self.worker
        body["message"] = record.getMessage()
        fields = getattr(record, FIELDS, None)
        if fields:
            body.update(fields)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False, default=str)


def setup(level: str, form: str, worker: int | None = None) -> None:
    """Send every record at ``level`` or above to stderr as ``form`` (text or json) says,
    replacing whatever handlers the root logger had."""
    if level not in LOG_LEVELS:
        raise ValueError(f"{level!r} is not one of {', '.join(LOG_LEVELS)}")
    if form not in LOG_FORMATS:
        raise ValueError(f"{form!r} is not one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(worker) if form == "json" else TextFormatter(worker))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # Python's warnings too, as lines of logger py.warnings
    _installed[:] = [handler]


def teardown() -> None:
    """Undo `setup`: its handler removed, lifecycle lines plain again (a test, an embedder)."""
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
    _installed.clear()
    logging.captureWarnings(False)


def is_set_up() -> bool:
    """Whether `setup` ran in this process (`eir serve`, a worker)."""
    return bool(_installed)


def lifecycle(line: str, level: int = logging.INFO) -> None:
    """One lifecycle line (``eir: ready``; at ERROR, why the daemon stops): logged on ``eir``
    without the ``eir: `` prefix, past any ``--log-level``; the plain line on stderr while
    the log is not set up."""
    if not _installed:
        print(line, file=sys.stderr, flush=True)
        return
    logger = logging.getLogger(LIFECYCLE)
    message = line.removeprefix(f"{LIFECYCLE}: ")
    # Logger.handle skips the level check that logger.info makes (the filters still apply)
    logger.handle(logger.makeRecord(LIFECYCLE, level, "", 0, message, (), None))
