"""The aggregator: deltas merged (a bad one refused), the changed IMEIs judged, the duplicate
class applied as one REPLACE, an event per IMEI newly found; the day boundary re-judges."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from eir.config import Config
from eir.config.keys import DuplicateRuleConfig
from eir.events import DuplicateFound, EventQueue, message_of
from eir.host import node_name
from eir.model import StoreClass
from eir.observations.aggregate import Aggregator, ClassSender, Detector
from eir.observations.delta import encode_delta
from eir.observations.exchange import ExchangeStats
from eir.observations.record import DAY, Observed, PairRecord
from eir.observations.store import ObservationStore
from eir.store.classes import class_rows
from eir.store.lmdb_store import LmdbStore

IMEI, OTHER = "35209900176148", "49015420323751"
T0 = 20_000 * DAY + 3600
RULE = DuplicateRuleConfig(name="together", kind="concurrent", min_imsis=3, minutes=10)


def imsi(n: int) -> str:
    return f"00101{n:010d}"


def seen(imei: str, n: int, time: int, node: str) -> Observed:
    return Observed(imei, imsi(n), node, PairRecord(time, time, (time // DAY,), 1))


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[ObservationStore, LmdbStore]]:
    obs = ObservationStore(tmp_path / "obs")
    lists = LmdbStore(str(tmp_path / "lists"), create=True)
    yield obs, lists
    obs.close()
    lists.close()


def aggregator(
    obs: ObservationStore, lists: LmdbStore, queue: EventQueue | None = None
) -> Aggregator:
    sender = ClassSender(Config(), lists, publish=False)
    return Aggregator(
        Detector(obs, [RULE]),
        sender.send,
        prefix="eir",
        node="agg",
        interval=0.01,
        stats=ExchangeStats(),
        queue=queue,
    )


def test_deltas_from_three_nodes_make_a_duplicate_applied_as_the_class(
    stores: tuple[ObservationStore, LmdbStore],
) -> None:
    obs, lists = stores
    queue = EventQueue(10)
    agg = aggregator(obs, lists, queue)

    async def run() -> None:
        for n, node in enumerate(("n1", "n2", "n3")):
            (raw,) = encode_delta(node, [seen(IMEI, n, T0 + 60 * n, node)])
            await agg.received(f"eir/observations/{node}", raw)
            await agg.received(f"eir/observations/{node}", raw)  # repeated: nothing changes
        await agg.received("eir/observations/n4", b'{"v":1,"node":"n4","pairs":[["1"]]}')
        await agg.step()

    asyncio.run(run())
    assert (agg.stats.deltas_received, agg.stats.deltas_refused) == (7, 1)
    assert agg.stats.records_merged == 3
    (row,) = class_rows(lists, StoreClass.DUPLICATE)
    assert (row.imei, row.rule, json.loads(row.figures)) == (
        IMEI,
        "together",
        {"imsis": 3, "minutes": 2},
    )
    assert row.added == T0 + 120
    # the class update's audit record: made by the daemon, by and from its node
    record = lists.stats(5, digest=False).history[-1]
    this = node_name(Config().mqtt)
    assert (record.action, record.origin, record.by, record.node, record.reason) == (
        "class",
        "daemon",
        this,
        this,
        "duplicates found",
    )
    (event,) = queue.take(10)
    assert isinstance(event, DuplicateFound)
    topic, body = message_of(event, "agg", True)
    assert topic == "events/duplicate"
    assert body["imsis"] == ["00101**********"] * 3
    assert (body["imei"], body["rule"], body["figures"]) == (IMEI, "together", row_figures(row))
    assert (agg.stats.duplicates, agg.stats.class_updates) == (1, 1)


def row_figures(row: object) -> dict[str, float]:
    return dict(json.loads(row.figures))  # type: ignore[attr-defined]


def test_the_class_goes_out_only_when_the_set_changes_and_clears_as_evidence_leaves(
    stores: tuple[ObservationStore, LmdbStore],
) -> None:
    obs, lists = stores
    agg = aggregator(obs, lists)
    obs.merge([seen(IMEI, n, T0 + n, "n1") for n in range(3)])
    agg.dirty.add(IMEI)
    asyncio.run(agg.step())
    assert agg.stats.class_updates == 1
    obs.merge([seen(OTHER, 9, T0 + 5, "n1")])  # another IMEI, no duplicate
    agg.dirty.add(OTHER)
    asyncio.run(agg.step())
    assert agg.stats.class_updates == 1
    # 31 days later (the clock moves with another IMEI): the day boundary re-judges IMEI
    obs.merge([seen(OTHER, 9, T0 + 31 * DAY, "n1")])
    agg.dirty.add(OTHER)
    asyncio.run(agg.step())
    assert agg.stats.class_updates == 2
    assert class_rows(lists, StoreClass.DUPLICATE) == []


def test_without_a_broker_the_local_outbox_feeds_the_aggregator(
    stores: tuple[ObservationStore, LmdbStore],
) -> None:
    from eir.observations.record import Sighting

    obs, lists = stores
    agg = aggregator(obs, lists)
    agg.local = True
    obs.observe("agg", [Sighting(IMEI, imsi(n), T0 + n) for n in range(3)])
    asyncio.run(agg.step())
    assert [r.imei for r in class_rows(lists, StoreClass.DUPLICATE)] == [IMEI]
    assert obs.outbox(10) == []
