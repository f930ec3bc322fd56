"""The clock entries with times are judged by: the wall clock plus ``lifecycle.clock_offset_s``
(a test lab's way to see next month's answers today; 0 on a live network).

One definition for every reader of that clock: the answer path, ``eir purge`` and the daemon's
purge, and the load time ``--grace`` and ``--expires-in`` count from.
"""

from __future__ import annotations

import time

from eir.config import Config

DAY = 86400


def now(config: Config) -> float:
    """Seconds since the epoch by the lifecycle's clock."""
    return time.time() + config.lifecycle.clock_offset_s
