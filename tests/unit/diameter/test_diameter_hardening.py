"""Issue 13, Diameter side, sans-IO: the allow-list before decoding, error CEAs for bad CERs,
the duplicate Origin-Host rule, require_origin_match, the decoding bounds and their keys."""

from __future__ import annotations

import tomllib

import pytest

from eir.config import parse_config, to_toml
from eir.diameter import base, codec, wire
from eir.diameter.allow_list import AllowList
from eir.diameter.dictionary import AvpCode
from eir.diameter.message import Avp, Message, as_u32
from eir.diameter.node import NodeIdentity
from eir.diameter.peer import PeerConnection, Role, State
from eir.diameter.peer_table import PeerTable
from eir.errors import ConfigError
from tests.bench.bench_hostile import cer as nested_cer
from tests.support.diameter import (
    BLACK,
    EIR,
    MME,
    application,
    make_ecr,
    settings,
    split_messages,
    vector,
)


def sent(conn: PeerConnection) -> list[Message]:
    conn.process(1 << 30)
    return [codec.decode_message_pycrate(m) for m in split_messages(conn.data_to_send())]


def rc(msg: Message) -> int:
    avp = msg.find(AvpCode.RESULT_CODE)
    assert avp is not None
    return as_u32(avp)


def with_tail(message: bytes, tail: bytes) -> bytes:
    length = len(message) + len(tail)
    return message[:1] + length.to_bytes(3, "big") + message[4:] + tail


def test_allow_list_is_decided_before_the_cer_is_decoded() -> None:
    # a refused peer's CER with a broken AVP after its Origin-Host: 3010, not 5014
    broken = with_tail(vector("cer_mme"), bytes.fromhex("0000ea6040000004"))
    server = PeerConnection(
        settings(allow=AllowList(hosts=("mme9*",))), Role.RESPONDER, 0.0, "192.0.2.9", application()
    )
    server.receive_data(broken, 0.0)
    (cea,) = sent(server)
    assert rc(cea) == 3010 and cea.is_error and server.closed
    # refused by address: the CER need not even be readable
    server = PeerConnection(
        settings(allow=AllowList(networks=("10.0.0.0/8",))),
        Role.RESPONDER,
        0.0,
        "192.0.2.9",
        application(),
    )
    server.receive_data(nested_cer(5000, host=MME.origin_host), 0.0)
    (cea,) = sent(server)
    assert rc(cea) == 3010 and server.closed


def test_a_bad_cer_gets_its_error_cea() -> None:
    broken = with_tail(vector("cer_mme"), bytes.fromhex("0000ea6040000004"))
    for data, code in ((broken, 5014), (nested_cer(9, host=MME.origin_host), 5004)):
        server = PeerConnection(settings(), Role.RESPONDER, 0.0, "192.0.2.9", application())
        server.receive_data(data, 0.0)
        (cea,) = sent(server)
        assert cea.code == 257 and rc(cea) == code and server.closed
    server = PeerConnection(settings(), Role.RESPONDER, 0.0, "192.0.2.9", application())
    server.receive_data(nested_cer(8, host=MME.origin_host), 0.0)  # within the bound:
    (cea,) = sent(server)
    assert rc(cea) == 5010  # decoded, and found without S13 at the top level


def _holder(table: PeerTable, **kw: object) -> PeerConnection:
    old = PeerConnection(
        settings(EIR, **kw), Role.RESPONDER, 0.0, "192.0.2.9", application(), table
    )
    old.receive_data(vector("cer_mme"), 0.0)
    old.data_to_send()
    assert old.state is State.OPEN
    return old


def _newcomer(
    table: PeerTable, now: float, address: str = "198.51.100.7", **kw: object
) -> PeerConnection:
    new = PeerConnection(settings(EIR, **kw), Role.RESPONDER, now, address, application(), table)
    new.receive_data(vector("cer_mme"), now)
    return new


def test_a_newcomer_from_another_address_does_not_evict_a_live_connection() -> None:
    table = PeerTable(EIR.origin_host, lambda: 5.0)
    old = _holder(table)
    for _ in range(6):
        new = _newcomer(table, 5.0)
        (cea,) = sent(new)
        assert rc(cea) == 5012 and new.closed
        assert old.state is State.OPEN and old.data_to_send() == b""  # no DPR
        assert table.by_host["mme1.epc.example"] is old


def test_a_newcomer_replaces_a_connection_its_watchdog_found_dead() -> None:
    table = PeerTable(EIR.origin_host, lambda: 40.0)
    old = _holder(table)
    old.handle_timer(30.0)  # silence for Tw: DWR sent, unanswered so far
    assert codec.decode_message_pycrate(old.data_to_send()).code == 280
    new = _newcomer(table, 40.0)
    assert new.state is State.OPEN and old.state is State.CLOSING
    # silent past Tw, before its timer ran: dead as well
    table = PeerTable(EIR.origin_host, lambda: 31.0)
    old = _holder(table)
    new = _newcomer(table, 31.0)
    assert new.state is State.OPEN and old.state is State.CLOSING


def test_duplicate_peer_replace_and_same_address() -> None:
    table = PeerTable(EIR.origin_host, lambda: 1.0)
    old = _holder(table, duplicate_peer="replace")
    new = _newcomer(table, 1.0, duplicate_peer="replace")
    assert new.state is State.OPEN and old.state is State.CLOSING
    table = PeerTable(EIR.origin_host, lambda: 1.0)
    old = _holder(table)
    new = _newcomer(table, 1.0, address="192.0.2.9")  # the same address: a restarted peer
    assert new.state is State.OPEN and old.state is State.CLOSING


def _ecr_from(host: str, hbh: int, extra: tuple[Avp, ...] = ()) -> bytes:
    msg = codec.decode_message_pycrate(make_ecr(BLACK, hbh=hbh, extra=extra))
    avps = tuple(
        a._replace(data=host.encode()) if a.code == AvpCode.ORIGIN_HOST else a for a in msg.avps
    )
    return codec.encode_message_pycrate(msg._replace(avps=avps))


@pytest.mark.parametrize("extra", [(), (Avp(60000, 0, 0, b"x"),)], ids=["fast", "slow"])
def test_require_origin_match(extra: tuple[Avp, ...]) -> None:
    server = PeerConnection(
        settings(require_origin_match=True), Role.RESPONDER, 0.0, "192.0.2.9", application()
    )
    server.receive_data(vector("cer_mme"), 0.0)
    server.data_to_send()
    server.receive_data(
        _ecr_from("mme2.epc.example", 1, extra) + _ecr_from("MME1.epc.example", 2, extra), 0.0
    )
    foreign, own = sent(server)
    assert foreign.hbh == 1 and rc(foreign) == 3010 and foreign.is_error
    assert own.hbh == 2 and rc(own) == 2001
    lax = PeerConnection(settings(), Role.RESPONDER, 0.0, "192.0.2.9", application())
    lax.receive_data(vector("cer_mme"), 0.0)
    lax.data_to_send()
    lax.receive_data(_ecr_from("mme2.epc.example", 1, extra), 0.0)
    (answer,) = sent(lax)
    assert rc(answer) == 2001


def test_the_application_uses_its_limits() -> None:
    app = application()
    app.limits = wire.Limits(max_depth=2, max_avps=16)
    nested = Avp(284, 0, 0x40, b"", (Avp(260, 0, 0x40, b"", (Avp(1, 0, 0, b"x"),)),))
    answer = codec.decode_message_pycrate(app.answer(make_ecr(BLACK, extra=(nested,)), "t"))
    assert rc(answer) == 5004
    failed = answer.find(AvpCode.FAILED_AVP)
    assert failed is not None and failed.group == (Avp(284, 0, 0x40, b"", ()),)
    many = tuple(Avp(60000 + i, 0, 0, b"") for i in range(20))
    answer = codec.decode_message_pycrate(app.answer(make_ecr(BLACK, extra=many), "t"))
    assert rc(answer) == 5009


def test_config_keys() -> None:
    config = parse_config(
        {
            "diameter": {
                "max_avp_depth": 4,
                "max_avps": 100,
                "duplicate_peer": "replace",
                "require_origin_match": True,
            }
        }
    )
    d = config.diameter
    assert (d.max_avp_depth, d.max_avps, d.duplicate_peer, d.require_origin_match) == (
        4,
        100,
        "replace",
        True,
    )
    assert parse_config(tomllib.loads(to_toml(config))).diameter == d
    default = parse_config({}).diameter
    assert wire.Limits(default.max_avp_depth, default.max_avps) == wire.LIMITS
    for key, value in (
        ("max_avp_depth", 1),
        ("max_avps", 10**6),
        ("duplicate_peer", "evict"),
        ("require_origin_match", "yes"),
    ):
        with pytest.raises(ConfigError, match=f"diameter.{key}"):
            parse_config({"diameter": {key: value}})


def test_cer_answers_use_the_request_identifiers() -> None:
    server = PeerConnection(
        settings(allow=AllowList(hosts=("x",))), Role.RESPONDER, 0.0, "192.0.2.9", application()
    )
    request = codec.decode_message_pycrate(vector("cer_mme"))
    server.receive_data(vector("cer_mme"), 0.0)
    (cea,) = sent(server)
    assert (cea.hbh, cea.e2e) == (request.hbh, request.e2e)
    assert base.result_code(cea) == 3010


def test_many_proxy_info_are_echoed_without_pycrate(monkeypatch: pytest.MonkeyPatch) -> None:
    """pycrate needs about 0.25 ms per AVP to encode: 335 Proxy-Info took 0.25 to 0.6 s."""
    app = application()
    proxies = tuple(
        Avp(
            284,
            0,
            0x40,
            b"",
            (Avp(280, 0, 0x40, f"dra{i}.example".encode()), Avp(33, 0, 0x40, b"state")),
        )
        for i in range(335)
    )
    slow = make_ecr(BLACK, extra=(*proxies, Avp(60000, 0, 0, b"")))
    broken = make_ecr("12", extra=proxies)

    def refuse(message: Message) -> bytes:
        raise AssertionError("pycrate encoding on the request path")

    monkeypatch.setattr(codec, "encode_message_pycrate", refuse)
    for request, code in ((slow, 2001), (broken, 5004)):
        answer = wire.decode_message(app.answer(request, "t"))
        assert rc(answer) == code
        assert answer.find_all(284) == list(proxies)


def _dialled(table: PeerTable, local: NodeIdentity) -> PeerConnection:
    """Our connection to the MME at 192.0.2.1, opened at 0.0."""
    ours = PeerConnection(settings(local), Role.INITIATOR, 0.0, "192.0.2.1", application(), table)
    mme_side = PeerConnection(settings(MME), Role.RESPONDER, 0.0, "192.0.2.9")
    mme_side.receive_data(ours.data_to_send(), 0.0)
    ours.receive_data(mme_side.data_to_send(), 0.0)
    assert ours.state is State.OPEN
    return ours


def test_a_cer_claiming_a_peer_we_dialled_does_not_win_an_election() -> None:
    """The election settles a simultaneous open only (the other role, the same address, within
    the CER timeout): a newcomer from another address claiming the Origin-Host of a peer we
    dialled must not retire our live connection, whichever Origin-Host is higher."""
    local = EIR.__class__("zzz.test.example", "test.example")  # higher: would win elections
    table = PeerTable(local.origin_host, lambda: 5.0)
    ours = _dialled(table, local)
    for _ in range(3):
        intruder = PeerConnection(
            settings(local), Role.RESPONDER, 5.0, "198.51.100.7", application(), table
        )
        intruder.receive_data(vector("cer_mme"), 5.0)
        (cea,) = sent(intruder)
        assert rc(cea) == 5012 and intruder.closed
        assert ours.state is State.OPEN and ours.data_to_send() == b""  # no DPR
    # the same address long after the open: the MME restarted and dialled us, no race
    table = PeerTable(local.origin_host, lambda: 20.0)
    ours = _dialled(table, local)
    again = PeerConnection(settings(local), Role.RESPONDER, 20.0, "192.0.2.1", application(), table)
    again.receive_data(vector("cer_mme"), 20.0)
    assert again.state is State.OPEN and ours.state is State.CLOSING
