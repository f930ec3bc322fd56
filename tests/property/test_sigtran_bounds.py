"""Issue 13: every SIGTRAN decoder does work bounded by a linear function of its input, counted
(M3UA parameters, SCCP optional parameters, BER TLV headers), never timed; nesting past
`ber.MAX_DEPTH` never reaches pycrate; and no input makes any layer log an error (a traceback
is logged at ERROR)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eir.sigtran import ber, m3ua, sccp
from eir.sigtran.m3ua import M3uaError, Message, ProtocolData, Tag, u32
from eir.sigtran.m3ua_access import AspBinding
from eir.sigtran.m3ua_as import AsTable
from eir.sigtran.m3ua_asp import (
    AspConnection,
    DataReceived,
    M3uaSettings,
    Side,
)
from eir.sigtran.sccp_routing import SccpRouter
from eir.sigtran.tcap import TcapServer
from tests.support.sigtran import EIR_ADDRESS, MSC_ADDRESS, check_imei, over_sccp, server

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def no_errors_logged() -> Iterator[None]:
    handler = _Errors()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records]


# --- M3UA ------------------------------------------------------------------------------------

M3UA_SEEDS = [
    m3ua.encode(Message(m3ua.ASPUP, ((Tag.ASP_IDENTIFIER, u32(11)),))),
    m3ua.encode(
        Message(m3ua.ASPAC, ((Tag.TRAFFIC_MODE_TYPE, u32(1)), (Tag.ROUTING_CONTEXT, u32(100))))
    ),
    m3ua.encode_data(over_sccp(check_imei(2)), 100, 7),
    m3ua.encode(Message(m3ua.DAUD, ((Tag.AFFECTED_POINT_CODE, u32(5)),))),
    m3ua.encode(Message(m3ua.BEAT, ((Tag.HEARTBEAT_DATA, b"x"),))),
    m3ua.encode(Message(m3ua.ASPIA, ((Tag.ROUTING_CONTEXT, u32(100)),))),
]


def _many_parameters(kind: tuple[int, int], count: int) -> bytes:
    """A message of class/type `kind` with `count` INFO String parameters."""
    return (
        bytes([1, 0, *kind]) + (8 + 8 * count).to_bytes(4, "big") + b"\x00\x04\x00\x08abcd" * count
    )


def _m3ua_bound(buf: bytes) -> int:
    return min(m3ua.MAX_PARAMETERS + 1, max(0, len(buf) - m3ua.HEADER_LEN) // 4 + 1)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=300),
        st.builds(
            _many_parameters, st.sampled_from([(3, 1), (1, 1), (2, 3), (4, 1)]), st.integers(0, 200)
        ),
    )
)
def test_m3ua_decoders_count_parameters_linearly(buf: bytes) -> None:
    before = m3ua.Work.parameters
    with contextlib.suppress(M3uaError):
        m3ua.decode(buf)
    assert m3ua.Work.parameters - before <= _m3ua_bound(buf)
    before = m3ua.Work.parameters
    m3ua.scan_data(buf)
    assert m3ua.Work.parameters - before <= _m3ua_bound(buf)


@FUZZ
@given(
    st.lists(st.sampled_from(M3UA_SEEDS), max_size=8),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
    st.sampled_from(["127.0.0.1", "10.1.2.3", "192.0.2.9", "::1", "bogus"]),
    st.booleans(),
)
def test_m3ua_state_machine_never_logs_an_error(
    messages: list[bytes], edits: list[tuple[int, int]], address: str, bound: bool
) -> None:
    stream = bytearray(b"".join(messages))
    for pos, value in edits:
        if stream:
            stream[pos % len(stream)] = value
    asps = (AspBinding("msc", 11, ("10.0.0.0/8", "127.0.0.0/8"), (100,), True),) if bound else ()
    settings_ = M3uaSettings(
        routing_contexts=(100, 200),
        asps=asps,
        handshake_timeout_s=10.0,
        beat_interval_s=30.0,
        max_message=4096,
    )
    with no_errors_logged():
        conn = AspConnection(settings_, Side.SGP, 0.0, AsTable(), "fuzz", address)
        conn.receive_data(bytes(stream), 1.0)
        out = conn.data_to_send()
        while out:  # every answer decodes again
            length = int.from_bytes(out[4:8], "big")
            m3ua.decode(out[:length])
            out = out[length:]
        for now in (40.0, 80.0):
            conn.handle_timer(now)
        while conn.next_event() is not None:
            pass


# --- SCCP ------------------------------------------------------------------------------------

SCCP_SEEDS = [
    over_sccp(check_imei(2)).data,
    over_sccp(check_imei(3), kind=sccp.XUDT).data,
    sccp.encode(
        sccp.XUDT,
        EIR_ADDRESS.encode(),
        MSC_ADDRESS.encode(),
        b"\x62\x00",
        optional=b"\x12\x01\x03" * 40 + b"\x00",
    ),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.tuples(
            st.sampled_from(SCCP_SEEDS),
            st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), max_size=4),
        ).map(lambda t: _edited(*t)),
    )
)
def test_sccp_work_is_linear_and_answers_are_well_formed(buf: bytes) -> None:
    before = sccp.Work.optional
    try:
        request = sccp.scan_unitdata(buf)
    except sccp.SccpError:
        assert sccp.Work.optional - before <= len(buf) // 2 + 1
        return
    assert sccp.Work.optional - before <= len(buf) // 2 + 1
    if request.kind in (sccp.UDT, sccp.XUDT):
        with contextlib.suppress(sccp.SccpError):  # a variable part over 255 bytes
            for out in (
                sccp.reply(request, b"\x64\x00"),
                sccp.service(request, sccp.ReturnCause.UNQUALIFIED),
            ):
                answer = sccp.scan_unitdata(out)  # both parties hold what their indicators announce
                assert answer.called_raw == request.calling_raw


def _edited(seed: bytes, edits: list[tuple[int, int]]) -> bytes:
    buf = bytearray(seed)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    return bytes(buf)


# --- BER / TCAP ------------------------------------------------------------------------------


def _tree(leaf: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """BER elements nested any depth: SEQUENCE / [0] / EXTERNAL, definite or indefinite."""

    def wrap(children: st.SearchStrategy[list[bytes]]) -> st.SearchStrategy[bytes]:
        return st.tuples(st.sampled_from([0x30, 0xA0, 0x28, 0xBE]), children, st.booleans()).map(
            lambda t: (
                bytes([t[0], 0x80]) + b"".join(t[1]) + b"\x00\x00"
                if t[2]
                else ber.tlv(t[0], b"".join(t[1]))
            )
        )

    return st.recursive(
        leaf, lambda inner: wrap(st.lists(inner, min_size=1, max_size=3)), max_leaves=40
    )


LEAF = st.sampled_from([b"\x04\x00", b"\x02\x01\x01", b"\x04\x08" + check_imei(2)[-8:]])


def _depth(buf: bytes, tlv: ber.Tlv, level: int = 1) -> int:
    if not (tlv.tag >> (8 * ((tlv.tag.bit_length() - 1) // 8))) & 0x20:
        return level
    deepest = level
    pos = tlv.start
    while pos < tlv.stop:
        child = ber.read(buf, pos, tlv.stop, 0)
        deepest = max(deepest, _depth(buf, child, level + 1))
        pos = child.next
    return deepest


def _read_bound(buf: bytes) -> int:
    # each element is read once by the walk, and once more by the end-of-contents search of
    # each indefinite-length element around it (at most MAX_DEPTH of them)
    return (len(buf) // 2 + 1) * (ber.MAX_DEPTH + 2)


@FUZZ
@given(_tree(LEAF))
def test_ber_walk_bounds_depth_and_work(body: bytes) -> None:
    buf = _begin_with(body)
    before = ber.Work.reads
    try:
        count = ber.walk(buf)
    except ber.BerError:
        assert ber.Work.reads - before <= _read_bound(buf)
        unbounded = ber.walk(buf, max_depth=10_000, max_elements=10_000) if _depth_ok(buf) else None
        assert unbounded is None or unbounded > ber.MAX_ELEMENTS
        return
    assert ber.Work.reads - before <= _read_bound(buf)
    assert count <= ber.MAX_ELEMENTS
    assert _depth(buf, ber.read(buf, 0, len(buf))) <= ber.MAX_DEPTH


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from([0x30, 0xA0, 0x28, 0xBF21]), st.booleans()),
        min_size=1,
        max_size=120,
    )
)
def test_ber_chains_past_the_depth_bound_are_refused_with_bounded_work(
    chain: list[tuple[int, bool]],
) -> None:
    body = b"\x04\x00"
    for tag, indefinite in chain:
        head = tag.to_bytes(2 if tag > 0xFF else 1, "big")
        body = head + b"\x80" + body + b"\x00\x00" if indefinite else ber.tlv(tag, body)
    buf = _begin_with(body)
    before = ber.Work.reads
    try:
        ber.walk(buf)
        accepted = True
    except ber.BerError:
        accepted = False
    assert ber.Work.reads - before <= _read_bound(buf)
    depth = 2 + len(chain)  # the Begin, the chain, the leaf
    assert accepted == (depth <= ber.MAX_DEPTH)
    before = ber.Work.reads
    with no_errors_logged():
        SERVER.answer(buf)
    assert ber.Work.reads - before <= 4 * _read_bound(buf)


def _depth_ok(buf: bytes) -> bool:
    try:
        return _depth(buf, ber.read(buf, 0, len(buf))) <= ber.MAX_DEPTH
    except ber.BerError:
        return False


SERVER = server()


OTID = bytes.fromhex("480400001234")
COMPONENTS = check_imei(1)[8:]  # a v1 Begin: 62 L 48 04 otid, then its components


def _begin_with(body: bytes) -> bytes:
    return ber.tlv(0x62, OTID + body)


def _begin_with_dialogue(body: bytes) -> bytes:
    external = ber.tlv(0x28, bytes.fromhex("060700118605010101") + ber.tlv(0xA0, body))
    return ber.tlv(0x62, OTID + ber.tlv(0x6B, external) + COMPONENTS)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=260), _tree(LEAF).map(_begin_with), _tree(LEAF).map(_begin_with_dialogue)
    )
)
def test_tcap_answer_work_is_bounded_and_never_logs_an_error(buf: bytes) -> None:
    before = ber.Work.reads
    with no_errors_logged():
        SERVER.answer(buf)
    # our reader of the Begin, the walk before pycrate and the parameter flags after it
    assert ber.Work.reads - before <= 4 * _read_bound(buf)


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.sampled_from(SCCP_SEEDS)), st.integers(0, 255))
def test_map_node_never_logs_an_error(data: bytes, si: int) -> None:
    node = SccpRouter(TcapServer(SERVER.user))
    with no_errors_logged():
        out = node.on_data(DataReceived(ProtocolData(1, 2, si % 4, 2, 0, 0, data), 100, None))
    if out is not None:
        answer = m3ua.scan_data(out)
        assert answer is not None
        sccp.scan_unitdata(answer[0].data)
