"""The per-check log (``log.checks``): one line for each check worth telling, so that without
a broker an operator can still see why a handset was refused.

A line says the IMEI, the IMSI (masked as ``events.mask_imsi`` says), the protocol, the peer,
the answer (white, grey, black, unknown) and why (the rule and the list entry, pair or anomaly
that decided, as the check event says it). Lines are rate-limited (``log.checks_per_second``):
past the limit they are counted, and one line says how many were suppressed once the second is
over (at the next check line, or at the serving loop's next `CheckLog.flush`).

The answer path pays two attribute reads per answer with ``none`` and per white answer with
``non-white``: `wants` is tested inline before `note` (see `eir.checker.checker`), so that a
reload (SIGHUP) can turn the log on or off; `note` checks the level before it formats
anything.

Layer 2: the standard library's logging and the events' wording.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from eir.events import check_fields
from eir.logs import FIELDS
from eir.model import CheckRequest, CheckResult

__all__ = ["CheckLog", "RateLimit"]

log = logging.getLogger("eir.checks")


class RateLimit:
    """At most ``per_second`` in each one-second window of ``clock``; the rest are counted
    until `due` hands the count over, once their window is over."""

    def __init__(self, per_second: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.clock = clock
        self.window_end = -math.inf
        self.used = 0
        self.suppressed = 0

    def allow(self) -> bool:
        now = self.clock()
        if now >= self.window_end:
            self.window_end = now + 1.0
            self.used = 0
        if self.used < self.per_second:
            self.used += 1
            return True
        self.suppressed += 1
        return False

    def due(self) -> int:
        """How many were suppressed in windows now over (0 while the current one goes on);
        counted once."""
        if not self.suppressed or self.clock() < self.window_end:
            return 0
        count, self.suppressed = self.suppressed, 0
        return count


class CheckLog:
    """Writes the check lines ``log.checks`` asks for (``all`` or ``non-white``)."""

    def __init__(self, checks: str, per_second: int, mask: bool, limit: RateLimit | None = None):
        self.mask = mask
        self.limit = limit or RateLimit(per_second)
        self.on = False
        self.all = False
        self.configure(checks, per_second)

    def configure(self, checks: str, per_second: int) -> None:
        """``log.checks`` and ``log.checks_per_second``, at start and on a reload."""
        if checks not in ("none", "all", "non-white"):
            raise ValueError(f"checks: {checks!r} is not none, all or non-white")
        #: any line at all (else ``none``)
        self.on = checks != "none"
        #: every answer is logged, white ones too (else only the non-white: status != 0)
        self.all = checks == "all"
        self.limit.per_second = per_second

    def wants(self, result: CheckResult) -> bool:
        """What the caller tests inline: `note` is called only for these."""
        return self.all or (self.on and result.status != 0)  # EquipmentStatus.WHITELISTED

    def note(self, request: CheckRequest, result: CheckResult) -> None:
        """One line, unless the level hides it or the rate limit holds it back."""
        if not log.isEnabledFor(logging.INFO):
            return
        self.flush()
        if not self.limit.allow():
            return
        fields = check_fields(request, result, self.mask)
        log.info(
            "check imei %s imsi %s over %s from %s: %s (%s)",
            fields["imei"],
            fields["imsi"] or "-",
            fields["protocol"],
            fields["peer"] or "-",
            fields["answer"],
            fields["why"],
            extra={FIELDS: fields},
        )

    def flush(self) -> None:
        """Say how many lines the rate limit held back, once their second is over."""
        count = self.limit.due()
        if count:
            log.warning(
                "%d check lines suppressed (log.checks_per_second = %d)",
                count,
                self.limit.per_second,
            )
