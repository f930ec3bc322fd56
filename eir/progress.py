"""A progress line on a terminal (rows, rows/s, ETA); nothing when stderr is not a terminal.
:class:`LoadProgress` is the line of a whole ``eir load``: reading, checking, writing.

``EIR_PROGRESS=1`` in the environment shows it anyway (tests use it to act mid-load).
"""

from __future__ import annotations

import contextlib
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
        self.show(self.done >= self.total)

    def show(self, final: bool = False) -> None:
        """Write the line (at most five times a second, unless ``final``)."""
        now = time.monotonic()
        if self.enabled and (now - self._shown >= 0.2 or final):
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


#: the share of a load's time each phase takes (measured on the bulk path: reading the file is
#: quick, checking it and writing its rows take about as long as each other)
PHASE_WEIGHTS = {"reading": 0.1, "checking": 0.45, "writing": 0.45}


class LoadProgress(ProgressLine):
    """The progress line of a whole load: the files read and checked (by bytes), then the
    rows written, with one ETA from the start of the load.

    The loader calls :meth:`read` and :meth:`checked` with the bytes done and :meth:`writing`
    once it knows the rows to write; the store calls the object with the rows written.
    """

    def __init__(self, total_bytes: int, stream: TextIO | None = None, force: bool = False) -> None:
        super().__init__("reading", total_bytes, stream, force)
        self.size = total_bytes
        self.done_in = dict.fromkeys(PHASE_WEIGHTS, 0)
        self.total_of = {"reading": total_bytes, "checking": total_bytes, "writing": 0}

    @classmethod
    def of_files(cls, paths: list[str]) -> LoadProgress:
        """The line of a load of these files (standard input counts as empty)."""
        total = 0
        for path in paths:
            with contextlib.suppress(OSError):  # the loader names a file it cannot read
                total += 0 if path == "-" else os.path.getsize(path)
        return cls(total)

    def read(self, octets: int) -> None:
        grown = self.done_in["reading"] + octets - self.size  # gunzipped: more than on disk
        if grown > 0:
            self.size += grown
            self.total_of["reading"] = self.total_of["checking"] = self.size
        self._advance("reading", octets)

    def checked(self, octets: int) -> None:
        self._advance("checking", octets)

    def writing(self, rows: int) -> None:
        """The files are read and checked: ``rows`` are to be written."""
        self.total_of["writing"] = rows
        self.done_in["reading"] = self.done_in["checking"] = self.size
        self._advance("writing", 0)

    def __call__(self, rows: int) -> None:
        self._advance("writing", rows)

    def share(self) -> float:
        """How much of the whole load is done, from 0 to 1."""
        total = 0.0
        for phase, weight in PHASE_WEIGHTS.items():
            size = self.total_of[phase]
            total += weight * (min(self.done_in[phase] / size, 1.0) if size else 0.0)
        return total

    def _advance(self, phase: str, amount: int) -> None:
        changed = phase != self.label or self.done == 0  # each phase is shown as it starts
        self.done_in[phase] += amount
        self.label, self.total, self.done = phase, self.total_of[phase], self.done_in[phase]
        self.show(changed or (phase == "writing" and self.done >= self.total))

    def render(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        share = self.share()
        eta = elapsed * (1 - share) / share if share > 0 else 0.0
        unit = "rows" if self.label == "writing" else "bytes"
        bar = "#" * int(share * 30)
        return (
            f"{self.label} [{bar:<30}] {self.done:,}/{self.total:,} {unit}, "
            f"{share:.0%} done, ETA {eta:.0f} s"
        )
