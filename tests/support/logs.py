"""Reading what `eir serve` writes on stderr (eir.logs): its text lines, its JSON lines, and
the ``LOGGER: MESSAGE`` that tests match (``eir: ready``), whichever the format."""

from __future__ import annotations

import json
import re
from typing import Any

#: every text line of the daemon: ``TIME LEVEL LOGGER[wN]: MESSAGE``, time in UTC with ms and Z
TEXT_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"(?P<logger>[A-Za-z0-9_.]+)(?:\[w(?P<worker>\d+)\])?: "
    r"(?P<message>.*)$"
)


def said(line: str) -> str:
    """A daemon's log line as ``LOGGER: MESSAGE`` (``eir: ready``, ``eir.m3ua: m3ua ...``),
    from a text or a JSON line; any other line as it is."""
    found = TEXT_LINE.match(line)
    if found is not None:
        return f"{found['logger']}: {found['message']}"
    if line.startswith("{"):
        try:
            record: dict[str, Any] = json.loads(line)
        except ValueError:
            return line
        return f"{record.get('logger')}: {record.get('message')}"
    return line
