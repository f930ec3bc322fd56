"""`eir.service.serve` in this process, on port 0: what it tells its caller (eir.channel), and
a shutdown triggered by setting the injected event (no signals, no subprocess)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from eir.channel import Listening, Message, MetricsSnapshot, Ready
from eir.config import Config, DiameterConfig, Endpoint, M3uaConfig, MetricsConfig
from eir.service import Serving, serve
from eir.startup import InstanceError, open_store
from eir.store.lmdb_store import LmdbStore

ANY_PORT = Endpoint("tcp", "127.0.0.1", 0)


def _config() -> Config:
    return replace(
        Config(),
        diameter=replace(DiameterConfig(), listen=(ANY_PORT,)),
        m3ua=replace(M3uaConfig(), listen=(ANY_PORT,)),
        metrics=MetricsConfig(listen=ANY_PORT),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LmdbStore]:
    opened = open_store(Config(), str(tmp_path / "db"), create=True)
    yield opened
    opened.close()


async def _until(messages: list[Message], kind: type, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not any(isinstance(m, kind) for m in messages):
            await asyncio.sleep(0.01)


async def _scrape(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


async def test_serve_tells_its_listeners_and_stops_when_the_event_is_set(
    store: LmdbStore,
) -> None:
    messages: list[Message] = []
    stop = asyncio.Event()
    serving = asyncio.get_running_loop().create_task(
        serve(Serving(_config(), store), stop, messages.append)
    )
    await _until(messages, Ready)
    ready = messages[-1]
    assert isinstance(ready, Ready)
    assert messages[:-1] == list(ready.listening)
    assert [(w.protocol, w.transport) for w in ready.listening] == [
        ("metrics", "http"),
        ("diameter", "tcp"),
        ("m3ua", "tcp"),
    ]
    assert all(w.host == "127.0.0.1" and w.port > 0 for w in ready.listening)
    assert (
        ready.listening[1].line
        == f"eir: listening diameter tcp 127.0.0.1:{ready.listening[1].port}"
    )

    metrics = ready.listening[0].port
    assert b"eir_workers 1.0" in await _scrape(metrics)
    diameter = ready.listening[1].port
    _reader, writer = await asyncio.open_connection("127.0.0.1", diameter)

    stop.set()
    await asyncio.wait_for(serving, 10)
    writer.close()
    await writer.wait_closed()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", diameter)


async def test_a_worker_tells_its_metrics_and_serves_no_endpoint(store: LmdbStore) -> None:
    messages: list[Message] = []
    stop = asyncio.Event()
    serving = asyncio.get_running_loop().create_task(
        serve(Serving(_config(), store, worker=1), stop, messages.append)
    )
    await _until(messages, MetricsSnapshot)
    await _until(messages, Ready)
    listening = [m for m in messages if isinstance(m, Listening)]
    assert [w.protocol for w in listening] == ["diameter", "m3ua"]
    snapshot = next(m for m in messages if isinstance(m, MetricsSnapshot)).snapshot
    assert snapshot["sampled"]["eir_workers"] == [[[], 1]]
    stop.set()
    await asyncio.wait_for(serving, 10)


@pytest.mark.parametrize("which", ["metrics", "diameter", "m3ua"])
async def test_a_listener_that_cannot_open_says_so_in_eirs_words(
    store: LmdbStore, which: str
) -> None:
    """What `eir.startup`'s checks before serving did not see (an address gone since), said as
    they say it, not in asyncio's words."""
    gone = Endpoint("tcp", "192.0.2.1", 0)  # TEST-NET-1: no interface has it
    config = _config()
    if which == "metrics":
        config = replace(config, metrics=MetricsConfig(listen=gone))
    else:
        section = getattr(config, which)
        config = replace(config, **{which: replace(section, listen=(gone,))})
    with pytest.raises(InstanceError) as raised:
        await serve(Serving(config, store), asyncio.Event(), lambda message: None)
    assert str(raised.value) == (
        f"cannot listen on {which} tcp 192.0.2.1:0: Cannot assign requested address"
    )
