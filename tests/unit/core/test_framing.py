"""eir.framing: the length-field cut, the outgoing split, the PPIDs and the M3UA stream rule."""

from __future__ import annotations

from eir.framing import DIAMETER, M3UA, PPID_DIAMETER, PPID_M3UA, m3ua_stream
from eir.sigtran import m3ua
from eir.sigtran.m3ua import Message
from tests.support.diameter import make_ecr


def test_ppids_and_names() -> None:
    assert (DIAMETER.name, DIAMETER.ppid, PPID_DIAMETER) == ("diameter", 46, 46)
    assert (M3UA.name, M3UA.ppid, PPID_M3UA) == ("m3ua", 3, 3)


def test_cut_gives_complete_messages_and_the_rest() -> None:
    ecr = make_ecr()
    cut = DIAMETER.cut(ecr + ecr + ecr[:7])
    assert cut.messages == [ecr, ecr] and cut.rest == ecr[:7] and not cut.lost
    cut = DIAMETER.cut(ecr[:2])
    assert cut.messages == [] and cut.rest == ecr[:2] and not cut.lost


def test_cut_stops_at_a_length_under_the_header() -> None:
    ecr = make_ecr()
    bad = b"\x01\x00\x00\x13" + bytes(15)  # 19 < 20
    cut = DIAMETER.cut(ecr + bad + ecr)
    assert cut.messages == [ecr] and cut.rest == bad + ecr and cut.lost
    up = m3ua.encode(Message(m3ua.ASPUP))
    cut = M3UA.cut(up + b"\x01\x00\x03\x01\x00\x00\x00\x07")
    assert cut.messages == [up] and cut.lost
    assert M3UA.cut(b"\x01\x00\x03\x01\x00\x00\x00\x07", minimum=1).messages == [
        b"\x01\x00\x03\x01\x00\x00\x00"
    ]


def test_split_keeps_every_byte() -> None:
    ecr = make_ecr()
    assert DIAMETER.split(ecr + ecr[:5]) == [ecr, ecr[:5]]
    assert DIAMETER.split(b"\x01\x00\x00\x00zz") == [b"\x01\x00\x00\x00zz"]
    assert DIAMETER.split(b"") == []
    assert DIAMETER.split(b"\x01\x00") == [b"\x01\x00"]


def test_m3ua_data_on_stream_1_the_rest_on_stream_0() -> None:
    data = b"\x01\x00\x01\x01\x00\x00\x00\x08"  # DATA: class 1, type 1
    assert m3ua_stream(data) == 1 and M3UA.stream(data) == 1
    for kind in (m3ua.ASPUP, m3ua.ASPAC, m3ua.BEAT, m3ua.ERR):
        assert m3ua_stream(m3ua.encode(Message(kind))) == 0
    assert m3ua_stream(b"\x01\x00\x01\x02\x00\x00\x00\x08") == 0  # class 1, not DATA
    assert m3ua_stream(b"\x01") == 0
    assert DIAMETER.stream(make_ecr()) == 0


def test_the_length_field_where_the_receive_loops_read_it() -> None:
    """RFC 6733 3: octets 1-3 after the Version; RFC 4666 3.1: octets 4-7. The loops of the
    peer, the ASP and the simulator's roles slice `[length_offset:length_end]` inline."""
    ecr = make_ecr()
    assert (DIAMETER.length_offset, DIAMETER.length_end) == (1, 4)
    assert (M3UA.length_offset, M3UA.length_end) == (4, 8)
    at, end = DIAMETER.length_offset, DIAMETER.length_end
    assert int.from_bytes(ecr[at:end], "big") == DIAMETER.length(ecr) == len(ecr)
    up = m3ua.encode(Message(m3ua.ASPUP))
    assert int.from_bytes(up[M3UA.length_offset : M3UA.length_end], "big") == len(up)
    assert DIAMETER.length(ecr[:3]) is None and M3UA.length(up[:7]) is None
