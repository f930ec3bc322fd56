"""What `eir serve` observes of its checks (issue 17), wired: the observation store one
process opens once, the writer that drains the answer path's sightings into it, the writer's
metrics, and the exchange of deltas with the broker and the aggregator
(`eir.observations.node`). `eir.service` calls these while it wires a process."""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING

from eir.config import Config
from eir.events import EventQueue
from eir.host import node_name
from eir.observations.buffer import SightingBuffer
from eir.observations.store import ObservationStore, open_observations
from eir.observations.writer import ObservationWriter, pairing_events
from eir.observe.metrics import Metrics
from eir.store.lmdb_store import LmdbStore

if TYPE_CHECKING:  # imported when a broker is configured: aiomqtt and numpy cost every start
    from eir.observations.node import Exchange
    from eir.publish.session import BrokerSession

#: a metrics sampler: metric name -> (labels, value) rows
Sampler = Callable[[], dict[str, list[tuple[tuple[str, ...], float]]]]


def opener(config: Config) -> Callable[[], ObservationStore]:
    """The observation store of this process, opened once at its first use (LMDB refuses one
    environment opened twice in a process): the writer and the exchange share it."""
    opened: list[ObservationStore] = []

    def store() -> ObservationStore:
        if not opened:
            opened.append(open_observations(config))
        return opened[0]

    return store


#: how long an answer of the observation store is kept: an import of older sightings is
#: seen within this time
SEEN_TTL_S = 60.0
#: the most IMEIs whose answer is kept (some 30 MB at the bound)
SEEN_MOST = 200_000


class SeenCache:
    """When the store first saw an IMEI, remembered for ``ttl`` seconds for up to ``most``
    IMEIs: a device rule with an exemption may match a large share of the traffic (every
    2G-only phone in a switch-off), and each answer would otherwise cost a read of the store.
    Entries are kept in the order they were read: all live as long, so the first is the next
    to expire, and the one dropped when the cache is full."""

    def __init__(
        self,
        read: Callable[[str], int | None],
        *,
        ttl: float = SEEN_TTL_S,
        most: int = SEEN_MOST,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self._read = read
        self._ttl = ttl
        self._most = most
        self._clock = clock
        self._answers: dict[str, tuple[int | None, float]] = {}
        self.hits = 0
        self.reads = 0

    def __len__(self) -> int:
        return len(self._answers)

    def __call__(self, imei: str) -> int | None:
        now = self._clock()
        known = self._answers.get(imei)
        if known is not None and now < known[1]:
            self.hits += 1
            return known[0]
        value = self._read(imei)
        self.reads += 1
        answers = self._answers
        if known is not None:
            del answers[imei]  # re-read: to the end of the order
        while len(answers) >= self._most:
            del answers[next(iter(answers))]
        answers[imei] = (value, now + self._ttl)
        return value


def first_seen(observations: Callable[[], ObservationStore]) -> Callable[[str], int | None]:
    """When this process's observation store first saw an IMEI: the device rules' exemption
    (`eir.policy`), asked only when such a rule matched; cached (`SeenCache`), read from the
    store's shared read snapshot."""
    return SeenCache(lambda imei: observations().first_seen(imei))


def observation_writer(
    config: Config,
    leads: bool,
    queue: EventQueue | None,
    observations: Callable[[], ObservationStore],
) -> ObservationWriter | None:
    """The buffer the answer path appends sightings to, and the writer that drains it into the
    observation store (each process its own; the leading one, ``leads``, enforces retention).
    Its changes are marked for the exchange when a broker takes them or this node aggregates.
    None: ``observations.enabled`` is false."""
    settings = config.observations
    if not settings.enabled:
        return None
    pairing = queue is not None and config.events.pairing
    return ObservationWriter(
        observations,
        SightingBuffer(settings.buffer_size),
        node_name(config.mqtt),
        interval=settings.flush_interval_s,
        retention_days=settings.retention_days,
        purge=leads,
        publish=config.mqtt.broker is not None or settings.aggregate,
        on_changes=pairing_events(queue) if pairing and queue is not None else None,
    )


def observation_sampler(writer: ObservationWriter) -> Sampler:
    """The writer's metrics, sampled at each scrape."""

    def sample() -> dict[str, list[tuple[tuple[str, ...], float]]]:
        return {
            "eir_observations_recorded": [((), writer.written)],
            "eir_observations_dropped": [((), writer.buffer.dropped)],
            "eir_observations_lost": [((), writer.lost)],
            "eir_observations_write_failures": [((), writer.failures)],
            "eir_observations_batch": [((), writer.last_batch)],
            "eir_observations_flush_seconds": [((), writer.last_seconds)],
            "eir_observations_pairs": [((), writer.records)],
        }

    return sample


def observation_exchange(
    config: Config,
    store: LmdbStore,
    session: BrokerSession | None,
    queue: EventQueue | None,
    metrics: Metrics,
    observations: Callable[[], ObservationStore],
) -> Exchange | None:
    """The leading process's observation deltas out and, aggregating, in
    (`eir.observations.node`), over the store the writer writes (``observations``: its
    opener). None: observations are off, or neither a broker nor aggregation takes them."""
    settings = config.observations
    if not (settings.enabled and (session is not None or settings.aggregate)):
        return None
    from eir.observations.node import exchange

    found = exchange(config, True, node_name(config.mqtt), session, store, queue, observations())
    if found is not None:
        found.observe(metrics)
    return found
