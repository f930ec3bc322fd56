"""The connection pools of `eir.transport.stream.Admission` and the refusal log throttle, with
stand-in connections and explicit times."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eir.config import parse_config
from eir.errors import ConfigError
from eir.transport.stream import EVICT_AFTER_S, Admission, Core, CoreAdapter
from eir.transport.throttle import MAX_KEYS, LogThrottle


class Conn(CoreAdapter):
    """A connection that is only admitted, made established, or closed."""

    def __init__(self, admission: Admission, remote: str) -> None:
        super().__init__(admission, set())
        self.remote = remote
        self.reason = ""

    def make_core(self, transport: asyncio.Transport) -> Core:
        raise NotImplementedError

    def close_now(self, reason: str) -> None:
        self.reason = reason
        self.admission.leave(self)


def connect(admission: Admission, remote: str, now: float, *, sends: bool = False) -> Conn | None:
    conn = Conn(admission, remote)
    if not admission.admit(conn, now):
        return None
    if sends:
        admission.engaged(conn)
    return conn


async def test_a_burst_from_one_address_busy_with_handshakes_is_let_in() -> None:
    pools = Admission("t", max_connections=100, max_pending=4, max_pending_per_address=2)
    conns = [connect(pools, "10.0.0.1", i / 100, sends=True) for i in range(100)]
    assert all(c is not None and not c.reason for c in conns)
    # even once stale, they are not thinned for more of the same address: refused at the cap
    assert connect(pools, "10.0.0.1", 5.0, sends=True) is None
    assert len(pools.pending) == 100 and pools.refused == 1 and pools.evicted == 0
    pools.close()


async def test_an_idle_flood_yields_to_another_address_at_once() -> None:
    pools = Admission("t", max_connections=64, max_pending=8, max_pending_per_address=2)
    flood = [connect(pools, "10.0.0.1", 0.0) for _ in range(100)]
    assert sum(c is not None for c in flood) == 64  # let in up to the cap, then refused
    peer = connect(pools, "10.0.0.2", 0.1)
    assert peer is not None
    first = flood[0]
    assert first is not None and "pending pool full" in first.reason
    # its handshake done, it is established and leaves the pending pool
    assert pools.established_now(peer)
    assert peer in pools.established and peer not in pools.pending
    pools.close()


async def test_an_address_over_its_share_thins_its_own_stale_idle_connections() -> None:
    pools = Admission("t", max_connections=8, max_pending=8, max_pending_per_address=2)
    busy = connect(pools, "10.0.0.1", 0.0, sends=True)
    idle = [connect(pools, "10.0.0.1", 0.0) for _ in range(7)]
    assert connect(pools, "10.0.0.1", EVICT_AFTER_S / 2) is None  # all young: refused
    again = connect(pools, "10.0.0.1", EVICT_AFTER_S + 0.1)
    assert again is not None
    assert idle[0] is not None and "pending per address full" in idle[0].reason
    assert busy is not None and not busy.reason  # the one that sent its handshake stays
    pools.close()


async def test_idle_connections_let_in_past_the_pool_are_swept_out() -> None:
    pools = Admission("t", max_connections=64, max_pending=8, max_pending_per_address=2)
    then = asyncio.get_running_loop().time() - 2 * EVICT_AFTER_S
    busy = [connect(pools, "10.0.0.1", then, sends=True) for _ in range(10)]
    idle = [connect(pools, "10.0.0.1", then) for _ in range(30)]
    assert len(pools.pending) == 40
    pools.sweep()
    assert len(pools.pending) == 10  # those busy with their handshake stay
    assert all(c is not None and not c.reason for c in busy)
    assert all(c is not None and c.reason == "idle past the pending pool" for c in idle)
    pools.close()


async def test_addresses_within_their_share_make_room_once_stale() -> None:
    pools = Admission("t", max_connections=4, max_pending=4, max_pending_per_address=2)
    conns = [connect(pools, f"10.0.0.{i}", float(i) / 10, sends=True) for i in range(4)]
    assert connect(pools, "10.0.1.1", 0.5) is None  # all young
    newcomer = connect(pools, "10.0.1.1", EVICT_AFTER_S + 0.05)
    assert newcomer is not None and conns[0] is not None and conns[0].reason
    pools.close()


async def test_established_connections_are_bounded_by_max_connections() -> None:
    pools = Admission("t", max_connections=2, max_pending=8, max_pending_per_address=8)
    conns = [connect(pools, "10.0.0.1", 0.0, sends=True) for _ in range(3)]
    assert [pools.established_now(c) for c in conns if c is not None] == [True, True, False]
    assert len(pools.established) == 2 and not pools.pending
    outbound = Conn(pools, "10.0.0.9")
    assert not pools.admit(outbound, 0.0, outbound=True)
    pools.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.booleans()), max_size=300))
def test_pools_stay_bounded_and_consistent(steps: list[tuple[int, int, bool]]) -> None:
    async def run() -> None:
        pools = Admission("t", max_connections=12, max_pending=6, max_pending_per_address=2)
        live: list[Conn] = []
        now = 0.0
        for address, action, sends in steps:
            now += 0.25
            if action == 0 and live:
                conn = live.pop(0)
                if conn.reason or not pools.established_now(conn):
                    continue
            elif action == 1 and live:
                pools.leave(live.pop())
            else:
                conn_ = connect(pools, f"10.0.0.{address}", now, sends=sends)
                if conn_ is not None:
                    live.append(conn_)
            assert len(pools.pending) <= 12 and len(pools.established) <= 12
            assert sum(map(len, pools.by_address.values())) == len(pools.pending)
            assert all(c in pools.pending for d in pools.idle.values() for c in d)
            assert not (set(pools.pending) & pools.established)
        pools.close()

    asyncio.run(run())


async def test_the_throttle_logs_once_then_a_count(caplog: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(logging.getLogger("eir.test"), "diameter")
    with caplog.at_level(logging.WARNING, "eir.test"):
        for _ in range(1_942):
            throttle.note("refused", "127.0.0.1", "pending pool full")
        for i in range(100):
            throttle.note("refused", f"10.0.0.{i}", "pending pool full")
        throttle.flush()
        throttle.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "diameter: refused a connection from 127.0.0.1 (pending pool full)"
    assert any("refused 1,941 connections from 127.0.0.1 in the last" in line for line in lines), (
        lines
    )
    assert any(
        f"refused {100 - MAX_KEYS + 1} connections from other addresses" in line for line in lines
    ), lines
    assert len(lines) <= 2 * MAX_KEYS + 1


@pytest.mark.parametrize("section", ["diameter", "m3ua"])
def test_the_admission_keys(section: str) -> None:
    config = parse_config(
        {
            section: {
                "max_pending_connections": 16,
                "max_pending_per_address": 4,
                "read_timeout_s": 2.5,
            }
        }
    )
    part = getattr(config, section)
    assert (part.max_pending_connections, part.max_pending_per_address, part.read_timeout_s) == (
        16,
        4,
        2.5,
    )
    for key, bad in (
        ("max_pending_connections", 0),
        ("max_pending_per_address", 0),
        ("read_timeout_s", 0.1),
    ):
        with pytest.raises(ConfigError, match=f"{section}.{key}: must be"):
            parse_config({section: {key: bad}})
