"""The cache of first-seen answers the device rules' exemption reads (`eir.observing`)."""

from __future__ import annotations

import time
from pathlib import Path

from eir.observations.record import Sighting
from eir.observations.store import ObservationStore
from eir.observing import SeenCache, first_seen


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting(answers: dict[str, int]) -> tuple[list[str], SeenCache, Clock]:
    asked: list[str] = []
    clock = Clock()

    def read(imei: str) -> int | None:
        asked.append(imei)
        return answers.get(imei)

    return asked, SeenCache(read, ttl=60.0, most=3, clock=clock), clock


def test_a_second_ask_is_a_hit() -> None:
    asked, cache, _ = counting({"35000000000001": 1_600_000_000})
    assert cache("35000000000001") == 1_600_000_000
    assert cache("35000000000001") == 1_600_000_000
    assert cache("35000000000002") is None
    assert cache("35000000000002") is None  # never seen is remembered too
    assert asked == ["35000000000001", "35000000000002"]
    assert (cache.hits, cache.reads) == (2, 2)


def test_an_answer_expires_after_its_time_to_live() -> None:
    answers: dict[str, int] = {}
    asked, cache, clock = counting(answers)
    assert cache("35000000000001") is None
    answers["35000000000001"] = 1_500_000_000  # an import of older observations
    clock.now += 59.9
    assert cache("35000000000001") is None
    clock.now += 0.2
    assert cache("35000000000001") == 1_500_000_000
    assert asked == ["35000000000001", "35000000000001"]


def test_the_cache_is_bounded_and_drops_the_oldest() -> None:
    asked, cache, clock = counting({})
    for n in range(5):
        cache(f"3500000000000{n}")
        clock.now += 1
    assert len(cache) == 3
    asked.clear()
    cache("35000000000004")
    cache("35000000000002")
    assert asked == []
    cache("35000000000000")
    assert asked == ["35000000000000"]
    assert len(cache) == 3


def test_the_store_is_read_through_a_shared_snapshot(tmp_path: Path) -> None:
    store = ObservationStore(tmp_path / "obs", read_snapshot_ms=60_000)
    try:
        seen = first_seen(lambda: store)
        assert seen("35000000000001") is None
        assert store.first_seen("35000000000001") is None
        store.observe("n1", [Sighting("35000000000001", "001010000000001", 1_600_000_000)])
        # the snapshot (shared for a minute) is older than the write: not yet seen
        assert store.first_seen("35000000000001") is None
        assert seen("35000000000001") is None  # and the cache remembers the answer
    finally:
        store.close()
    fresh = ObservationStore(tmp_path / "obs")
    try:
        assert fresh.first_seen("35000000000001") == 1_600_000_000
    finally:
        fresh.close()


def test_an_idle_shared_snapshot_ends_at_the_next_write(tmp_path: Path) -> None:
    """A snapshot no check renews would keep every page written since from reuse."""
    store = ObservationStore(tmp_path / "obs", read_snapshot_ms=1)
    try:
        assert store.first_seen("35000000000001") is None
        assert store.holds_snapshot
        opened = time.monotonic()
        while time.monotonic() - opened < 0.002:  # the snapshot's 1 ms passes
            pass
        store.observe("n1", [Sighting("35000000000001", "001010000000001", 1_600_000_000)])
        assert not store.holds_snapshot
        assert store.first_seen("35000000000001") == 1_600_000_000
        assert store.holds_snapshot
    finally:
        store.close()
