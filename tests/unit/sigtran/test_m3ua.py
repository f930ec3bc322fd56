"""M3UA (RFC 4666): codec on pycrate with the 32-bit Network Appearance, and the ASP state
machine on both sides, in memory."""

from __future__ import annotations

import struct

import pytest
from pycrate_mobile.SIGTRAN import SIGTRAN

from eir.sigtran import m3ua, m3ua_asp
from eir.sigtran.m3ua import ErrorCode, M3uaError, Message, ProtocolData, Tag, TrafficMode, u32
from eir.sigtran.m3ua_access import AspBinding
from eir.sigtran.m3ua_as import AsTable
from eir.sigtran.m3ua_asp import (
    AspConnection,
    AspState,
    Closed,
    DataReceived,
    ErrorReceived,
    M3uaSettings,
    Notified,
    Side,
    StateChanged,
)

PD = ProtocolData(opc=101, dpc=202, si=3, ni=2, mp=0, sls=7, data=b"\x09\x81\x03\x0e\x19")


def messages(data: bytes) -> list[Message]:
    out = []
    while data:
        length = int.from_bytes(data[4:8], "big")
        out.append(m3ua.decode(data[:length]))
        data = data[length:]
    return out


def _state(conn: AspConnection) -> AspState:
    """The state now (a call, so that mypy does not keep an earlier narrowing)."""
    return conn.state


def events(conn: AspConnection) -> list[object]:
    out: list[object] = []
    while (event := conn.next_event()) is not None:
        out.append(event)
    return out


def pump(a: AspConnection, b: AspConnection, now: float = 0.0) -> None:
    for _ in range(20):
        moved = False
        for src, dst in ((a, b), (b, a)):
            data = src.data_to_send()
            if data:
                moved = True
                dst.receive_data(data, now)
        if not moved:
            return


def pair(
    sgp_settings: M3uaSettings | None = None,
    asp_settings: M3uaSettings | None = None,
    table: AsTable | None = None,
) -> tuple[AspConnection, AspConnection]:
    asp = AspConnection(asp_settings or M3uaSettings(), Side.ASP, 0.0, name="msc")
    sgp = AspConnection(sgp_settings or M3uaSettings(), Side.SGP, 0.0, table, name="eir")
    pump(asp, sgp)
    return asp, sgp


# --- codec -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("rc", "na"), [(None, None), (1, None), (1, 0xDEADBEEF), (None, 7)])
def test_data_fast_encoding_equals_pycrate_and_keeps_32_bit_na(
    rc: int | None, na: int | None
) -> None:
    fast = m3ua.encode_data(PD, rc, na)
    assert fast == m3ua.encode(m3ua.data(PD, rc, na))
    msg = m3ua.decode(fast)
    assert ProtocolData.unpack(msg.get(Tag.PROTOCOL_DATA) or b"") == PD
    assert msg.u32(Tag.NETWORK_APPEARANCE) == na and msg.u32(Tag.ROUTING_CONTEXT) == rc


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x02\x00\x03\x01\x00\x00\x00\x08", ErrorCode.INVALID_VERSION),
        (b"\x01\x00\x07\x01\x00\x00\x00\x08", ErrorCode.UNSUPPORTED_MESSAGE_CLASS),
        (b"\x01\x00\x03\x09\x00\x00\x00\x08", ErrorCode.UNSUPPORTED_MESSAGE_TYPE),
        (b"\x01\x00\x03\x01\x00\x00\x00\x0c\x00\x11\x00\x10", ErrorCode.PARAMETER_FIELD_ERROR),
        (b"\x01\x00\x03\x01\x00\x00\x00\x0c\x00\x11\x00\x02", ErrorCode.PARAMETER_FIELD_ERROR),
        (b"\x01\x00\x03\x01\x00\x00\x00\x09\x00", ErrorCode.PROTOCOL_ERROR),
    ],
)
def test_check_message_errors(data: bytes, code: ErrorCode) -> None:
    with pytest.raises(M3uaError) as err:
        m3ua.decode(data)
    assert err.value.code == code


def test_protocol_data_too_short() -> None:
    with pytest.raises(M3uaError):
        ProtocolData.unpack(b"\x00" * 11)


# --- ASP state machine -----------------------------------------------------------------------


def test_asp_up_and_active_both_sides() -> None:
    asp, sgp = pair()
    assert asp.state is AspState.ACTIVE and sgp.state is AspState.ACTIVE
    assert [e for e in events(sgp) if isinstance(e, StateChanged)] == [
        StateChanged(AspState.INACTIVE),
        StateChanged(AspState.ACTIVE),
    ]
    got = events(asp)
    assert StateChanged(AspState.ACTIVE) in got
    assert Notified(*m3ua.STATUS_AS_ACTIVE) in got
    assert sgp.traffic_mode is TrafficMode.LOADSHARE


def test_data_flows_when_active() -> None:
    asp, sgp = pair()
    events(sgp)
    asp.send_data(PD, rc=None)
    pump(asp, sgp)
    assert events(sgp) == [DataReceived(PD, None, None)]


def test_data_before_active_is_err_unexpected_message() -> None:
    sgp = AspConnection(M3uaSettings(), Side.SGP, 0.0)
    sgp.receive_data(m3ua.encode_data(PD), 0.0)
    (err,) = messages(sgp.data_to_send())
    assert err.kind == m3ua.ERR and err.u32(Tag.ERROR_CODE) == ErrorCode.UNEXPECTED_MESSAGE
    assert not events(sgp)


def test_aspac_before_aspup_and_broadcast_and_bad_context() -> None:
    sgp = AspConnection(M3uaSettings(routing_contexts=(5,)), Side.SGP, 0.0)
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPAC)), 0.0)
    assert messages(sgp.data_to_send())[0].u32(Tag.ERROR_CODE) == ErrorCode.UNEXPECTED_MESSAGE
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPUP)), 0.0)
    sgp.data_to_send()
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPAC, ((Tag.TRAFFIC_MODE_TYPE, u32(3)),))), 0.0)
    assert (
        messages(sgp.data_to_send())[0].u32(Tag.ERROR_CODE)
        == ErrorCode.UNSUPPORTED_TRAFFIC_MODE_TYPE
    )
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPAC, ((Tag.ROUTING_CONTEXT, u32(9)),))), 0.0)
    assert messages(sgp.data_to_send())[0].u32(Tag.ERROR_CODE) == ErrorCode.INVALID_ROUTING_CONTEXT
    assert sgp.state is AspState.INACTIVE
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPAC, ((Tag.ROUTING_CONTEXT, u32(5)),))), 0.0)
    ack, ntfy = messages(sgp.data_to_send())
    assert ack.kind == m3ua.ASPAC_ACK and ack.u32(Tag.ROUTING_CONTEXT) == 5
    assert ntfy.kind == m3ua.NTFY and _state(sgp) is AspState.ACTIVE


def test_network_appearance_checked_when_configured() -> None:
    asp, sgp = pair(sgp_settings=M3uaSettings(network_appearance=8))
    events(sgp)
    asp.send_data(PD, na=9)
    pump(asp, sgp)
    assert not [e for e in events(sgp) if isinstance(e, DataReceived)]
    assert ErrorReceived(ErrorCode.INVALID_NETWORK_APPEARANCE) in events(asp)
    asp.send_data(PD, na=8)
    pump(asp, sgp)
    assert events(sgp) == [DataReceived(PD, None, 8)]


def test_beat_is_echoed_in_any_state() -> None:
    sgp = AspConnection(M3uaSettings(), Side.SGP, 0.0)
    sgp.receive_data(m3ua.encode(Message(m3ua.BEAT, ((Tag.HEARTBEAT_DATA, b"tick"),))), 0.0)
    (ack,) = messages(sgp.data_to_send())
    assert ack.kind == m3ua.BEAT_ACK and ack.get(Tag.HEARTBEAT_DATA) == b"tick"


def test_aspia_and_aspdn() -> None:
    asp, sgp = pair()
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPIA)), 0.0)
    assert [m.kind for m in messages(sgp.data_to_send())] == [m3ua.ASPIA_ACK, m3ua.NTFY]
    assert sgp.state is AspState.INACTIVE
    asp.shutdown()
    pump(asp, sgp)
    assert _state(sgp) is AspState.DOWN and _state(asp) is AspState.DOWN


def test_leaving_waits_for_aspdn_ack_from_a_gateway_that_answers() -> None:
    """RFC 4666 4.3.4.2: ASPDN, then `left` only once ASPDN-ACK came back."""
    asp, sgp = pair()
    asp.shutdown(10.0)
    assert asp.leaving and asp.aspdn_sent and not asp.aspdn_acked and not asp.left
    assert [m.kind for m in messages(asp.data_to_send())] == [m3ua.ASPDN]
    assert asp.get_timer() == 10.0 + m3ua_asp.ASPDN_ACK_WAIT_S
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPDN)), 10.0)
    asp.receive_data(sgp.data_to_send(), 10.2)
    assert asp.aspdn_acked and asp.left and not asp.closed and _state(asp) is AspState.DOWN
    assert asp.get_timer() is None


def test_leaving_is_bounded_when_the_gateway_never_acks() -> None:
    asp, _sgp = pair()
    asp.shutdown(10.0)
    asp.data_to_send()
    asp.handle_timer(10.5)
    assert not asp.left and not asp.closed
    asp.handle_timer(10.0 + m3ua_asp.ASPDN_ACK_WAIT_S)
    assert asp.left and asp.closed and not asp.aspdn_acked
    assert Closed("no ASPDN-ACK 1 s after ASPDN") in events(asp)


def test_leaving_owes_nothing_when_down_or_on_the_sgp_side() -> None:
    """No ASPDN from an ASP not yet up (and no more ASPUP), none from the SGP side."""
    asp = AspConnection(M3uaSettings(), Side.ASP, 0.0)
    asp.data_to_send()  # its ASPUP
    asp.shutdown(1.0)
    assert asp.left and not asp.aspdn_sent and asp.get_timer() is None
    asp.handle_timer(60.0)
    assert asp.data_to_send() == b""
    _asp, sgp = pair()
    sgp.shutdown(1.0)
    assert sgp.left and sgp.data_to_send() == b""


def test_override_second_asp_makes_the_first_inactive() -> None:
    table = AsTable()
    override = M3uaSettings(traffic_mode=TrafficMode.OVERRIDE)
    allowed = M3uaSettings(asps=(AspBinding("stp", override=True),))
    asp1, sgp1 = pair(allowed, asp_settings=override, table=table)
    _asp2, sgp2 = pair(allowed, asp_settings=override, table=table)
    assert sgp2.state is AspState.ACTIVE and sgp1.state is AspState.INACTIVE
    pump(asp1, sgp1)
    assert asp1.state is AspState.INACTIVE
    assert Notified(*m3ua.STATUS_ALTERNATE_ASP_ACTIVE) in events(asp1)
    assert table.active[-1] == [sgp2]


def test_loadshare_keeps_both_active() -> None:
    table = AsTable()
    _asp1, sgp1 = pair(table=table)
    _asp2, sgp2 = pair(table=table)
    assert sgp1.state is AspState.ACTIVE and sgp2.state is AspState.ACTIVE
    assert table.active[-1] == [sgp1, sgp2]


def test_asp_side_resends_after_t_ack() -> None:
    asp = AspConnection(M3uaSettings(asp_identifier=4), Side.ASP, 0.0)
    (up,) = messages(asp.data_to_send())
    assert up.kind == m3ua.ASPUP and up.u32(Tag.ASP_IDENTIFIER) == 4
    assert asp.get_timer() == 2.0
    asp.handle_timer(2.0)
    assert messages(asp.data_to_send())[0].kind == m3ua.ASPUP


def test_split_reads_and_unframeable_length_closes() -> None:
    asp = AspConnection(M3uaSettings(), Side.ASP, 0.0)
    sgp = AspConnection(M3uaSettings(), Side.SGP, 0.0)
    data = asp.data_to_send()
    for i in range(len(data)):
        sgp.receive_data(data[i : i + 1], 0.0)
    assert sgp.state is AspState.INACTIVE
    sgp.receive_data(b"\x01\x00\x01\x01" + struct.pack(">I", 4), 0.0)
    assert sgp.closed and isinstance(events(sgp)[-1], Closed)


def test_unsupported_classes_get_err() -> None:
    sgp = AspConnection(M3uaSettings(), Side.SGP, 0.0)
    sgp.receive_data(m3ua.encode(Message(m3ua.MsgType(9, 1))), 0.0)  # REG REQ
    assert (
        messages(sgp.data_to_send())[0].u32(Tag.ERROR_CODE) == ErrorCode.UNSUPPORTED_MESSAGE_CLASS
    )
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPUP_ACK)), 0.0)
    assert messages(sgp.data_to_send())[0].u32(Tag.ERROR_CODE) == ErrorCode.UNEXPECTED_MESSAGE


def test_fast_data_parse_agrees_with_pycrate_on_mutants() -> None:
    import random

    rng = random.Random(11)
    seeds = [m3ua.encode_data(PD, rc, na) for rc, na in ((None, None), (1, 7), (3, None))]
    both = 0
    for i in range(6000):
        buf = bytearray(seeds[i % 3])
        buf[rng.randrange(len(buf))] = rng.randrange(256)
        fast = m3ua.scan_data(bytes(buf))
        if fast is None:
            continue
        try:
            msg = m3ua.decode_pycrate(bytes(buf))
        except M3uaError:
            continue
        both += 1
        pd_raw = msg.get(Tag.PROTOCOL_DATA)
        assert pd_raw is not None and ProtocolData.unpack(pd_raw) == fast[0]
        assert (msg.u32(Tag.ROUTING_CONTEXT), msg.u32(Tag.NETWORK_APPEARANCE)) == fast[1:]
    assert both > 1000


# --- issue 13: access control, checked echoes, liveness -----------------------------------------


def errors(conn: AspConnection) -> list[int]:
    """The ERR codes `conn` sent since the last call."""
    return [m.u32(Tag.ERROR_CODE) or 0 for m in messages(conn.data_to_send()) if m.kind == m3ua.ERR]


def sgp_after(
    raw: bytes, settings: M3uaSettings | None = None, address: str = "10.0.0.1", up: bool = False
) -> AspConnection:
    sgp = AspConnection(settings or M3uaSettings(), Side.SGP, 0.0, AsTable(), "t", address)
    if up:
        sgp.receive_data(m3ua.encode(Message(m3ua.ASPUP)), 0.0)
        sgp.data_to_send()
    sgp.receive_data(raw, 0.0)
    return sgp


def test_aspup_with_an_empty_asp_identifier_gets_err_not_an_empty_echo() -> None:
    sgp = sgp_after(bytes.fromhex("010003010000000c00110004"))
    assert errors(sgp) == [ErrorCode.PARAMETER_FIELD_ERROR] and sgp.state is AspState.DOWN
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPUP, ((Tag.ASP_IDENTIFIER, u32(7)),))), 0.0)
    ack = messages(sgp.data_to_send())[0]
    assert ack.kind == m3ua.ASPUP_ACK and ack.params == ((Tag.ASP_IDENTIFIER, u32(7)),)


def test_daud_affected_point_codes_are_checked_before_the_dava() -> None:
    daud = bytes.fromhex("010002030000000c00120004")
    assert errors(sgp_after(daud)) == [ErrorCode.UNEXPECTED_MESSAGE]  # before ASPUP
    sgp = sgp_after(daud, up=True)
    assert errors(sgp) == [ErrorCode.PARAMETER_FIELD_ERROR]
    sgp.receive_data(m3ua.encode(Message(m3ua.DAUD, ((Tag.AFFECTED_POINT_CODE, b"\0\0\1"),))), 0.0)
    assert errors(sgp) == [ErrorCode.PARAMETER_FIELD_ERROR]
    sgp.receive_data(bytes.fromhex("0100020300000008"), 0.0)
    assert errors(sgp) == [ErrorCode.MISSING_PARAMETER]
    codes = u32(0x123) + u32(0x01000456)
    sgp.receive_data(m3ua.encode(Message(m3ua.DAUD, ((Tag.AFFECTED_POINT_CODE, codes),))), 0.0)
    (dava,) = messages(sgp.data_to_send())
    assert dava.kind == m3ua.DAVA and dava.get(Tag.AFFECTED_POINT_CODE) == codes


def test_routing_context_and_aspia_echoes_are_checked() -> None:
    sgp = sgp_after(m3ua.encode(Message(m3ua.ASPAC, ((Tag.ROUTING_CONTEXT, b"\0\0\0"),))), up=True)
    assert errors(sgp) == [ErrorCode.PARAMETER_FIELD_ERROR] and sgp.state is AspState.INACTIVE
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPIA, ((Tag.ROUTING_CONTEXT, b""),))), 0.0)
    assert errors(sgp) == [ErrorCode.PARAMETER_FIELD_ERROR]


def test_too_many_parameters_is_a_protocol_error() -> None:
    params = tuple((Tag.INFO_STRING, b"x") for _ in range(m3ua.MAX_PARAMETERS + 1))
    sgp = sgp_after(m3ua.encode(Message(m3ua.ASPUP, params)))
    assert errors(sgp) == [ErrorCode.PROTOCOL_ERROR] and sgp.state is AspState.DOWN


def test_an_err_is_never_answered_with_an_err() -> None:
    sgp = sgp_after(m3ua.encode(Message(m3ua.ERR, ((Tag.ERROR_CODE, b"\0"),))))
    assert sgp.data_to_send() == b"" and events(sgp) == [ErrorReceived(0)]


def test_override_is_refused_to_unconfigured_asps_and_never_evicts_loadshare() -> None:
    table = AsTable()
    _asp1, sgp1 = pair(table=table)
    assert sgp1.state is AspState.ACTIVE
    override = M3uaSettings(traffic_mode=TrafficMode.OVERRIDE)
    _asp2, sgp2 = pair(asp_settings=override, table=table)
    assert sgp2.state is AspState.INACTIVE and sgp1.state is AspState.ACTIVE
    assert table.active[-1] == [sgp1]
    # a configured ASP allowed override does not displace loadsharing ones either
    allowed = M3uaSettings(asps=(AspBinding("stp", override=True),))
    _asp3, sgp3 = pair(allowed, asp_settings=override, table=table)
    assert sgp3.state is AspState.INACTIVE and sgp1.state is AspState.ACTIVE
    assert table.active[-1] == [sgp1]


def test_override_error_codes() -> None:
    aspac = m3ua.encode(Message(m3ua.ASPAC, ((Tag.TRAFFIC_MODE_TYPE, u32(1)),)))
    assert errors(sgp_after(aspac, up=True)) == [ErrorCode.UNSUPPORTED_TRAFFIC_MODE_TYPE]


def test_aspac_and_data_must_name_a_configured_routing_context() -> None:
    served = M3uaSettings(routing_contexts=(100,))
    sgp = sgp_after(m3ua.encode(Message(m3ua.ASPAC)), served, up=True)
    assert errors(sgp) == [ErrorCode.NO_CONFIGURED_AS_FOR_ASP] and sgp.state is AspState.INACTIVE
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPAC, ((Tag.ROUTING_CONTEXT, u32(5)),))), 0.0)
    assert errors(sgp) == [ErrorCode.INVALID_ROUTING_CONTEXT]
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPAC, ((Tag.ROUTING_CONTEXT, u32(100)),))), 0.0)
    assert errors(sgp) == [] and _state(sgp) is AspState.ACTIVE
    events(sgp)
    for rc, code in ((None, ErrorCode.MISSING_PARAMETER), (5, ErrorCode.INVALID_ROUTING_CONTEXT)):
        sgp.receive_data(m3ua.encode_data(PD, rc), 0.0)
        assert errors(sgp) == [code]
    sgp.receive_data(m3ua.encode_data(PD, 100), 0.0)
    assert events(sgp) == [DataReceived(PD, 100, None)]


def test_configured_asps_bind_source_and_asp_identifier() -> None:
    asps = M3uaSettings(
        asps=(
            AspBinding("msc1", 11, ("10.1.0.0/16",), (100,)),
            AspBinding("msc2", 12, ("10.2.0.0/16",)),
        ),
        routing_contexts=(100, 200),
    )
    outsider = AspConnection(asps, Side.SGP, 0.0, None, "x", "192.0.2.1")
    assert outsider.closed and "matches no configured ASP" in str(events(outsider)[-1])

    def up(asp_id: int | None, address: str) -> AspConnection:
        params = () if asp_id is None else ((Tag.ASP_IDENTIFIER, u32(asp_id)),)
        return sgp_after(m3ua.encode(Message(m3ua.ASPUP, params)), asps, address)

    assert errors(up(None, "10.1.2.3")) == [ErrorCode.ASP_IDENTIFIER_REQUIRED]
    assert errors(up(12, "10.1.2.3")) == [ErrorCode.INVALID_ASP_IDENTIFIER]
    sgp = up(11, "10.1.2.3")
    assert sgp.state is AspState.INACTIVE and sgp.binding is not None
    sgp.data_to_send()
    # msc1 may only activate its own context
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPAC, ((Tag.ROUTING_CONTEXT, u32(200)),))), 0.0)
    assert errors(sgp) == [ErrorCode.INVALID_ROUTING_CONTEXT]
    sgp.receive_data(
        m3ua.encode(
            Message(m3ua.ASPAC, ((Tag.TRAFFIC_MODE_TYPE, u32(1)), (Tag.ROUTING_CONTEXT, u32(100))))
        ),
        0.0,
    )
    assert errors(sgp) == [ErrorCode.UNSUPPORTED_TRAFFIC_MODE_TYPE]


def test_allowed_networks_close_other_sources_at_once() -> None:
    settings = M3uaSettings(allowed_networks=("10.0.0.0/8", "::1/128"))
    assert AspConnection(settings, Side.SGP, 0.0, None, "x", "192.0.2.1").closed
    assert not AspConnection(settings, Side.SGP, 0.0, None, "x", "10.9.9.9").closed
    assert not AspConnection(settings, Side.SGP, 0.0, None, "x", "::1").closed
    assert not AspConnection(settings, Side.SGP, 0.0, None, "x", "::ffff:10.1.1.1").closed


@pytest.mark.parametrize("side", [Side.SGP, Side.ASP])
def test_handshake_timeout_closes_an_association_that_never_gets_active(side: Side) -> None:
    conn = AspConnection(M3uaSettings(handshake_timeout_s=10.0), side, 0.0)
    timer = conn.get_timer()
    while timer is not None and timer < 10.0:
        conn.handle_timer(timer)
        timer = conn.get_timer()
    assert timer == 10.0 and not conn.closed
    conn.handle_timer(10.0)
    assert conn.closed and "not ASP-ACTIVE" in str(events(conn)[-1])


def test_handshake_timeout_stops_once_active() -> None:
    settings = M3uaSettings(handshake_timeout_s=10.0)
    _asp, sgp = pair(settings)
    assert sgp.state is AspState.ACTIVE and sgp.get_timer() is None


def test_beat_after_silence_then_close_without_traffic() -> None:
    conn = AspConnection(M3uaSettings(beat_interval_s=30.0), Side.SGP, 0.0)
    conn.data_to_send()
    conn.receive_data(m3ua.encode(Message(m3ua.BEAT_ACK)), 5.0)  # traffic resets the clock
    assert conn.get_timer() == 35.0
    conn.handle_timer(35.0)
    (beat,) = messages(conn.data_to_send())
    assert beat.kind == m3ua.BEAT and beat.get(Tag.HEARTBEAT_DATA)
    assert conn.get_timer() == 65.0 and not conn.closed
    conn.handle_timer(65.0)
    assert conn.closed and "BEAT" in str(events(conn)[-1])


def test_beat_answered_keeps_both_sides_up() -> None:
    live = M3uaSettings(beat_interval_s=30.0)
    asp, sgp = pair(live, M3uaSettings())  # the ASP side as eir-sim runs it: no BEAT of its own
    now = 0.0
    for _ in range(10):
        now = sgp.get_timer() or 0.0
        sgp.handle_timer(now)
        pump(asp, sgp, now)
    assert now >= 300.0 and not sgp.closed and sgp.state is AspState.ACTIVE


def test_asp_side_beats_too() -> None:
    asp, sgp = pair(M3uaSettings(), M3uaSettings(beat_interval_s=30.0))
    assert asp.state is AspState.ACTIVE and asp.get_timer() == 30.0
    asp.handle_timer(30.0)
    pump(asp, sgp, 30.0)  # BEAT, BEAT-ACK
    assert asp.get_timer() == 60.0
    asp.handle_timer(60.0)
    asp.data_to_send()  # this BEAT is lost
    asp.handle_timer(90.0)
    assert asp.closed


def test_a_configured_asp_identifier_is_held_by_one_association_at_a_time() -> None:
    settings = M3uaSettings(asps=(AspBinding("msc1", 11),))
    table = AsTable()
    up = m3ua.encode(Message(m3ua.ASPUP, ((Tag.ASP_IDENTIFIER, u32(11)),)))
    first = AspConnection(settings, Side.SGP, 0.0, table, "first", "10.0.0.1")
    first.receive_data(up, 0.0)
    assert first.state is AspState.INACTIVE
    second = AspConnection(settings, Side.SGP, 0.0, table, "second", "10.0.0.2")
    second.receive_data(up, 0.0)
    assert errors(second) == [ErrorCode.INVALID_ASP_IDENTIFIER]
    assert second.state is AspState.DOWN and first.state is AspState.INACTIVE
    first.connection_lost()
    second.receive_data(up, 0.0)
    assert _state(second) is AspState.INACTIVE


def test_without_configured_contexts_data_may_omit_the_one_activated() -> None:
    sgp = sgp_after(m3ua.encode(Message(m3ua.ASPAC, ((Tag.ROUTING_CONTEXT, u32(7)),))), up=True)
    assert _state(sgp) is AspState.ACTIVE
    sgp.data_to_send()
    events(sgp)
    sgp.receive_data(m3ua.encode_data(PD), 0.0)
    sgp.receive_data(m3ua.encode_data(PD, 8), 0.0)
    assert errors(sgp) == [ErrorCode.INVALID_ROUTING_CONTEXT]
    assert events(sgp) == [DataReceived(PD, None, None)]


# --- issue 13: an ERR flood, the parameters ERR must carry, a silently dead ASP Identifier -------

FLOOD = bytes.fromhex("01000f0100000008") * 8192  # 64 KiB of unsupported class 15


def test_an_err_flood_in_one_read_is_cut_after_the_error_budget() -> None:
    """8,192 rejected messages in one read used to get 8,192 ERRs (229 KB, 2-3 s of pycrate)."""
    sgp = AspConnection(M3uaSettings(), Side.SGP, 0.0)
    before = m3ua.Work.messages
    sgp.receive_data(FLOOD, 0.0)
    assert m3ua.Work.messages - before == m3ua_asp.ERROR_BURST + 1  # the rest is never looked at
    sent = messages(sgp.data_to_send())
    assert [m.u32(Tag.ERROR_CODE) for m in sent] == (
        [ErrorCode.UNSUPPORTED_MESSAGE_CLASS] * m3ua_asp.ERROR_BURST + [ErrorCode.PROTOCOL_ERROR]
    )
    assert sgp.closed and "too many errors" in str(events(sgp)[-1])


def test_the_error_budget_refills_with_time() -> None:
    one = bytes.fromhex("01000f0100000008")
    sgp = AspConnection(M3uaSettings(), Side.SGP, 0.0)
    sgp.receive_data(one * m3ua_asp.ERROR_BURST, 0.0)
    assert len(errors(sgp)) == m3ua_asp.ERROR_BURST and not sgp.closed
    sgp.receive_data(one * 4, 4 / m3ua_asp.ERROR_RATE_PER_S)  # four ERRs earned back
    assert len(errors(sgp)) == 4 and not sgp.closed
    sgp.receive_data(one, 4 / m3ua_asp.ERROR_RATE_PER_S)
    assert errors(sgp) == [ErrorCode.PROTOCOL_ERROR] and sgp.closed


def test_the_state_machine_never_runs_pycrate(monkeypatch: pytest.MonkeyPatch) -> None:
    """What we send is packed and what we receive is parsed with struct: a BEAT flood (each
    answered in any state) used to cost 0.6 ms of pycrate per BEAT, 2.5 s for 64 KiB."""

    def refuse(*_args: object) -> bytes:
        raise AssertionError("pycrate runs in the state machine")

    for name in ("encode_pycrate", "decode_pycrate"):
        monkeypatch.setattr(m3ua, name, refuse)
    for name in ("to_bytes", "from_bytes"):
        monkeypatch.setattr(SIGTRAN, name, refuse)  # every pycrate M3UA message
    live = M3uaSettings(routing_contexts=(1,), beat_interval_s=30.0, asp_identifier=3)
    asp_, sgp = pair(M3uaSettings(routing_contexts=(1,)), live)
    assert asp_.state is AspState.ACTIVE and sgp.state is AspState.ACTIVE
    sgp.receive_data(m3ua.encode(Message(m3ua.BEAT, ((Tag.HEARTBEAT_DATA, b"hb"),))) * 50, 0.0)
    sent = messages(sgp.data_to_send())
    assert [m.kind for m in sent] == [m3ua.BEAT_ACK] * 50
    asp_.handle_timer(30.0)
    sgp.receive_data(FLOOD[:64], 0.0)
    pump(asp_, sgp, 30.0)
    asp_.shutdown()
    pump(asp_, sgp, 30.0)
    assert _state(sgp) is AspState.DOWN


def test_invalid_routing_context_and_network_appearance_are_named_in_their_parameters() -> None:
    """RFC 4666 3.8.1: the invalid Routing Context(s) in the ERR's Routing Context parameter,
    the Network Appearance in its own; they used to be in Diagnostic Information, or absent."""
    served = M3uaSettings(routing_contexts=(100,), network_appearance=8)
    sgp = sgp_after(
        m3ua.encode(Message(m3ua.ASPAC, ((Tag.ROUTING_CONTEXT, u32(5) + u32(100) + u32(6)),))),
        served,
        up=True,
    )
    (err,) = messages(sgp.data_to_send())
    assert err.u32(Tag.ERROR_CODE) == ErrorCode.INVALID_ROUTING_CONTEXT
    assert err.u32_list(Tag.ROUTING_CONTEXT) == (5, 6)
    sgp.receive_data(m3ua.encode(Message(m3ua.ASPAC, ((Tag.ROUTING_CONTEXT, u32(100)),))), 0.0)
    sgp.data_to_send()
    sgp.receive_data(m3ua.encode_data(PD, 7), 0.0)
    (err,) = messages(sgp.data_to_send())
    assert err.u32(Tag.ERROR_CODE) == ErrorCode.INVALID_ROUTING_CONTEXT
    assert err.u32_list(Tag.ROUTING_CONTEXT) == (7,)
    sgp.receive_data(m3ua.encode_data(PD, 100, 0xDEADBEEF), 0.0)
    (err,) = messages(sgp.data_to_send())
    assert err.u32(Tag.ERROR_CODE) == ErrorCode.INVALID_NETWORK_APPEARANCE
    assert err.u32(Tag.NETWORK_APPEARANCE) == 0xDEADBEEF and err.get(Tag.ROUTING_CONTEXT) is None


UP_11 = m3ua.encode(Message(m3ua.ASPUP, ((Tag.ASP_IDENTIFIER, u32(11)),)))


def _holder(table: AsTable, settings: M3uaSettings, address: str = "10.0.0.1") -> AspConnection:
    first = AspConnection(settings, Side.SGP, 0.0, table, "first", address)
    first.receive_data(UP_11, 0.0)
    first.receive_data(m3ua.encode(Message(m3ua.ASPAC)), 0.0)
    assert first.state is AspState.ACTIVE
    first.data_to_send()
    events(first)
    return first


@pytest.mark.parametrize("beat", [0.0, 30.0])
def test_an_asp_restarting_from_its_address_takes_its_identifier_over(beat: float) -> None:
    settings = M3uaSettings(asps=(AspBinding("msc1", 11),), beat_interval_s=beat)
    table = AsTable()
    first = _holder(table, settings)
    woken: list[bool] = []
    first.wakeup = lambda: woken.append(True)
    again = AspConnection(settings, Side.SGP, 1.0, table, "again", "10.0.0.1")
    again.receive_data(UP_11, 1.0)
    assert again.state is AspState.INACTIVE and errors(again) == []
    assert first.closed and woken and table.holders[11] is again
    assert "taken over" in str(events(first)[-1]) and table.active.get(-1) == []


@pytest.mark.parametrize(("beat", "silent_after"), [(0.0, 30.0), (5.0, 5.0)])
def test_a_silent_holder_gives_its_identifier_up(beat: float, silent_after: float) -> None:
    settings = M3uaSettings(asps=(AspBinding("msc1", 11),), beat_interval_s=beat)
    table = AsTable()
    first = _holder(table, settings)
    early = AspConnection(settings, Side.SGP, silent_after, table, "early", "10.0.0.2")
    early.receive_data(UP_11, silent_after)  # silent for exactly the bound: still held
    assert errors(early) == [ErrorCode.INVALID_ASP_IDENTIFIER] and not first.closed
    late = AspConnection(settings, Side.SGP, silent_after + 0.5, table, "late", "10.0.0.2")
    late.receive_data(UP_11, silent_after + 0.5)
    assert late.state is AspState.INACTIVE and first.closed and table.holders[11] is late
