"""Log throttling for repeated events (refused or closed connections): the first event of a
kind from one address is logged at once, the rest as one line with a count per interval."""

from __future__ import annotations

import asyncio
import logging

#: seconds between the count lines of one kind of event from one address
INTERVAL_S = 10.0
#: addresses counted apart within one interval; the others share one "other addresses" count
MAX_KEYS = 32
OTHERS = "other addresses"


class LogThrottle:
    """``note("refused", "127.0.0.1", "pending pool full")`` logs "diameter: refused a
    connection from 127.0.0.1 (pending pool full)" the first time, then at most one line per
    interval: "diameter: refused 1,942 connections from 127.0.0.1 in the last 10 s (pending
    pool full)". Lines are bounded by keys x intervals, whatever the rate of events."""

    def __init__(
        self,
        log: logging.Logger,
        label: str,
        interval_s: float = INTERVAL_S,
        level: int = logging.WARNING,
    ) -> None:
        self.log = log
        self.label = label
        self.interval_s = interval_s
        self.level = level
        #: (verb, address, reason) -> events since the last line
        self.counts: dict[tuple[str, str, str], int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._since = 0.0  # when the interval being counted began

    def note(self, verb: str, address: str, reason: str) -> None:
        key = (verb, address or "?", reason)
        counts = self.counts
        if key in counts:
            counts[key] += 1
            return
        if len(counts) >= MAX_KEYS:  # bounded whatever the addresses and reasons
            key = (verb, OTHERS, "various reasons")
            counts[key] = counts.get(key, 0) + 1
            return
        counts[key] = 0  # counting from now on; this one is logged at once
        self.log.log(
            self.level, "%s: %s a connection from %s (%s)", self.label, verb, key[1], reason
        )
        if self._timer is None:
            self._start()

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._since = loop.time()
        self._timer = loop.call_later(self.interval_s, self.flush)

    def flush(self) -> None:
        """Log the count of every key with events since its last line; keys without any are
        forgotten (their next event is logged at once again)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        elapsed = asyncio.get_running_loop().time() - self._since
        quiet = []
        for key, count in self.counts.items():
            if not count:
                quiet.append(key)
                continue
            verb, address, reason = key
            self.log.log(
                self.level,
                "%s: %s %s connection%s from %s in the last %.3g s (%s)",
                self.label,
                verb,
                f"{count:,}",
                "" if count == 1 else "s",
                address,
                elapsed,
                reason,
            )
            self.counts[key] = 0
        for key in quiet:
            del self.counts[key]
        if self.counts:
            self._start()

    def close(self) -> None:
        """Log the counts not logged yet (the process is stopping) and stop counting."""
        self.flush()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.counts.clear()
