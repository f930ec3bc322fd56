"""The sighting buffer (bounded, drops counted) and the observation writer over a real store in
tmp_path: flush, retention by the store's clock, failures logged once and counted, and the
pairing changes it hands on."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from eir.errors import StoreError
from eir.events import EventQueue, PairingChanged, message_of
from eir.observations.buffer import SightingBuffer
from eir.observations.record import DAY
from eir.observations.store import ObservationStore, PairingChange
from eir.observations.writer import ObservationWriter, pairing_events

IMEI, OTHER = "35209900176148", "49015420323751"
IMSI_A, IMSI_B = "001010123456789", "001010000000002"
T0 = 20_000 * DAY + 3600


def test_a_full_buffer_drops_and_counts() -> None:
    buffer = SightingBuffer(2)
    for n in range(5):
        buffer.add(IMEI, IMSI_A, T0 + n)
    assert len(buffer) == 2 and buffer.dropped == 3
    assert buffer.drain() == [(IMEI, IMSI_A, T0), (IMEI, IMSI_A, T0 + 1)]
    assert len(buffer) == 0 and buffer.drained == 2 and buffer.drain() == []
    buffer.add(IMEI, IMSI_B, T0)  # room again after a drain
    assert len(buffer) == 1 and buffer.dropped == 3
    with pytest.raises(ValueError, match="holds nothing"):
        SightingBuffer(0)


def writer(tmp_path: Path, retention: int = 180, **kw: object) -> ObservationWriter:
    return ObservationWriter(
        lambda: ObservationStore(tmp_path / "obs", map_size_mb=1),
        SightingBuffer(100),
        "node-a",
        interval=3600,
        retention_days=retention,
        **kw,  # type: ignore[arg-type]
    )


async def test_flush_writes_the_buffer_in_one_batch_and_hands_on_changes(tmp_path: Path) -> None:
    told: list[PairingChange] = []
    w = writer(tmp_path, on_changes=told.extend)
    await w.start()
    w.buffer.add(IMEI, IMSI_A, T0)
    w.buffer.add(IMEI, IMSI_A, T0 + 60)
    assert await w.flush() == 2
    assert w.written == 2 and w.flushes == 1 and w.last_batch == 2 and w.records == 1
    w.buffer.add(IMEI, IMSI_B, T0 + 120)
    w.buffer.add(OTHER, IMSI_A, T0 + 180)
    assert await w.flush() == 2
    assert {(c.kind, c.imei, c.imsi, c.others) for c in told} == {
        ("sim", IMEI, IMSI_B, (IMSI_A,)),
        ("handset", OTHER, IMSI_A, (IMEI,)),
    }
    assert await w.flush() == 0  # nothing waiting: no transaction
    w.buffer.add(OTHER, IMSI_B, T0 + 240)
    await w.close()  # flushes what is left
    store = ObservationStore(tmp_path / "obs")
    try:
        assert store.stats().pairs == 4
        checks = {(p.imsi, p.node): p.record.checks for p in store.pairs(IMEI)}
        assert checks == {(IMSI_A, "node-a"): 2, (IMSI_B, "node-a"): 1}
    finally:
        store.close()


async def test_retention_follows_the_store_clock_once_a_day(tmp_path: Path) -> None:
    w = writer(tmp_path, retention=2)
    await w.start()
    w.buffer.add(IMEI, IMSI_A, T0)
    w.buffer.add(IMEI, IMSI_B, T0 + DAY)
    await w.flush()
    assert w.records == 2
    w.buffer.add(OTHER, IMSI_A, T0 + 2 * DAY)  # day 20_002: keeps 20_001 and 20_002
    await w.flush()
    assert w.store is not None
    assert [p.imsi for p in w.store.pairs(IMEI)] == [IMSI_B]
    await w.close()


async def test_retention_runs_at_start_and_not_on_a_worker(tmp_path: Path) -> None:
    store = ObservationStore(tmp_path / "obs")
    store.observe("node-a", [(IMEI, IMSI_A, T0), (OTHER, IMSI_A, T0 + 10 * DAY)])
    store.close()
    worker = writer(tmp_path, retention=5, purge=False)
    await worker.start()
    assert worker.store is not None and len(worker.store.pairs(IMEI)) == 1
    await worker.close()
    lead = writer(tmp_path, retention=5)
    await lead.start()
    assert lead.store is not None and lead.store.pairs(IMEI) == []
    await lead.close()


async def test_failures_are_logged_once_counted_and_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "obs").write_text("not a directory")
    w = writer(tmp_path)
    with caplog.at_level(logging.ERROR, "eir.observations"):
        await w.start()
        for n in range(3):
            w.buffer.add(IMEI, IMSI_A, T0 + n)
            assert await w.flush() == 1
    assert w.failures == 4 and w.lost == 3 and w.written == 0 and w.store is None
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("observations: cannot open the observation store: ")
    assert line.endswith("(said once until a write succeeds)")
    (tmp_path / "obs").unlink()
    w.buffer.add(IMEI, IMSI_A, T0)
    with caplog.at_level(logging.INFO, "eir.observations"):
        await w.flush()
    assert w.written == 1 and caplog.records[-1].getMessage() == "observations: written again"
    await w.close()


async def test_a_failing_write_loses_the_batch_and_the_next_one_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = writer(tmp_path)
    await w.start()
    assert w.store is not None

    def full(*_: object, **__: object) -> None:
        raise StoreError("obs: the observation store is full (1 MiB)")

    monkeypatch.setattr(w.store, "observe", full)
    w.buffer.add(IMEI, IMSI_A, T0)
    await w.flush()
    assert (w.failures, w.lost, w.written) == (1, 1, 0)
    monkeypatch.undo()
    w.buffer.add(IMEI, IMSI_A, T0)
    await w.flush()
    assert (w.failures, w.lost, w.written) == (1, 1, 1)
    await w.close()


async def test_the_run_task_flushes_every_interval(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.interval = 0.01
    task = asyncio.get_running_loop().create_task(w.run())
    w.buffer.add(IMEI, IMSI_A, T0)
    deadline = time.monotonic() + 10
    while w.written < 1:
        assert time.monotonic() < deadline, "the run task wrote nothing in 10 s"
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await w.close()


def test_pairing_changes_become_masked_events() -> None:
    queue = EventQueue(10)
    pairing_events(queue)(
        [
            PairingChange("handset", OTHER, IMSI_A, (IMEI,), T0),
            PairingChange("sim", IMEI, IMSI_B, (IMSI_A,), T0),
        ]
    )
    handset, sim = queue.take(2)
    assert isinstance(handset, PairingChanged)
    assert message_of(handset, "n", mask=True) == (
        "events/pairing",
        {
            "type": "pairing",
            "time": "2024-10-04T01:00:00.000Z",
            "node": "n",
            "kind": "handset",
            "imei": OTHER,
            "imsi": "00101**********",
            "others": [IMEI],
        },
    )
    assert message_of(sim, "n", mask=False)[1]["others"] == [IMSI_A]
    assert message_of(sim, "n", mask=True)[1]["others"] == ["00101**********"]


async def test_without_a_broker_nothing_is_marked_for_publishing(tmp_path: Path) -> None:
    for publish, marked in ((False, 0), (True, 2)):
        w = writer(tmp_path / str(publish), publish=publish)
        w.buffer.add(IMEI, IMSI_A, T0)
        w.buffer.add(OTHER, IMSI_A, T0)
        await w.flush()
        assert w.store is not None and w.store.stats().pairs_marked == marked
        await w.close()


def test_retention_in_small_steps_is_retention_at_once(tmp_path: Path) -> None:
    """Steps of 1 to 4 records (a pair's records never split) end where one purge does."""
    from eir.observations.record import Observed, PairRecord

    rows = [
        Observed(imei, imsi, node, PairRecord(T0 + d * DAY, T0 + d * DAY, (20_000 + d,), 1))
        for n, (imei, imsi) in enumerate(
            [(IMEI, IMSI_A), (IMEI, IMSI_B), (OTHER, IMSI_A), (OTHER, IMSI_B)]
        )
        for node, d in (("a", n % 3), ("b", 3), ("c", 0))
        if not (node == "b" and n % 2)
    ]

    def state(store: ObservationStore) -> tuple[object, ...]:
        return (list(store.scan()), store.by_imsi(IMSI_A), store.by_imsi(IMSI_B))

    whole = ObservationStore(tmp_path / "whole")
    whole.merge(rows)
    assert whole.purge(20_002) == (7, 0)
    expected = state(whole)
    assert [(o.imei, o.imsi, o.node) for o in expected[0]] == [  # type: ignore[attr-defined]
        (IMEI, IMSI_A, "b"),
        (OTHER, IMSI_A, "a"),
        (OTHER, IMSI_A, "b"),
    ]
    assert expected[2] == []  # IMSI_B's pairs all gone, its index too
    for most in (1, 2, 3, 4):
        store = ObservationStore(tmp_path / f"step{most}")
        store.merge(rows)
        start: bytes | None = b""
        deleted = 0
        while start is not None:
            step = store.purge_step(20_002, start, most)
            deleted += step.deleted
            start = step.next
        assert deleted == 7 and state(store) == expected
        store.close()
    whole.close()


async def test_a_purge_goes_on_one_step_per_flush(tmp_path: Path) -> None:
    store = ObservationStore(tmp_path / "obs")
    store.observe("node-a", [(IMEI, f"00101000000000{n}", T0) for n in range(5)])
    store.observe("node-a", [(OTHER, IMSI_A, T0 + 10 * DAY)])
    store.close()
    w = writer(tmp_path, retention=5)
    w.purge_step = 2
    await w.start()  # one step: 2 of the 5 old records
    assert w.store is not None and len(w.store.pairs(IMEI)) == 3
    await w.flush()  # nothing to write, one more step
    assert len(w.store.pairs(IMEI)) == 1
    await w.flush()
    assert w.store.pairs(IMEI) == [] and len(w.store.pairs(OTHER)) == 1
    await w.close()


def test_a_pairing_change_names_at_most_ten_others(tmp_path: Path) -> None:
    store = ObservationStore(tmp_path / "obs")
    imeis = [f"3520990017{n:04d}" for n in range(12)]
    store.observe("a", [(imei, IMSI_A, T0) for imei in imeis[:11]])
    store.observe("a", [(IMEI, f"0010100000{n:05d}", T0) for n in range(11)])
    changes = store.observe("a", [(imeis[11], IMSI_A, T0), (IMEI, IMSI_A, T0)]).changes
    assert [(c.kind, c.imei, len(c.others)) for c in changes] == [
        ("handset", imeis[11], 10),
        ("handset", IMEI, 10),
        ("sim", IMEI, 10),
    ]
    assert changes[0].others == tuple(imeis[:10])
    assert len(store.by_imsi(IMSI_A)) == 13  # reading is not capped
    store.close()
