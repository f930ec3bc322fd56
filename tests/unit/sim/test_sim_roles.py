"""The simulator's client roles against the daemon's cores, in memory: every kind of request,
every answer checked, the wire kept honest (ids, Session-Id, SCCP parties)."""

from __future__ import annotations

import pytest

from eir.diameter import codec
from eir.diameter.peer import State
from eir.diameter.s13.client import ecr
from eir.diameter.wire import encode_message
from eir.identity import Imei, tbcd_encode
from eir.sigtran import msc
from eir.sigtran.ber import tlv
from eir.sigtran.m3ua_asp import AspState
from sim import mme_role as s13_role
from sim import msc_role as map_role
from sim.probes import Outcome
from tests.support.sigtran import server as tcap_server
from tests.support.sim import MapPair, S13Pair, map_probes, s13_probes


def test_the_s13_client_gets_every_expected_answer_from_the_daemon_core() -> None:
    probes, bodies = s13_probes()
    pair = S13Pair(bodies)
    assert pair.client.ready and pair.server.state is State.OPEN
    requests = b"".join(pair.client.request(i, 1000 + i) for i in range(len(probes)))
    pair.pump(requests)
    assert len(pair.answers) == len(probes)
    for (key, outcome), (i, probe) in zip(sorted(pair.answers), enumerate(probes), strict=True):
        assert key == 1000 + i
        assert outcome is probe.expected, (probe.describe(), outcome)
    kinds = {p.kind for p in probes}
    assert kinds == {"black", "grey", "white", "pair", "anomaly", "malformed", "unknown"}
    results = {o.result for _, o in pair.answers if o is not None}
    assert {"2001", "5004", "5005"} <= results
    assert len(pair.client.cache) <= 8  # one decoding per shape of answer


def test_the_fast_answer_scan_agrees_with_pycrate() -> None:
    probes, bodies = s13_probes()
    pair = S13Pair(bodies)
    seen = 0
    for i in range(len(probes)):
        pair.server.receive_data(pair.client.request(i, 9000 + i), 0.0)
        pair.server.process(10)
        answer = pair.server.data_to_send()
        assert s13_role.scan_answer(answer)[0] == s13_role.decode_answer_pycrate(answer)
        for cut in range(20, len(answer), 7):  # and on broken answers: None from both
            mutant = bytearray(answer)
            mutant[cut] ^= 0x5A
            fast, _ = s13_role.scan_answer(bytes(mutant))
            slow = s13_role.decode_answer_pycrate(bytes(mutant))
            if fast is not None and slow is not None:
                assert fast == slow, (cut, bytes(mutant).hex())
            seen += 1
    assert seen > 1000


def test_each_ecr_is_what_pycrate_encodes_with_a_unique_session_id() -> None:
    probes, bodies = s13_probes(count=20)
    ident = s13_role.identity(3, 7, "sim.example", "test.example")
    client = s13_role.S13Client(ident, bodies, 0.0)
    sessions = set()
    for i in range(len(probes)):
        buf = client.request(i, 0x10000 + i)
        msg = codec.decode_message_pycrate(buf)
        assert codec.encode_message_pycrate(msg) == buf
        assert msg.hbh == msg.e2e == 0x10000 + i
        session = msg.find(263)
        assert session is not None
        sessions.add(session.data)
        assert session.data.startswith(b"mme-p003-c0007.sim.sim.example;")
    assert len(sessions) == len(probes)


def test_encode_message_is_pycrate_byte_for_byte() -> None:
    msg = ecr(
        session_id="a;b;c",
        origin_host="mme",
        origin_realm="r",
        destination_realm="d",
        imei="35209900176148",
        software_version="01",
        imsi="001010123456789",
    )
    assert encode_message(msg) == codec.encode_message_pycrate(msg)


def test_a_wrong_session_id_or_undecodable_answer_is_reported() -> None:
    _, bodies = s13_probes(count=5)
    pair = S13Pair(bodies)
    good = bytearray()
    server_answer: list[bytes] = []
    pair.server.receive_data(pair.client.request(0, 77), 0.0)
    pair.server.process(10)
    server_answer.append(pair.server.data_to_send())
    good += server_answer[0]
    tampered = bytearray(good)
    at = tampered.index(b"0000004d")  # the sequence number 77 in hex, in the Session-Id
    tampered[at : at + 8] = b"0000004e"
    got: list[tuple[int, Outcome | None]] = []
    pair.client.receive(bytes(tampered), 0.0, lambda k, o: got.append((k, o)))
    assert got == [(77, s13_role.WRONG_SESSION)]
    broken = bytearray(good)
    broken[-3] ^= 0xFF  # inside the last AVP: a shape never seen, and not decodable as valid
    broken[25:28] = (0xFFFFFF).to_bytes(3, "big")  # the Session-Id AVP claims too much
    got.clear()
    pair.client.receive(bytes(broken), 0.0, lambda k, o: got.append((k, o)))
    assert got in ([(77, None)], [(77, s13_role.WRONG_SESSION)])


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("kind", ["udt", "xudt"])
def test_the_map_client_gets_every_expected_answer(version: int, kind: str) -> None:
    options = map_role.MapOptions(version=version, sccp_type=kind)
    probes, messages = map_probes(options)
    pair = MapPair(options, messages)
    assert pair.client.ready
    requests = b"".join(pair.client.request(i, 5000 + i) for i in range(len(probes)))
    pair.pump(requests)
    assert len(pair.answers) == len(probes)
    for (key, outcome), (i, probe) in zip(sorted(pair.answers), enumerate(probes), strict=True):
        assert key == 5000 + i
        assert outcome is probe.expected, (probe.describe(), outcome)
    results = {o.result for _, o in pair.answers if o is not None}
    assert set(map_role.MALFORMED.values()) <= results
    pair.client.close(0.0)
    pair.pump()
    assert pair.client.asp.state is AspState.DOWN


def test_pairs_send_the_imsi_with_map_v1_and_v2() -> None:
    probes, _ = map_probes(map_role.MapOptions(version=2))
    pairs = [p for p in probes if p.kind == "pair"]
    assert pairs and all(p.imsi == "001010123456789" for p in pairs)
    assert all(p.expected == Outcome("result", "white") for p in pairs)
    probes3, _ = map_probes(map_role.MapOptions(version=3))
    assert all(p.imsi is None for p in probes3 if p.kind == "pair")


@pytest.mark.parametrize("version", [1, 2, 3])
def test_begin_templates_are_pycrates_encoding(version: int) -> None:
    imei = Imei("35209900176148").to_tbcd()
    template = msc.BeginTemplate(version)
    for otid in (b"\x00\x00\x00\x01", b"\xff\xfe\xfd\xfc"):
        assert template.encode(otid, imei) == msc.encode_check_imei_pycrate(version, imei, otid)
        assert msc.encode_check_imei(version, imei, otid) == msc.encode_check_imei_pycrate(
            version, imei, otid
        )
    # a Begin with a raw parameter: the plain Begin is made once per version, then patched
    otid = b"\x12\x34\x56\x78"
    parameter = tlv(0x04, imei[:7])
    plain = msc.encode_begin(None if version == 1 else version, [], otid)
    component = tlv(0x02, b"\x01") + tlv(0x02, b"\x2b") + parameter
    assert msc.encode_with_parameter(version, parameter, otid) == tlv(
        0x62,
        plain[2 if plain[1] < 0x80 else 2 + (plain[1] & 0x7F) :] + tlv(0x6C, tlv(0xA1, component)),
    )
    if version < 3:
        imsi = tbcd_encode("001010123456789", 8)
        with_imsi = msc.BeginTemplate(version, imsi)
        assert with_imsi.encode(b"\x00\x00\x00\x05", imei) == msc.encode_check_imei_with_imsi(
            version, imei, imsi, b"\x00\x00\x00\x05"
        )


def test_decode_answer_names_results_errors_rejects_and_aborts() -> None:
    srv = tcap_server()
    otid = b"\x00\x00\x00\x09"
    black = Imei("49015420323751").to_tbcd()
    answer = msc.decode_answer(srv.answer(msc.encode_check_imei(3, black, otid)) or b"")
    assert answer == msc.MapAnswer("result", "blackListed", dtid=otid)
    assert msc.dtid_of(srv.answer(msc.encode_check_imei(2, black, otid)) or b"") == (otid, 8)
    bad = msc.decode_answer(
        srv.answer(msc.encode_with_parameter(1, b"\x04\x08\xab" + black[1:], otid)) or b""
    )
    assert (bad.kind, bad.detail) == ("error", "unexpectedDataValue")
    rejected = msc.decode_answer(
        srv.answer(msc.encode_with_parameter(2, b"\x04\x07" + black[:7], otid)) or b""
    )
    assert (rejected.kind, rejected.detail) == ("reject", "invoke:mistypedArgument")
    aborted = msc.decode_answer(
        srv.answer(msc.encode_begin(9, [], otid, acn=(0, 4, 0, 0, 1, 0, 13, 9))) or b""
    )
    assert aborted.kind == "u-abort" and aborted.detail == "application-context-name-not-supported"
    with pytest.raises(ValueError, match="undecodable"):
        msc.decode_answer(b"\x64\x03\x49\x01")


def test_the_s13_client_answers_the_watchdog_and_leaves_with_dpr() -> None:
    _, bodies = s13_probes(count=3)
    pair = S13Pair(bodies)
    pair.server.handle_timer(100.0)  # Tw (30 s) of silence: the EIR sends DWR
    dwr = pair.server.data_to_send()
    assert codec.decode_message_pycrate(dwr).code == 280
    pair.client.receive(dwr, 100.0, lambda k, o: None)
    dwa = pair.client.data_to_send()
    assert (
        codec.decode_message_pycrate(dwa).code == 280
        and not codec.decode_message_pycrate(dwa).is_request
    )
    pair.server.receive_data(dwa, 100.0)
    pair.server.handle_timer(131.0)  # answered: another DWR, not a close
    assert pair.server.state is State.OPEN
    pair.client.close(131.0)
    pair.pump()
    assert pair.client.closed and pair.server.closed


def test_the_status_words_have_one_definition() -> None:
    """eir's events and metrics and eir-sim's outcomes name a status with the same words, taken
    from `eir.model.STATUS_WORDS` (itself the list names)."""
    from eir import events
    from eir.model import STATUS_WORDS, CheckResult, EquipmentStatus, Rule
    from sim import probes, result_names

    assert STATUS_WORDS == {0: "white", 1: "black", 2: "grey"}
    grey = CheckResult(EquipmentStatus.GREYLISTED, Rule.IMEI)
    assert events.status_name(grey) == "grey"
    assert events.status_name(CheckResult(None, Rule.UNKNOWN)) == "unknown"
    assert probes.MAP_STATUS == {
        "whiteListed": "white",
        "blackListed": "black",
        "greyListed": "grey",
    }
    assert result_names.status_label("grey") == "2 GREYLISTED"
    assert not hasattr(events, "_SHORT") and not hasattr(probes, "STATUS_NAMES")
