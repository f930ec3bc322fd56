"""The clock answers are judged by (due dates, expiry): the wall clock plus
``lifecycle.clock_offset_s``, a test lab's way to see next month's answers today (0 on a live
network). `eir serve` reads the offset of its live configuration at each check that needs the
clock, so a reload (SIGHUP) moves it; the CLI reads it once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from eir.config import Config


def now(config: Config) -> float:
    """The time (seconds since the epoch) the answers are judged at under ``config``."""
    return time.time() + config.lifecycle.clock_offset_s


def clock_of(config: Config) -> Callable[[], float]:
    """A clock for :func:`eir.policy.decide`: :func:`now` under ``config``."""
    offset = config.lifecycle.clock_offset_s
    if not offset:
        return time.time
    return lambda: time.time() + offset
