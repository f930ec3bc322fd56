"""The daemon's decoder (`eir.diameter.wire.decode_message`) against pycrate and its bounds.

- Whatever it accepts, pycrate (the codec of record, the reference here) decodes to the same
  `Message`, so that the two cannot drift.
- Any bytes: a `Message` or a DiameterError, nothing else, and the work, counted as AVP
  headers read, is at most min(max_avps + 1, (length - 20) // 8 + 1).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eir.diameter import codec, wire
from eir.diameter.dictionary import AVP_M, AVP_P, AVP_V, GROUPED, ResultCode
from eir.diameter.errors import DiameterError
from eir.diameter.message import Avp, Message
from eir.diameter.wire import encode_message
from tests.bench.bench_hostile import cer, dwr, many_avps_ecr
from tests.support.diameter import BLACK, make_ecr, vector

GROUP_KEYS = sorted(GROUPED)
LEAF_KEYS = [
    (263, 0),
    (264, 0),
    (296, 0),
    (264, 10415),
    (258, 0),
    (266, 0),
    (1402, 10415),
    (7, 0),
    (60001, 0),
    (60002, 99),
]
SEEDS = [
    make_ecr(BLACK),
    vector("cer_mme"),
    vector("dwr"),
    vector("dpr"),
    vector("ecr_proxy_route_drmp"),
    vector("ecr_meid"),
    vector("unknown_m_avp"),
]


def _flags(vendor: int, extra: int) -> int:
    return (AVP_V if vendor else 0) | extra


def _leaf(key: tuple[int, int], extra: int, data: bytes) -> Avp:
    return Avp(key[0], key[1], _flags(key[1], extra), data)


def _group(key: tuple[int, int], extra: int, children: list[Avp]) -> Avp:
    return Avp(key[0], key[1], _flags(key[1], extra), b"", tuple(children))


FLAG_BITS = st.sampled_from([0, AVP_M, AVP_M | AVP_P, AVP_M, 0x01])
LEAVES = st.builds(_leaf, st.sampled_from(LEAF_KEYS), FLAG_BITS, st.binary(max_size=9))
AVPS = st.recursive(
    LEAVES,
    lambda children: st.builds(
        _group, st.sampled_from(GROUP_KEYS), FLAG_BITS, st.lists(children, max_size=4)
    ),
    max_leaves=40,
)
MESSAGES = st.builds(
    lambda code, flags, avps: encode_message(Message(code, 0, flags, 7, 9, tuple(avps))),
    st.sampled_from([257, 280, 282, 324]),
    st.sampled_from([0x80, 0xC0, 0x00, 0x20]),
    st.lists(AVPS, max_size=6),
)


def _walk(data: bytes, limits: wire.Limits = wire.LIMITS) -> Message | None:
    work = wire.Work()
    try:
        msg: Message | None = wire.decode_message(data, limits, work)
    except DiameterError:
        msg = None
    bound = max(0, (len(data) - 20) // 8 + 1)
    assert work.avps <= min(limits.max_avps + 1, bound)
    return msg


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MESSAGES)
def test_walker_equals_pycrate_on_generated_messages(data: bytes) -> None:
    msg = _walk(data)
    if msg is not None:
        assert msg == codec.decode_message_pycrate(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(MESSAGES, st.sampled_from(SEEDS)),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
)
def test_walker_equals_pycrate_on_mutants(seed: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    msg = _walk(bytes(data))
    if msg is not None:
        assert msg == codec.decode_message_pycrate(bytes(data)[: int.from_bytes(data[1:4], "big")])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.integers(1, 16), st.integers(1, 64))
def test_walker_any_bytes_bounded_work(body: bytes, depth: int, max_avps: int) -> None:
    head = bytes.fromhex("0100000080000101000000000000000100000002")
    data = head[:1] + (20 + len(body)).to_bytes(3, "big") + head[4:] + body
    _walk(data, wire.Limits(depth, max_avps))


@given(st.integers(0, 2000))
@settings(max_examples=50, deadline=None)
def test_nesting_is_refused_past_the_depth_bound_and_accepted_within(depth: int) -> None:
    depth = max(depth, 1)
    data = cer(depth)
    work = wire.Work()
    if depth <= wire.MAX_DEPTH:
        assert wire.decode_message(data, work=work) == codec.decode_message_pycrate(data)
    else:
        try:
            wire.decode_message(data, work=work)
        except DiameterError as err:
            assert err.result_code is ResultCode.DIAMETER_INVALID_AVP_VALUE
            assert err.failed is not None and err.failed.code == 260
            assert err.failed.group == ()
        else:
            raise AssertionError("accepted")
    assert work.avps <= 5 + min(depth, wire.MAX_DEPTH + 1)


def test_many_avps_are_refused_with_5009_after_max_avps() -> None:
    work = wire.Work()
    try:
        wire.decode_message(many_avps_ecr(5000), work=work)
    except DiameterError as err:
        assert err.result_code is ResultCode.DIAMETER_AVP_OCCURS_TOO_MANY_TIMES
    else:
        raise AssertionError("accepted")
    assert work.avps == wire.MAX_AVPS + 1
    ok = many_avps_ecr(wire.MAX_AVPS - 20)
    assert wire.decode_message(ok) == codec.decode_message_pycrate(ok)


def test_depth_1000_is_a_diameter_error_not_a_recursion_error() -> None:
    for data in (cer(1000), dwr(1000), cer(20000)):
        try:
            wire.decode_message(data)
        except DiameterError as err:
            assert err.result_code is ResultCode.DIAMETER_INVALID_AVP_VALUE


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(MESSAGES, st.sampled_from(SEEDS), st.binary(min_size=20, max_size=400)),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=3),
)
def test_scan_origin_never_raises_and_agrees_with_the_walker(
    seed: bytes, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    host, realm = wire.scan_origin(bytes(data))
    msg = _walk(bytes(data))
    if msg is not None:
        found_host, found_realm = msg.find(264), msg.find(296)
        assert host == (None if found_host is None else found_host.data)
        assert realm == (None if found_realm is None else found_realm.data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(AVPS, max_size=6), st.sampled_from([0x00, 0x40, 0x20, 0x60]))
def test_encode_message_is_pycrate_byte_for_byte(avps: list[Avp], flags: int) -> None:
    """The S13 answers that echo Proxy-Info are written by `encode_message`, not pycrate."""
    msg = Message(324, 16777252, flags, 1, 2, tuple(avps))
    assert encode_message(msg) == codec.encode_message_pycrate(msg)
