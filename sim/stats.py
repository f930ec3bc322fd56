"""Counting a run: latency histograms (log buckets, 1 % wide, mergeable across processes), one
`Tick` per second per worker, and the aggregate the report is made from."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

#: bucket i holds latencies in [GROWTH**i, GROWTH**(i+1)) microseconds
GROWTH = 1.01
_LOG_GROWTH = math.log(GROWTH)
#: mismatch and error examples kept per worker and in the report
EXAMPLES = 20


def buckets(latencies_s: list[float]) -> dict[int, int]:
    """Latencies in seconds -> {bucket: count}."""
    if not latencies_s:
        return {}
    us = np.maximum(np.asarray(latencies_s, dtype=np.float64) * 1e6, 1.0)
    index = np.floor(np.log(us) / _LOG_GROWTH).astype(np.int64)
    values, counts = np.unique(index, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def bucket_ms(index: int) -> float:
    """A bucket's middle, in milliseconds."""
    return float(GROWTH ** (index + 0.5) / 1000.0)


@dataclass
class LatencyDistribution:
    """A mergeable latency distribution with its exact maximum."""

    counts: Counter[int] = field(default_factory=Counter)
    total: int = 0
    max_s: float = 0.0
    sum_s: float = 0.0

    def add_samples(self, latencies_s: list[float]) -> None:
        if not latencies_s:
            return
        self.counts.update(buckets(latencies_s))
        self.total += len(latencies_s)
        top = max(latencies_s)
        self.max_s = top if top > self.max_s else self.max_s
        self.sum_s += math.fsum(latencies_s)

    def merge(self, other: LatencyDistribution) -> None:
        self.counts.update(other.counts)
        self.total += other.total
        self.max_s = max(self.max_s, other.max_s)
        self.sum_s += other.sum_s

    def quantile_ms(self, q: float) -> float:
        if not self.total:
            return 0.0
        rank = max(1, math.ceil(q * self.total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(bucket_ms(index), self.max_s * 1000.0)
        return self.max_s * 1000.0

    def summary(self) -> dict[str, float]:
        return {
            "p50": self.quantile_ms(0.50),
            "p90": self.quantile_ms(0.90),
            "p99": self.quantile_ms(0.99),
            "p999": self.quantile_ms(0.999),
            "max": self.max_s * 1000.0,
            "mean": self.sum_s / self.total * 1000.0 if self.total else 0.0,
        }


@dataclass
class Counts:
    """What happened to requests, by the second or in total."""

    sent: int = 0
    answered: int = 0
    timeouts: int = 0
    errors: int = 0
    mismatches: int = 0
    late: int = 0  # answers that came after their request timed out, or answer nothing sent
    latency: LatencyDistribution = field(default_factory=LatencyDistribution)
    results: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    mismatch_kinds: Counter[str] = field(default_factory=Counter)
    error_kinds: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, str]] = field(default_factory=list)
    #: why a worker stopped sending before the end (every connection lost)
    stopped: list[str] = field(default_factory=list)

    def merge(self, other: Counts) -> None:
        self.sent += other.sent
        self.answered += other.answered
        self.timeouts += other.timeouts
        self.errors += other.errors
        self.mismatches += other.mismatches
        self.late += other.late
        self.latency.merge(other.latency)
        self.results.update(other.results)
        self.statuses.update(other.statuses)
        self.kinds.update(other.kinds)
        self.mismatch_kinds.update(other.mismatch_kinds)
        self.error_kinds.update(other.error_kinds)
        self.stopped.extend(other.stopped)
        room = EXAMPLES - len(self.examples)
        if room > 0:
            self.examples.extend(other.examples[:room])


@dataclass
class Tick:
    """One worker's second: its counts and CPU time, sent to the parent."""

    flow: str
    second: int
    counts: Counts
    cpu_s: float = 0.0
    in_flight: int = 0
    last_answer: float = 0.0  # seconds after the start
    #: when the worker stopped sending (seconds after the start); None while it sends
    sent_until: float | None = None


@dataclass
class Aggregate:
    """The whole run: totals, per flow, and timelines of seconds (in total and per flow)."""

    total: Counts = field(default_factory=Counts)
    flows: dict[str, Counts] = field(default_factory=dict)
    timeline: dict[int, Counts] = field(default_factory=dict)
    flow_timelines: dict[str, dict[int, Counts]] = field(default_factory=dict)
    cpu_s: float = 0.0
    last_answer: float = 0.0
    in_flight: dict[tuple[str, int], int] = field(default_factory=dict)
    #: per flow, when its last worker stopped sending (seconds after the start)
    sent_until: dict[str, float] = field(default_factory=dict)

    def add(self, tick: Tick, worker: int = 0) -> None:
        self.total.merge(tick.counts)
        self.flows.setdefault(tick.flow, Counts()).merge(tick.counts)
        self.timeline.setdefault(tick.second, Counts()).merge(tick.counts)
        seconds = self.flow_timelines.setdefault(tick.flow, {})
        seconds.setdefault(tick.second, Counts()).merge(tick.counts)
        self.cpu_s += tick.cpu_s
        self.last_answer = max(self.last_answer, tick.last_answer)
        self.in_flight[(tick.flow, worker)] = tick.in_flight
        if tick.sent_until is not None:
            until = self.sent_until.get(tick.flow, 0.0)
            self.sent_until[tick.flow] = max(until, tick.sent_until)

    def sending_end(self, flow: str | None = None) -> float | None:
        """When sending ended, for a flow or the whole run; None when nobody said."""
        if flow is not None:
            return self.sent_until.get(flow)
        return max(self.sent_until.values()) if self.sent_until else None


def covered(second: int, sent_until: float | None) -> float:
    """The part of `second` that the sending covered: 1 for a full second, less for the last
    one (the run stopped in it), 0 for seconds after (answers and timeouts coming in)."""
    if sent_until is None:
        return 1.0
    return min(1.0, max(0.0, sent_until - second))
