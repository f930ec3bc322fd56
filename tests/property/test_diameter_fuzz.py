"""Any bytes, whole or split, give an answer or our protocol error: never a crash or a hang.

Also the mutation test: thousands of one-byte mutants of real ECRs, and whenever both decoders
(the fast extractor and the pycrate path) accept one, they extract the same values.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eir.diameter import codec, wire
from eir.diameter.errors import DiameterError
from eir.diameter.peer import PeerConnection, Role
from eir.diameter.s13.request import decode_ecr
from eir.diameter.s13.scan import scan_ecr
from tests.support.diameter import (
    BLACK,
    application,
    make_ecr,
    split_messages,
    vector,
)
from tests.support.diameter import (
    settings as peer_settings,
)

APP = application()
SEEDS = [
    make_ecr(BLACK),
    make_ecr(BLACK[:14], sv="05", imsi="001010123456789"),
    vector("ecr_imei14_sv_imsi"),
    vector("ecr_imeisv16"),
    vector("ecr_proxy_route_drmp"),
    vector("ecr_meid"),
]
CER = vector("cer_mme")


def _check_answer(data: bytes) -> None:
    for message in split_messages(data):
        wire.check_message(message)
        codec.decode_message_pycrate(message)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_application_any_bytes_after_a_header(body: bytes) -> None:
    head = bytes.fromhex("010000 00 c0000144 01000024 00000001 00000002".replace(" ", ""))
    data = head[:1] + (20 + len(body)).to_bytes(3, "big") + head[4:] + body
    _check_answer(APP.answer(data, "fuzz"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
)
def test_application_mutated_ecrs(seed: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    if int.from_bytes(data[1:4], "big") != len(data):
        return  # the peer layer frames by length; see the stream test below
    _check_answer(APP.answer(bytes(data), "fuzz"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=20))
def test_peer_any_bytes_any_split(junk: bytes, cuts: list[int]) -> None:
    for prefix in (b"", CER):
        conn = PeerConnection(peer_settings(max_message=4096), Role.RESPONDER, 0.0, "fuzz", APP)
        stream = prefix + junk + make_ecr(BLACK)
        pos = 0
        for cut in [*cuts, len(stream)]:
            conn.receive_data(stream[pos : pos + cut], 1.0)
            pos += cut
            conn.process(1000)
            _check_answer(conn.data_to_send())
            while conn.next_event() is not None:
                pass
            if pos >= len(stream):
                break
        conn.handle_timer(1000.0)
        conn.handle_timer(2000.0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([*SEEDS, CER, vector("dwr"), vector("dpr")]), max_size=8),
    st.lists(st.integers(0, 4000), max_size=6),
    st.binary(min_size=1, max_size=6),
)
def test_peer_valid_stream_with_corruption(
    messages: list[bytes], spots: list[int], noise: bytes
) -> None:
    stream = bytearray(CER + b"".join(messages))
    for i, spot in enumerate(spots):
        stream[spot % len(stream)] = noise[i % len(noise)]
    conn = PeerConnection(peer_settings(), Role.RESPONDER, 0.0, "fuzz", APP)
    conn.receive_data(bytes(stream), 1.0)
    conn.process(1000)
    _check_answer(conn.data_to_send())


def _slow_fields(data: bytes) -> object | None:
    try:
        wire.check_message(data)
        return decode_ecr(codec.decode_message_pycrate(data))
    except DiameterError:
        return None


def test_mutants_fast_and_pycrate_agree() -> None:
    rng = random.Random(20261123)
    seeds = [s for s in SEEDS if scan_ecr(s) is not None]
    assert len(seeds) >= 3
    both = fast_only = 0
    mutants = 6000
    for i in range(mutants):
        seed = bytearray(seeds[i % len(seeds)])
        pos = rng.randrange(len(seed))
        seed[pos] = rng.choice((rng.randrange(256), seed[pos] ^ (1 << rng.randrange(8))))
        data = bytes(seed)
        fast = scan_ecr(data)
        if fast is None:
            continue
        slow = _slow_fields(data)
        if slow is None:
            fast_only += 1
            continue
        both += 1
        assert fast[0] == slow, (pos, data.hex())
    assert both > 1000, both
    assert fast_only == 0  # what the fast path accepts, the pycrate path accepts too
