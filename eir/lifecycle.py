"""The clock entries with times are judged by: the wall clock plus ``lifecycle.clock_offset_s``
(a test lab's way to see next month's answers today; 0 on a live network).

One definition for every reader of that clock: the answer path (`eir serve` reads the offset of
its live configuration at each check that needs the clock, so a reload with SIGHUP moves it:
`eir.checker.answer_clock`), ``eir case show``, ``eir purge`` and the daemon's purge, and the
load time ``--grace`` and ``--expires-in`` count from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from eir.config import Config


class HasConfig(Protocol):
    """What holds the configuration a reload replaces (:class:`eir.reload.Live`)."""

    config: Config


def now(config: Config) -> float:
    """Seconds since the epoch by the lifecycle's clock."""
    return time.time() + config.lifecycle.clock_offset_s


def clock_of(config: Config) -> Callable[[], float]:
    """A clock for :func:`eir.policy.decide`: :func:`now` under ``config`` (the wall clock
    itself when the offset is 0)."""
    offset = config.lifecycle.clock_offset_s
    if not offset:
        return time.time
    return lambda: time.time() + offset


def following(live: HasConfig) -> Callable[[], float]:
    """:func:`now` under whatever configuration ``live`` holds when asked (a reload moves the
    offset): the answer path's clock, one call (it is asked at every check of an entry with
    times)."""
    wall = time.time

    def clock() -> float:
        return wall() + live.config.lifecycle.clock_offset_s  # now(live.config), inline

    return clock
