"""M3UA: any bytes, whole or split, into the decoder and both sides of the ASP state machine give
ERR or events, never a crash or a hang; and every byte we send decodes again."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eir.sigtran import m3ua
from eir.sigtran.asp import AspConnection, M3uaSettings, Side
from eir.sigtran.m3ua import M3uaError, Message, ProtocolData, Tag, u32

PD = ProtocolData(1, 2, 3, 2, 0, 5, b"\x09\x81\x03")
VALID = [
    m3ua.encode(Message(m3ua.ASPUP)),
    m3ua.encode(Message(m3ua.ASPAC, ((Tag.TRAFFIC_MODE_TYPE, u32(1)),
                                     (Tag.ROUTING_CONTEXT, u32(1))))),
    m3ua.encode_data_fast(PD, 1, 7),
    m3ua.encode(Message(m3ua.BEAT, ((Tag.HEARTBEAT_DATA, b"x"),))),
    m3ua.encode(Message(m3ua.ASPIA)),
    m3ua.encode(Message(m3ua.ASPDN)),
    m3ua.encode(m3ua.ntfy(m3ua.STATUS_AS_ACTIVE)),
    m3ua.encode(m3ua.err(m3ua.ErrorCode.UNEXPECTED_MESSAGE)),
    m3ua.encode(Message(m3ua.ASPUP_ACK)),
    m3ua.encode(Message(m3ua.ASPAC_ACK)),
]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _drain(conn: AspConnection) -> None:
    data = conn.data_to_send()
    while data:
        length = int.from_bytes(data[4:8], "big")
        m3ua.decode(data[:length])
        data = data[length:]
    while conn.next_event() is not None:
        pass


@FUZZ
@given(st.binary(max_size=200))
def test_decoder_any_bytes(data: bytes) -> None:
    with contextlib.suppress(M3uaError):
        m3ua.decode(data)


@FUZZ
@given(st.lists(st.sampled_from(VALID), max_size=10), st.binary(max_size=40),
       st.lists(st.integers(1, 50), max_size=10), st.sampled_from(list(Side)),
       st.lists(st.tuples(st.integers(0, 500), st.integers(0, 255)), max_size=3))
def test_state_machine_any_stream(messages: list[bytes], junk: bytes, cuts: list[int],
                                  side: Side, edits: list[tuple[int, int]]) -> None:
    stream = bytearray(b"".join(messages) + junk)
    for pos, value in edits:
        if stream:
            stream[pos % len(stream)] = value
    conn = AspConnection(M3uaSettings(routing_contexts=(1,), network_appearance=7,
                                      max_message=4096), side, 0.0)
    pos = 0
    for cut in [*cuts, len(stream)]:
        conn.receive_data(bytes(stream[pos : pos + cut]), 1.0)
        pos += cut
        _drain(conn)
        if pos >= len(stream):
            break
    conn.handle_timer(10.0)
    _drain(conn)
