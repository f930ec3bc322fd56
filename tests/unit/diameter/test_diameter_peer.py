"""The RFC 6733 peer state machine, in memory: client and server PeerConnections."""

from __future__ import annotations

from dataclasses import replace

from eir.diameter import base, codec
from eir.diameter.allow_list import AllowList
from eir.diameter.dictionary import S13, DisconnectCause
from eir.diameter.message import Message, unsigned32
from eir.diameter.peer import (
    AnswerReceived,
    PeerConnection,
    PeerDown,
    PeerUp,
    Role,
    State,
)
from eir.diameter.peer_table import PeerTable
from eir.diameter.s13.client import decode_eca
from eir.model import EquipmentStatus
from tests.support.diameter import (
    BLACK,
    EIR,
    MME,
    application,
    connected_pair,
    make_ecr,
    pump,
    settings,
    split_messages,
    vector,
)


def events(conn: PeerConnection) -> list[object]:
    out: list[object] = []
    while (event := conn.next_event()) is not None:
        out.append(event)
    return out


def answers(conn: PeerConnection) -> list[Message]:
    conn.process(1 << 30)
    return [codec.decode_message_pycrate(m) for m in split_messages(conn.data_to_send())]


def rc(msg: Message) -> int | None:
    return base.result_code(msg)


def open_server(**kw: object) -> PeerConnection:
    server = PeerConnection(settings(EIR, **kw), Role.RESPONDER, 0.0, "192.0.2.9", application())
    server.receive_data(vector("cer_mme"), 0.0)
    assert server.state is State.OPEN
    server.data_to_send()
    events(server)
    return server


def test_capabilities_exchange_both_ways() -> None:
    client, server = connected_pair()
    assert client.state is State.OPEN and server.state is State.OPEN
    assert events(server) == [PeerUp("mme1.epc.example", "epc.example")]
    assert events(client) == [PeerUp("eir.test.example", "test.example")]


def test_cea_advertises_s13_and_who_we_are() -> None:
    server = PeerConnection(settings(), Role.RESPONDER, 0.0, "192.0.2.9", application())
    server.receive_data(vector("cer_mme"), 0.0)
    (cea,) = [codec.decode_message_pycrate(m) for m in split_messages(server.data_to_send())]
    assert cea.code == 257 and not cea.is_request and rc(cea) == 2001
    assert base.advertises(cea, S13)
    assert cea.find(257) is not None and cea.find(257).data == b"\x00\x01\xc0\x00\x02\x01"  # type: ignore[union-attr]
    for code in (264, 296, 266, 269, 278, 265, 267):
        assert cea.find(code) is not None, code
    assert [a.code for a in cea.avps][:3] == [268, 264, 296]


def test_ecr_answered_only_after_process() -> None:
    server = open_server()
    server.receive_data(make_ecr(BLACK), 1.0)
    assert server.data_to_send() == b"" and len(server.pending) == 1
    (eca,) = answers(server)
    assert decode_eca(eca).equipment_status is EquipmentStatus.BLACKLISTED


def test_half_a_message_per_read_and_fifty_in_one() -> None:
    server = open_server()
    one = make_ecr(BLACK)
    for i in range(len(one)):
        server.receive_data(one[i : i + 1], 1.0)
    assert len(answers(server)) == 1
    burst = b"".join(make_ecr(BLACK, hbh=i) for i in range(50))
    server.receive_data(burst[:77], 1.0)
    server.receive_data(burst[77:], 1.0)
    got = answers(server)
    assert [m.hbh for m in got] == list(range(50))


def test_request_before_cer_closes() -> None:
    server = PeerConnection(settings(), Role.RESPONDER, 0.0, "192.0.2.9", application())
    server.receive_data(make_ecr(BLACK), 0.0)
    assert server.closed and server.data_to_send() == b""
    assert isinstance(events(server)[0], PeerDown)


def test_cer_without_s13_gets_5010() -> None:
    cer = codec.decode_message_pycrate(vector("cer_mme"))
    avps = tuple(a for a in cer.avps if a.code not in (258, 260))
    server = PeerConnection(settings(), Role.RESPONDER, 0.0, "192.0.2.9", application())
    server.receive_data(codec.encode_message_pycrate(cer._replace(avps=avps)), 0.0)
    (cea,) = answers(server)
    assert rc(cea) == 5010 and server.closed


def test_cer_relay_application_is_enough() -> None:
    cer = codec.decode_message_pycrate(vector("cer_mme"))
    avps = tuple(a for a in cer.avps if a.code not in (258, 260))
    avps += (unsigned32(258, 0xFFFFFFFF),)
    server = PeerConnection(settings(), Role.RESPONDER, 0.0, "192.0.2.9", application())
    server.receive_data(codec.encode_message_pycrate(cer._replace(avps=avps)), 0.0)
    assert server.state is State.OPEN


def test_cer_missing_origin_host_5005() -> None:
    cer = codec.decode_message_pycrate(vector("cer_mme"))
    server = PeerConnection(settings(), Role.RESPONDER, 0.0, "192.0.2.9", application())
    server.receive_data(codec.encode_message_pycrate(cer._replace(avps=cer.avps[1:])), 0.0)
    (cea,) = answers(server)
    assert rc(cea) == 5005 and server.closed


def test_allow_list_refuses_with_3010() -> None:
    for allow in (
        AllowList(hosts=("mme9*",)),
        AllowList(realms=("other.example",)),
        AllowList(networks=("10.0.0.0/8",)),
    ):
        server = PeerConnection(
            settings(allow=allow), Role.RESPONDER, 0.0, "192.0.2.9", application()
        )
        server.receive_data(vector("cer_mme"), 0.0)
        (cea,) = answers(server)
        assert rc(cea) == 3010 and cea.is_error and server.closed
    allowed = AllowList(hosts=("MME1.*",), realms=("epc.example",), networks=("192.0.2.0/24",))
    server = PeerConnection(
        settings(allow=allowed), Role.RESPONDER, 0.0, "192.0.2.9", application()
    )
    server.receive_data(vector("cer_mme"), 0.0)
    assert server.state is State.OPEN


def test_watchdog_both_ways() -> None:
    client, server = connected_pair(now=0.0)
    events(client), events(server)
    assert server.get_timer() == 30.0
    server.handle_timer(30.0)  # silence for Tw: the server sends DWR
    client.receive_data(server.data_to_send(), 30.0)
    (dwa,) = [codec.decode_message_pycrate(m) for m in split_messages(client.data_to_send())]
    assert dwa.code == 280 and rc(dwa) == 2001
    server.receive_data(codec.encode_message_pycrate(dwa), 30.5)
    server.handle_timer(60.0)  # answered: no close, another DWR only after Tw of silence
    assert server.state is State.OPEN


def test_watchdog_unanswered_closes() -> None:
    server = open_server()
    server.handle_timer(30.0)
    assert codec.decode_message_pycrate(server.data_to_send()).code == 280
    server.handle_timer(59.0)
    assert server.state is State.OPEN
    server.handle_timer(60.0)
    assert server.closed
    assert "watchdog" in str(events(server)[-1])


def test_no_cer_within_timeout_closes() -> None:
    server = PeerConnection(settings(), Role.RESPONDER, 0.0, "192.0.2.9", application())
    assert server.get_timer() == 10.0
    server.handle_timer(10.0)
    assert server.closed


def test_dpr_dpa_from_peer() -> None:
    client, server = connected_pair()
    client.disconnect(DisconnectCause.REBOOTING, 1.0)
    pump(client, server, 1.0)
    assert client.closed and server.closed
    assert events(server)[-1] == PeerDown("peer sent DPR (REBOOTING)")
    assert events(client)[-1] == PeerDown("DPA received")


def test_dpa_timeout_closes() -> None:
    server = open_server()
    server.disconnect(DisconnectCause.BUSY, 1.0)
    assert codec.decode_message_pycrate(server.data_to_send()).code == 282
    assert server.state is State.CLOSING
    server.handle_timer(6.0)
    assert server.closed


def test_unknown_base_command_3001_and_cer_again() -> None:
    server = open_server()
    req = base.request(258, (), 9, 9)  # type: ignore[arg-type]  # RAR on the common app
    server.receive_data(codec.encode_message_pycrate(req), 1.0)
    (ans,) = answers(server)
    assert rc(ans) == 3001 and ans.is_error
    server.receive_data(vector("cer_mme"), 1.0)
    (ans,) = answers(server)
    assert ans.code == 257 and rc(ans) == 5012 and server.state is State.OPEN


def test_too_many_in_flight_3004() -> None:
    server = open_server(max_in_flight=4)
    server.receive_data(b"".join(make_ecr(BLACK, hbh=i) for i in range(10)), 1.0)
    busy = [codec.decode_message_pycrate(m) for m in split_messages(server.data_to_send())]
    assert [m.hbh for m in busy] == [4, 5, 6, 7, 8, 9]
    assert all(rc(m) == 3004 and m.is_error for m in busy)
    assert [m.hbh for m in answers(server)] == [0, 1, 2, 3]
    assert server.refused_busy == 6


def test_oversized_message_answered_5015_and_skipped() -> None:
    server = open_server(max_message=4096)
    big = make_ecr(BLACK, hbh=1, session="s;" + "x" * 5000)
    server.receive_data(big[:100], 1.0)
    server.receive_data(big[100:3000], 1.0)
    server.receive_data(big[3000:] + make_ecr(BLACK, hbh=2), 1.0)
    got = answers(server)
    assert [(m.hbh, rc(m) or decode_eca(m).result_code) for m in got] == [(1, 5015), (2, 2001)]
    assert server.state is State.OPEN


def test_framing_lost_closes() -> None:
    server = open_server()
    server.receive_data(b"\x01\x00\x00\x08" + bytes(16), 1.0)
    assert server.closed


def test_client_role_gets_answers_as_events() -> None:
    client, server = connected_pair()
    events(client)
    client.send_request(make_ecr(BLACK, hbh=77))
    pump(client, server, 1.0)
    (event,) = events(client)
    assert isinstance(event, AnswerReceived)
    assert (
        decode_eca(codec.decode_message_pycrate(event.message)).equipment_status
        is EquipmentStatus.BLACKLISTED
    )


def test_same_origin_host_again_retires_the_older_connection() -> None:
    table = PeerTable(EIR.origin_host, lambda: 5.0)
    woke: list[int] = []
    old = PeerConnection(settings(), Role.RESPONDER, 0.0, "192.0.2.9", application(), table)
    old.wakeup = lambda: woke.append(1)
    old.receive_data(vector("cer_mme"), 0.0)
    old.data_to_send()
    new = PeerConnection(settings(), Role.RESPONDER, 1.0, "192.0.2.9", application(), table)
    new.receive_data(vector("cer_mme"), 5.0)
    assert new.state is State.OPEN and old.state is State.CLOSING and woke == [1]
    assert (
        codec.decode_message_pycrate(old.data_to_send()).code == 282
    )  # DPR: closed cleanly, not a zombie
    assert table.by_host["mme1.epc.example"] is new


def _election(local_host: str) -> tuple[PeerConnection, PeerConnection]:
    """We dialled the MME and the MME dialled us: who keeps which connection?"""
    local = EIR.__class__(local_host, "test.example")
    table = PeerTable(local_host, lambda: 1.0)
    ours = PeerConnection(settings(local), Role.INITIATOR, 0.0, "192.0.2.1", application(), table)
    mme_side = PeerConnection(settings(MME), Role.RESPONDER, 0.0, "192.0.2.9")
    mme_side.receive_data(ours.data_to_send(), 0.0)
    ours.receive_data(mme_side.data_to_send(), 0.0)
    assert ours.state is State.OPEN
    theirs = PeerConnection(settings(local), Role.RESPONDER, 1.0, "192.0.2.1", application(), table)
    theirs.receive_data(vector("cer_mme"), 1.0)
    return ours, theirs


def test_election_higher_origin_host_keeps_its_responder_connection() -> None:
    ours, theirs = _election("zzz.test.example")  # > mme1.epc.example: we win
    assert theirs.state is State.OPEN and ours.state is State.CLOSING
    ours, theirs = _election("aaa.test.example")  # we lose: CEA 4003 on the new one
    assert ours.state is State.OPEN and theirs.closed
    (cea,) = [codec.decode_message_pycrate(m) for m in split_messages(theirs.data_to_send())]
    assert rc(cea) == 4003


def test_node_identity_in_cer() -> None:
    cer = codec.decode_message_pycrate(
        codec.encode_message_pycrate(
            base.cer(replace(MME, host_ip_addresses=("2001:db8::1",), origin_state_id=3), 1, 1)
        )
    )
    assert cer.find(257).data == b"\x00\x02" + bytes.fromhex("20010db8" + "0" * 23 + "1")  # type: ignore[union-attr]


def test_watchdog_jitter_stays_within_two_seconds() -> None:
    for seed in range(20):
        conn = PeerConnection(
            settings(watchdog_jitter_s=2.0), Role.RESPONDER, 0.0, "x", application(), hbh_seed=seed
        )
        conn.receive_data(vector("cer_mme"), 0.0)
        timer = conn.get_timer()
        assert timer is not None and 28.0 <= timer <= 32.0
