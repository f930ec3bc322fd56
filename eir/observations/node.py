"""What a serving node runs of the exchange of observations: its delta publisher (with a broker)
and, with ``observations.aggregate``, the aggregator; and `eir observe`, the aggregator as a
process of its own.

Only the leading process of a node (`eir.service.Serving.leads`) publishes and aggregates: the
workers share one observation store.

Layer 2: asyncio, the stores and the broker session.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from eir.config import Config
from eir.events import EventQueue
from eir.observations.aggregate import Aggregator, ClassSender, Detector, known_findings
from eir.observations.exchange import DeltaPublisher, ExchangeStats
from eir.observations.store import ObservationStore
from eir.observe.metrics import Metrics
from eir.store.api import ListStore

if TYPE_CHECKING:
    from eir.publish.session import BrokerSession

log = logging.getLogger("eir.observations")

Start = Callable[[Coroutine[Any, Any, None]], None]


class Exchange:
    """A node's part in the exchange: what it publishes and, aggregating, what it merges."""

    def __init__(
        self,
        config: Config,
        store: ObservationStore,
        node: str,
        *,
        session: BrokerSession | None,
        lists: ListStore | None,
        queue: EventQueue | None,
        publish: bool = True,
    ) -> None:
        settings = config.observations
        self.store = store
        self.stats = ExchangeStats()
        self.publisher: DeltaPublisher | None = None
        self.aggregator: Aggregator | None = None
        prefix = config.mqtt.prefix
        if session is not None and publish:
            self.publisher = DeltaPublisher(
                store, node, prefix, settings.publish_interval_s, self.stats
            )
            session.parts.append(self.publisher)
        if settings.aggregate or not publish:
            detector = Detector(store, settings.duplicate_rules, known_findings(lists))
            self.aggregator = Aggregator(
                detector,
                ClassSender(config, lists, publish=session is not None).send,
                prefix=prefix,
                node=node,
                interval=settings.publish_interval_s,
                stats=self.stats,
                queue=queue if config.events.duplicates else None,
            )
            if session is not None:
                session.parts.append(self.aggregator)
            else:
                self.aggregator.local = True  # no broker: this node's own changes only

    def start(self, start: Start) -> None:
        """Start the aggregator's task (the publisher runs while the session is connected)."""
        if self.aggregator is not None:
            start(self.aggregator.run())

    def observe(self, metrics: Metrics) -> None:
        metrics.samplers.append(self.stats.samples)


def exchange(
    config: Config,
    leads: bool,
    node: str,
    session: BrokerSession | None,
    lists: ListStore,
    queue: EventQueue | None,
    store: ObservationStore | None,
) -> Exchange | None:
    """The node's exchange, when it has one: observations on, the leading process, and a broker
    or ``observations.aggregate``."""
    settings = config.observations
    if store is None or not settings.enabled or not leads:
        return None
    if session is None and not settings.aggregate:
        return None
    return Exchange(config, store, node, session=session, lists=lists, queue=queue)


def run_observer(config: Config, path: str | None) -> int:
    """`eir observe`: the aggregator alone, its deltas in and its events out through one broker
    session, the class published; until SIGTERM or SIGINT."""
    from eir.observations.store import open_observations
    from eir.publish.broker import node_name

    broker = config.mqtt.broker
    assert broker is not None
    name = node_name(config.mqtt)
    store = open_observations(config, path)
    try:
        asyncio.run(_observe(config, store, name))
    finally:
        store.close()
    return 0


async def _observe(config: Config, store: ObservationStore, name: str) -> None:
    from eir.logs import lifecycle as say
    from eir.publish.session import BrokerSession

    broker = config.mqtt.broker
    assert broker is not None
    queue = EventQueue(config.events.queue_size)
    session = BrokerSession(
        config.mqtt,
        broker,
        queue,
        mask_imsi=config.events.mask_imsi,
        store=None,
        fetch_timeout=config.distribution.fetch_timeout_s,
        name=name,
        client_id=f"{name}-observe",
    )
    node = Exchange(config, store, name, session=session, lists=None, queue=queue, publish=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await _metrics_endpoint(config, node, say)
    tasks = [loop.create_task(session.run())]
    node.start(lambda coro: tasks.append(loop.create_task(coro)))
    say(f"eir: observing {config.mqtt.prefix}/observations/+ on {broker} into {store.path}")
    say("eir: ready")
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            server.close()
    say("eir: stopping")


async def _metrics_endpoint(
    config: Config, node: Exchange, say: Callable[[str], None]
) -> asyncio.Server | None:
    """`eir observe`'s ``GET /metrics`` on ``metrics.listen`` (the exchange's series)."""
    from eir.observe.endpoint import serve_metrics
    from eir.observe.metrics import render

    where = config.metrics.listen
    if where is None:
        return None
    metrics = Metrics()
    node.observe(metrics)
    server, port = await serve_metrics(where.host, where.port, lambda: render([metrics.snapshot()]))
    say(f"eir: listening metrics http {where.host}:{port}")
    return server
