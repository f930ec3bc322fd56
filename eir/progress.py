"""A progress line on a terminal (rows, rows/s, ETA); nothing when stderr is not a terminal.

``EIR_PROGRESS=1`` in the environment shows it anyway (tests use it to act mid-load).
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


class ProgressLine:
    def __init__(
        self, label: str, total: int, stream: TextIO | None = None, force: bool = False
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = force or os.environ.get("EIR_PROGRESS") == "1" or self.stream.isatty()
        self.label = label
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._shown = 0.0

    def __call__(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if self.enabled and (now - self._shown >= 0.2 or self.done >= self.total):
            self._shown = now
            self.stream.write("\r" + self.render(now) + "\x1b[K")
            if not self.stream.isatty():
                self.stream.write("\n")
            self.stream.flush()

    def render(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        share = self.done / self.total if self.total else 1.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * int(share * 30)
        return (
            f"{self.label} [{bar:<30}] {self.done:,}/{self.total:,} rows "
            f"{rate:,.0f} rows/s ETA {eta:.0f} s"
        )

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
