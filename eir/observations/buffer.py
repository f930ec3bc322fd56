"""The sightings the answer path hands the observation writer: a bounded in-memory buffer.

The answer path calls :meth:`SightingBuffer.add` once per check that carries an IMSI: a length
test and a list append, no lock (one event loop per process), never a wait. A full buffer drops
the sighting and counts it (``dropped``). The writer (`eir.observations.writer`) takes
everything at once with :meth:`SightingBuffer.drain` (the list is swapped, not copied).

Layer 1: pure, no I/O.
"""

from __future__ import annotations

#: one sighting as appended: (IMEI of 14 digits, IMSI digits, time in seconds since the epoch);
#: a plain tuple, the same fields as :class:`eir.observations.record.Sighting`
Row = tuple[str, str, float]


class SightingBuffer:
    """At most ``size`` sightings waiting for the writer; past it, drops counted."""

    __slots__ = ("_rows", "drained", "dropped", "size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a sighting buffer of {size} rows holds nothing")
        self.size = size
        self._rows: list[Row] = []
        #: sightings handed to the writer, and dropped (buffer full), since start
        self.drained = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, imei: str, imsi: str, time: float) -> None:
        """One check's IMEI (14 digits) and IMSI at ``time``: kept, or dropped when full."""
        rows = self._rows
        if len(rows) < self.size:
            rows.append((imei, imsi, time))
        else:
            self.dropped += 1

    def drain(self) -> list[Row]:
        """Every sighting waiting, oldest first; the buffer is empty after."""
        rows = self._rows
        self._rows = []
        self.drained += len(rows)
        return rows
