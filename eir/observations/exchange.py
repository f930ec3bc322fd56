"""A node's observation deltas out over MQTT: its outbox, published every
``observations.publish_interval_s`` on ``<prefix>/observations/<node>`` (QoS 1).

It rides on the node's one broker connection (`eir.publish.session.BrokerSession`, as a
`SessionPart`). Records leave the outbox (:meth:`ObservationStore.published`) only once the
broker confirmed every message that carried them; while the broker is away the outbox just grows,
on disk, and goes out on reconnect. A record changed meanwhile stays marked, so its newer state
follows: nothing is lost, and a delta sent twice changes nothing where it is merged.

Layer 2: asyncio and the observation store.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eir.errors import EirError
from eir.observations.delta import (
    MAX_PAIRS,
    decode_resync,
    encode_delta,
    observations_topic,
    resync_topic,
)
from eir.observations.record import ObservationError
from eir.observations.store import ObservationStore

if TYPE_CHECKING:  # aiomqtt is imported when a broker is configured
    import aiomqtt

log = logging.getLogger("eir.observations")


@dataclass
class ExchangeStats:
    """What the metrics say of the deltas and of the aggregation."""

    deltas_published: int = 0
    records_published: int = 0
    deltas_received: int = 0
    deltas_refused: int = 0
    records_merged: int = 0
    merge_seconds: float = 0.0
    duplicates: int = 0
    class_updates: int = 0

    def samples(self) -> dict[str, list[tuple[tuple[str, ...], float]]]:
        """The series of `eir.observe.metrics.SAMPLED` these stats feed."""
        return {
            "eir_observation_deltas_published": [((), self.deltas_published)],
            "eir_observation_deltas_received": [((), self.deltas_received)],
            "eir_observation_deltas_refused": [((), self.deltas_refused)],
            "eir_observation_records_merged": [((), self.records_merged)],
            "eir_observation_merge_seconds": [((), self.merge_seconds)],
            "eir_duplicates": [((), self.duplicates)],
            "eir_duplicate_class_updates": [((), self.class_updates)],
        }


class DeltaPublisher:
    """Publishes this node's outbox while the session is connected (a `SessionPart`), and
    serves an aggregator's resync request (``<prefix>/observations/resync``, retained): once
    per request, every record of this node goes back into the outbox."""

    def __init__(
        self,
        store: ObservationStore,
        node: str,
        prefix: str,
        interval: float,
        stats: ExchangeStats,
        most: int = MAX_PAIRS,
    ) -> None:
        self.store = store
        self.node = node
        self.topic = observations_topic(prefix, node)
        self.topics: tuple[str, ...] = (resync_topic(prefix),)
        self.interval = interval
        self.stats = stats
        self.most = most

    async def serve(self, client: aiomqtt.Client) -> None:
        """Every interval, the outbox until it is empty (a full delta is followed at once)."""
        while True:
            try:
                sent = await self.publish_once(client)
            except EirError as exc:  # the store: told, tried again at the next interval
                log.error("observations: the outbox could not be read: %s", exc)
                sent = 0
            if sent < self.most:
                await asyncio.sleep(self.interval)

    async def publish_once(self, client: aiomqtt.Client) -> int:
        """One delta of up to ``most`` records; how many it carried."""
        rows = await asyncio.to_thread(self.store.outbox, self.most)
        if not rows:
            return 0
        for message in encode_delta(self.node, rows, self.most):
            await client.publish(self.topic, message, qos=1)
            self.stats.deltas_published += 1
        self.stats.records_published += len(rows)
        await asyncio.to_thread(self.store.published, rows)
        log.debug("observations: published %d records", len(rows))
        return len(rows)

    async def received(self, topic: str, payload: bytes) -> None:
        """A resync request: this node's records marked again (published at the next turns of
        :meth:`serve`), unless this request was served already."""
        if not payload:  # the retained request cleared
            return
        try:
            request = decode_resync(payload)
            marked = await asyncio.to_thread(self.store.resend, self.node, request)
        except ObservationError as exc:
            log.warning("observations: a resync request on %s was refused: %s", topic, exc)
            return
        except EirError as exc:  # the store: the next request (or a restart) tries again
            log.error("observations: a resync request could not be served: %s", exc)
            return
        if marked is not None:
            log.info("observations: resync requested: %d records to publish again", marked)
