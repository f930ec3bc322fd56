"""The simulator's readers take any bytes from a server under test: a result, a protocol error
or a closed connection, never a crash or a hang."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from eir.diameter.peer import State
from eir.sigtran.m3ua_asp import AspState
from sim import msc_role as map_role
from sim.probes import Outcome
from sim.replay import ReplayError, guess
from tests.support.sim import MapPair, S13Pair, map_probes, s13_probes

_S13 = s13_probes(count=10)
_MAP = map_probes(map_role.MapOptions(), count=10)


def _s13_answers() -> list[bytes]:
    pair = S13Pair(_S13[1])
    out = []
    for i in range(len(_S13[0])):
        pair.server.receive_data(pair.client.request(i, 100 + i), 0.0)
        pair.server.process(10)
        out.append(pair.server.data_to_send())
    return out


_ANSWERS = _s13_answers()


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.binary(max_size=120), max_size=6),
    st.integers(0, 9),
    st.integers(0, 400),
    st.integers(0, 255),
)
def test_s13_client_any_bytes(chunks: list[bytes], pick: int, at: int, value: int) -> None:
    pair = S13Pair(_S13[1])
    assert pair.client.peer.state is State.OPEN
    got: list[tuple[int, Outcome | None]] = []
    mutant = bytearray(_ANSWERS[pick])
    mutant[at % len(mutant)] = value
    for data in [bytes(mutant), *chunks]:
        pair.client.receive(data, 1.0, lambda k, o: got.append((k, o)))
        pair.client.data_to_send()
    for key, outcome in got:
        assert isinstance(key, int)
        assert outcome is None or isinstance(outcome, Outcome)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=5), st.integers(0, 300), st.integers(0, 255))
def test_map_client_any_bytes(chunks: list[bytes], at: int, value: int) -> None:
    options = map_role.MapOptions()
    pair = MapPair(options, _MAP[1])
    assert pair.client.asp.state is AspState.ACTIVE
    pair.pump(pair.client.request(0, 42))
    ((_, outcome),) = pair.answers
    answer = map_role.data_message(options, b"")  # a DATA header to mutate around
    mutant = bytearray(answer)
    mutant[at % len(mutant)] = value
    got: list[tuple[int, Outcome | None]] = []
    for data in [bytes(mutant), *chunks]:
        pair.client.receive(data, 1.0, lambda k, o: got.append((k, o)))
        pair.client.data_to_send()
    assert all(o is None or isinstance(o, Outcome) for _, o in got)
    assert outcome is not None


@given(st.binary(max_size=64))
def test_replay_guess_any_bytes(data: bytes) -> None:
    with contextlib.suppress(ReplayError):
        assert guess(data) in ("s13", "map")
