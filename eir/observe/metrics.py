"""Prometheus metrics: cheap counting on the answer path, the text format at scrape time.

The answer path only does ``Counter[key] += 1`` and a bucket increment. Everything else
(peers, queue, lists) is sampled when the endpoint is scraped. A process's numbers are a plain
:meth:`Metrics.snapshot`, so a supervisor can add up its workers' snapshots and serve one
endpoint; :func:`render` turns snapshots into the text format with ``prometheus_client``, which
also escapes labels and orders histogram buckets as Prometheus expects. `eir.observe.endpoint`
serves it.

Besides eir's own series, each scrape has ``eir_build_info`` (1, labelled with the versions of
eir, Python, pycrate and lmdb) and prometheus_client's ``process_*`` of the process serving the
endpoint; a supervisor adds its workers' with a ``worker`` label (`process_families`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from eir import __version__

#: the labels of ``eir_build_info``
BUILD_LABELS = ("version", "python", "pycrate", "lmdb")

#: answer-time buckets, seconds (an answer is tens of microseconds; a stalled store is not)
BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)

#: sampled series: name -> (kind, help, label names, how workers' values combine)
SAMPLED: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "eir_peers_connected": (
        "gauge",
        "Diameter peers (open) and M3UA associations connected",
        ("protocol",),
        "sum",
    ),
    "eir_connections_refused": (
        "counter",
        "Connections refused (pools full), evicted (to "
        "make room) or closed for a message left incomplete "
        "(read_timeout)",
        ("protocol", "outcome"),
        "sum",
    ),
    "eir_events_queued": ("gauge", "Events waiting for the MQTT broker", (), "sum"),
    "eir_events_published": ("counter", "Events handed to the MQTT broker", (), "sum"),
    "eir_events_dropped": (
        "counter",
        "Events dropped: queue full (broker away or slow)",
        (),
        "sum",
    ),
    "eir_mqtt_connected": ("gauge", "Processes connected to the MQTT broker", (), "sum"),
    "eir_list_entries": ("gauge", "Entries per list in the store", ("list",), "max"),
    "eir_list_generation": (
        "gauge",
        "The store's generation (one more per changing load)",
        (),
        "max",
    ),
    "eir_list_last_update_timestamp_seconds": (
        "gauge",
        "When the lists last changed (Unix time, seconds)",
        (),
        "max",
    ),
    "eir_list_version": (
        "gauge",
        "The last list update applied from MQTT (its sequence)",
        (),
        "max",
    ),
    "eir_list_updates_applied": ("counter", "List updates applied from MQTT", (), "sum"),
    "eir_list_update_failures": (
        "counter",
        "List updates that could not be applied (retried)",
        (),
        "sum",
    ),
    "eir_workers": ("gauge", "Processes answering", (), "sum"),
    "eir_observation_deltas_published": (
        "counter",
        "Observation deltas this node published (MQTT)",
        (),
        "sum",
    ),
    "eir_observation_deltas_received": ("counter", "Observation deltas aggregated", (), "sum"),
    "eir_observation_deltas_refused": (
        "counter",
        "Observation deltas refused (not well formed): nothing of them merged",
        (),
        "sum",
    ),
    "eir_observation_records_merged": (
        "counter",
        "Pair records the aggregator merged that changed its store",
        (),
        "sum",
    ),
    "eir_observation_merge_seconds": ("counter", "Time spent merging deltas", (), "sum"),
    "eir_duplicates": ("gauge", "IMEIs the duplicate rules match now", (), "max"),
    "eir_duplicate_class_updates": (
        "counter",
        "Updates of the duplicate class sent (published or applied)",
        (),
        "sum",
    ),
    "eir_class_checks": (
        "counter",
        "Checks of IMEIs holding a class (duplicate, a validity class) or matching a device "
        "rule (its name), by that class or rule and by what decided (class, anomaly, "
        "device-rule; pair, imei, range, unknown: another level did)",
        ("class", "rule"),
        "sum",
    ),
    "eir_observations_recorded": (
        "counter",
        "Checks with an IMSI written to the observation store",
        (),
        "sum",
    ),
    "eir_observations_dropped": (
        "counter",
        "Checks with an IMSI not observed: the buffer was full",
        (),
        "sum",
    ),
    "eir_observations_lost": (
        "counter",
        "Checks with an IMSI not observed: their write failed",
        (),
        "sum",
    ),
    "eir_observations_write_failures": (
        "counter",
        "Observation writes (or store openings) that failed",
        (),
        "sum",
    ),
    "eir_observations_batch": ("gauge", "Checks written by the last flush", (), "sum"),
    "eir_observations_flush_seconds": (
        "gauge",
        "How long the last flush of observations took",
        (),
        "max",
    ),
    "eir_observations_pairs": (
        "gauge",
        "Pair records in the observation store (each node's)",
        (),
        "max",
    ),
}

Sample = tuple[tuple[str, ...], float]
Sampler = Callable[[], dict[str, list[Sample]]]
CheckKey = tuple[str, str, str]  # protocol, status, result


class Latency:
    """A histogram: counts per bucket of :data:`BUCKETS` (the last one is +Inf) and the sum."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.sum += seconds


class Metrics:
    """One process's metrics."""

    def __init__(self) -> None:
        self.checks: Counter[CheckKey] = Counter()
        self.latency: dict[str, Latency] = {"s13": Latency(), "map": Latency()}
        self.samplers: list[Sampler] = []
        self.error_counts: list[Callable[[], Iterable[tuple[CheckKey, int]]]] = []

    def snapshot(self) -> dict[str, Any]:
        checks = Counter(self.checks)
        for source in self.error_counts:
            for key, count in source():
                checks[key] += count
        sampled: dict[str, list[Sample]] = {}
        for sampler in self.samplers:
            for name, samples in sampler().items():
                sampled.setdefault(name, []).extend(samples)
        return {
            "checks": [[*key, count] for key, count in sorted(checks.items())],
            "latency": {p: [list(h.counts), h.sum] for p, h in self.latency.items()},
            "sampled": {
                name: [[list(labels), value] for labels, value in samples]
                for name, samples in sampled.items()
            },
        }


def _merge(
    snapshots: Sequence[dict[str, Any]],
) -> tuple[
    Counter[CheckKey], dict[str, tuple[list[int], float]], dict[str, dict[tuple[str, ...], float]]
]:
    checks: Counter[CheckKey] = Counter()
    latency: dict[str, tuple[list[int], float]] = {}
    sampled: dict[str, dict[tuple[str, ...], float]] = {}
    for snap in snapshots:
        for protocol, status, result, count in snap.get("checks", []):
            checks[(protocol, status, result)] += count
        for protocol, (counts, total) in snap.get("latency", {}).items():
            old_counts, old_sum = latency.get(protocol, ([0] * len(counts), 0.0))
            latency[protocol] = (
                [a + b for a, b in zip(old_counts, counts, strict=True)],
                old_sum + total,
            )
        for name, samples in snap.get("sampled", {}).items():
            how = SAMPLED[name][3] if name in SAMPLED else "sum"
            series = sampled.setdefault(name, {})
            for labels, value in samples:
                key = tuple(labels)
                if how == "max":
                    series[key] = max(series.get(key, value), value)
                else:
                    series[key] = series.get(key, 0.0) + value
    return checks, latency, sampled


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def build_info() -> dict[str, str]:
    """What ``eir_build_info`` says: the versions of eir, Python, pycrate and lmdb."""
    versions = (__version__, platform.python_version(), _version("pycrate"), _version("lmdb"))
    return dict(zip(BUILD_LABELS, versions, strict=True))


def build_family() -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "eir_build_info",
        "Always 1: the versions of eir, Python, pycrate and lmdb in its labels",
        labels=BUILD_LABELS,
    )
    family.add_metric(tuple(build_info().values()), 1)
    return family


def process_families(workers: Mapping[str, int] | None = None) -> list[Metric]:
    """prometheus_client's ``process_*`` (CPU, memory, start time, descriptors) of this
    process, unlabelled as Prometheus expects, and of each of ``workers`` (name: pid) with the
    label ``worker``: a supervisor's and its workers' (a worker gone has none)."""
    families = {f.name: f for f in ProcessCollector(registry=None).collect()}
    for worker, pid in (workers or {}).items():
        for theirs in ProcessCollector(pid=functools.partial(int, pid), registry=None).collect():
            mine = families.setdefault(
                theirs.name, Metric(theirs.name, theirs.documentation, theirs.type)
            )
            for sample in theirs.samples:
                mine.add_sample(sample.name, {**sample.labels, "worker": worker}, sample.value)
    return list(families.values())


def render(snapshots: Sequence[dict[str, Any]], workers: Mapping[str, int] | None = None) -> bytes:
    """The Prometheus text format (0.0.4) of the sum of some processes' snapshots, with
    ``eir_build_info`` and the ``process_*`` series (`process_families`)."""
    checks, latency, sampled = _merge(snapshots)
    families: list[Metric] = [build_family(), *process_families(workers)]
    family = CounterMetricFamily(
        "eir_checks",
        "Requests answered, by protocol, Equipment-Status (none for an error answer) and result",
        labels=("protocol", "status", "result"),
    )
    for (protocol, status, result), count in sorted(checks.items()):
        family.add_metric((protocol, status, result), count)
    families.append(family)
    histogram = HistogramMetricFamily(
        "eir_answer_duration_seconds",
        "Time to answer one request inside eir (decode, decide, encode)",
        labels=("protocol",),
    )
    for protocol, (counts, total) in sorted(latency.items()):
        cumulative, running = [], 0
        for bound, count in zip((*[f"{b:g}" for b in BUCKETS], "+Inf"), counts, strict=True):
            running += count
            cumulative.append((bound, running))
        histogram.add_metric((protocol,), cumulative, total)
    families.append(histogram)
    for name, (kind, text, labels, _how) in SAMPLED.items():
        series = sampled.get(name, {})
        fam: CounterMetricFamily | GaugeMetricFamily
        if kind == "counter":
            fam = CounterMetricFamily(name, text, labels=labels)
        else:
            fam = GaugeMetricFamily(name, text, labels=labels)
        for key, value in sorted(series.items()):
            fam.add_metric(key, value)
        families.append(fam)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)
