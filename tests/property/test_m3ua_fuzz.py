"""M3UA: any bytes, whole or split, into the decoder and both sides of the ASP state machine give
ERR or events, never a crash or a hang; and every byte we send decodes again."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eir.sigtran import m3ua
from eir.sigtran.m3ua import M3uaError, Message, ProtocolData, Tag, u32
from eir.sigtran.m3ua_asp import AspConnection, M3uaSettings, Side

PD = ProtocolData(1, 2, 3, 2, 0, 5, b"\x09\x81\x03")
VALID = [
    m3ua.encode(Message(m3ua.ASPUP)),
    m3ua.encode(
        Message(m3ua.ASPAC, ((Tag.TRAFFIC_MODE_TYPE, u32(1)), (Tag.ROUTING_CONTEXT, u32(1))))
    ),
    m3ua.encode_data(PD, 1, 7),
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
@given(
    st.lists(st.sampled_from(VALID), max_size=10),
    st.binary(max_size=40),
    st.lists(st.integers(1, 50), max_size=10),
    st.sampled_from(list(Side)),
    st.lists(st.tuples(st.integers(0, 500), st.integers(0, 255)), max_size=3),
)
def test_state_machine_any_stream(
    messages: list[bytes], junk: bytes, cuts: list[int], side: Side, edits: list[tuple[int, int]]
) -> None:
    stream = bytearray(b"".join(messages) + junk)
    for pos, value in edits:
        if stream:
            stream[pos % len(stream)] = value
    conn = AspConnection(
        M3uaSettings(routing_contexts=(1,), network_appearance=7, max_message=4096), side, 0.0
    )
    pos = 0
    for cut in [*cuts, len(stream)]:
        conn.receive_data(bytes(stream[pos : pos + cut]), 1.0)
        pos += cut
        _drain(conn)
        if pos >= len(stream):
            break
    conn.handle_timer(10.0)
    _drain(conn)


#: every kind of message the state machine sends, and the parameters it may put in them
SENT_KINDS = [
    m3ua.ERR,
    m3ua.NTFY,
    m3ua.DATA,
    m3ua.DAVA,
    m3ua.ASPUP,
    m3ua.ASPDN,
    m3ua.BEAT,
    m3ua.ASPUP_ACK,
    m3ua.ASPDN_ACK,
    m3ua.BEAT_ACK,
    m3ua.ASPAC,
    m3ua.ASPIA,
    m3ua.ASPAC_ACK,
    m3ua.ASPIA_ACK,
]
SENT_TAGS = [
    Tag.ERROR_CODE,
    Tag.ROUTING_CONTEXT,
    Tag.NETWORK_APPEARANCE,
    Tag.DIAGNOSTIC_INFO,
    Tag.HEARTBEAT_DATA,
    Tag.TRAFFIC_MODE_TYPE,
    Tag.STATUS,
    Tag.ASP_IDENTIFIER,
    Tag.AFFECTED_POINT_CODE,
    Tag.INFO_STRING,
]
#: the parameter each of them always carries
MANDATORY = {
    m3ua.ERR: (Tag.ERROR_CODE, u32(7)),
    m3ua.NTFY: (Tag.STATUS, b"\0\1\0\3"),
    m3ua.DATA: (Tag.PROTOCOL_DATA, PD.pack()),
    m3ua.DAVA: (Tag.AFFECTED_POINT_CODE, u32(0x123)),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SENT_KINDS),
    st.lists(st.tuples(st.sampled_from(SENT_TAGS), st.binary(max_size=70)), max_size=6),
)
def test_struct_encoder_is_pycrate_byte_for_byte(
    kind: m3ua.MsgType, params: list[tuple[int, bytes]]
) -> None:
    """`encode` (struct) against pycrate, the codec of record, on the messages we send."""
    mandatory = MANDATORY.get(kind)
    if mandatory is not None:  # as we send them: pycrate would fill in a default
        params = [mandatory, *[p for p in params if p[0] != mandatory[0]]]
    message = Message(kind, tuple(params))
    assert m3ua.encode(message) == m3ua.encode_pycrate(message)


@FUZZ
@given(
    st.sampled_from(
        [
            m3ua.ErrorCode.INVALID_ROUTING_CONTEXT,
            m3ua.ErrorCode.INVALID_NETWORK_APPEARANCE,
            m3ua.ErrorCode.PROTOCOL_ERROR,
        ]
    ),
    st.lists(st.integers(0, 2**32 - 1), max_size=4),
    st.none() | st.integers(0, 2**32 - 1),
    st.binary(max_size=80),
)
def test_err_encodes_as_pycrate_does(
    code: m3ua.ErrorCode, rc: list[int], na: int | None, diagnostic: bytes
) -> None:
    message = m3ua.err(code, diagnostic, tuple(rc), na)
    assert m3ua.encode(message) == m3ua.encode_pycrate(message)
    back = m3ua.decode(m3ua.encode(message))
    assert back.u32_list(Tag.ROUTING_CONTEXT) == (tuple(rc) or None)
    assert back.u32(Tag.NETWORK_APPEARANCE) == na


def _well_formed(tag: int, raw: bytes, n: int) -> tuple[int, bytes]:
    """A value of the size RFC 4666 gives `tag` (32-bit fields, lists of them, or any)."""
    if tag in (
        Tag.ERROR_CODE,
        Tag.STATUS,
        Tag.TRAFFIC_MODE_TYPE,
        Tag.ASP_IDENTIFIER,
        Tag.NETWORK_APPEARANCE,
        Tag.CORRELATION_ID,
    ):
        return tag, raw[:4].ljust(4, b"\x00")
    if tag in (Tag.ROUTING_CONTEXT, Tag.AFFECTED_POINT_CODE):
        return tag, (raw * 4)[: 4 * n].ljust(4 * n, b"\x01")
    if tag == Tag.PROTOCOL_DATA:
        return tag, PD._replace(data=raw).pack()
    return tag, raw


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([*SENT_KINDS, m3ua.DUNA, m3ua.DAUD]),
    st.lists(
        st.builds(
            _well_formed,
            st.sampled_from([*SENT_TAGS, Tag.CORRELATION_ID, Tag.PROTOCOL_DATA]),
            st.binary(max_size=40),
            st.integers(1, 4),
        ),
        max_size=6,
    ),
)
def test_struct_decoder_is_pycrate_on_well_formed_messages(
    kind: m3ua.MsgType, params: list[tuple[int, bytes]]
) -> None:
    """`decode` (struct) against pycrate, the codec of record. (On malformed values pycrate
    reads a typed parameter's own size and drops or cuts the rest; we keep the value and the
    state machine checks its length: ERR "Parameter Field Error".)"""
    buf = m3ua.encode(Message(kind, tuple(params)))
    assert m3ua.decode(buf) == m3ua.decode_pycrate(buf)
