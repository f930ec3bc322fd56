"""S13 ECR -> ECA through the application: every status, every error answer, both decoders."""

from __future__ import annotations

import struct

import pytest

from eir.config import PolicyConfig
from eir.diameter import codec, results, wire
from eir.diameter.dictionary import FLAG_E, FLAG_P, ResultCode
from eir.diameter.errors import DiameterError
from eir.diameter.message import Avp, Message, grouped, octets, unsigned32
from eir.diameter.s13.answer import Answers
from eir.diameter.s13.client import decode_eca
from eir.diameter.s13.request import decode_ecr
from eir.diameter.s13.scan import scan_ecr
from eir.model import CheckRequest, CheckResult, EquipmentStatus
from tests.support.diameter import (
    BLACK,
    EIR,
    GREY_RANGE_IMEI,
    PAIR_IMEI,
    PAIR_IMSI,
    application,
    make_ecr,
    vector,
)

S = EquipmentStatus


def answer_of(request: bytes, **kw: object) -> Message:
    app = application(**kw)  # type: ignore[arg-type]
    data = app.answer(request, "test-peer")
    wire.check_message(data)
    return codec.decode_message_pycrate(data)


def result(msg: Message) -> int | None:
    view = decode_eca(msg)
    return view.result_code if view.result_code is not None else view.experimental_result


def failed(msg: Message) -> Avp | None:
    group = msg.find(279)
    assert group is not None and group.group is not None
    return group.group[0]


@pytest.mark.parametrize(
    ("imei", "imsi", "status"),
    [
        (BLACK, None, S.BLACKLISTED),
        (BLACK[:14], None, S.BLACKLISTED),
        (BLACK[:14] + "07", None, S.BLACKLISTED),
        (PAIR_IMEI, PAIR_IMSI, S.WHITELISTED),
        (PAIR_IMEI, "001019999999999", S.BLACKLISTED),
        (GREY_RANGE_IMEI, None, S.GREYLISTED),
        ("35209900176148", None, S.WHITELISTED),
        ("352099001761482", None, S.GREYLISTED),  # wrong check digit: anomaly -> grey
    ],
)
def test_statuses(imei: str, imsi: str | None, status: EquipmentStatus) -> None:
    request = make_ecr(imei, imsi=imsi)
    assert scan_ecr(request) is not None
    msg = answer_of(request)
    view = decode_eca(msg)
    assert (view.result_code, view.equipment_status) == (2001, status)
    assert view.session_id == b"mme1.epc.example;1;42"
    assert (msg.code, msg.app, msg.hbh, msg.e2e, msg.flags) == (
        324,
        16777252,
        0x1234,
        0x5678,
        FLAG_P,
    )
    assert msg.find(264) is not None and msg.find(264).data == b"eir.test.example"  # type: ignore[union-attr]


def test_unknown_policy_answers_5422_without_status() -> None:
    msg = answer_of(make_ecr("35209900176148"), policy=PolicyConfig(unknown="unknown"))
    view = decode_eca(msg)
    assert (view.result_code, view.experimental_result, view.equipment_status) == (None, 5422, None)
    assert not msg.is_error


def test_template_bytes_equal_pycrate_for_every_status() -> None:
    answers = Answers(EIR)
    request = make_ecr(BLACK)
    found = scan_ecr(request)
    assert found is not None
    fields, session_avp = found
    req_msg = codec.decode_message_pycrate(request)
    for status in (*S, None):
        assert answers.eca(request, session_avp, status) == answers.encode_eca(
            req_msg, fields, status
        )


def test_busy_template_equals_pycrate() -> None:
    answers = Answers(EIR)
    request = make_ecr(BLACK)
    found = scan_ecr(request)
    assert found is not None
    fast = answers.busy(request, found[1])
    slow = answers.error(
        codec.decode_message_pycrate(request),
        DiameterError(ResultCode.DIAMETER_TOO_BUSY, ""),
        found[0].session_id,
    )
    assert fast == slow
    msg = codec.decode_message_pycrate(fast)
    assert msg.is_error and result(msg) == 3004


def test_proxy_info_is_echoed_in_order() -> None:
    request = vector("ecr_proxy_route_drmp")
    assert scan_ecr(request) is None  # Proxy-Info: the pycrate path answers
    msg = answer_of(request)
    sent = codec.decode_message_pycrate(request).find_all(284)
    assert msg.find_all(284) == sent and len(sent) == 1
    assert decode_eca(msg).equipment_status is S.BLACKLISTED


@pytest.mark.parametrize("name", ["ecr_imei14_sv_imsi", "ecr_imei15", "ecr_imeisv16"])
def test_vectors_decoders_agree(name: str) -> None:
    data = vector(name)
    found = scan_ecr(data)
    assert found is not None
    wire.check_message(data)
    assert decode_ecr(codec.decode_message_pycrate(data)) == found[0]


def test_meid_only() -> None:
    msg = answer_of(vector("ecr_meid"))  # hexadecimal MEID: the unknown answer of the policy
    assert decode_eca(msg).equipment_status is S.WHITELISTED
    msg = answer_of(vector("ecr_meid"), policy=PolicyConfig(unknown="unknown"))
    assert result(msg) == 5422
    decimal_meid = make_ecr(None, meid=b"49015420323751")  # decimal: looked up like an IMEI
    assert decode_eca(answer_of(decimal_meid)).equipment_status is S.BLACKLISTED
    bad = answer_of(make_ecr(None, meid=b"xyz"))
    assert result(bad) == 5004
    assert failed(bad).group[0].code == 1471  # type: ignore[union-attr,index]


# --- errors --------------------------------------------------------------------------------


def _rebuild(request: bytes, avps: tuple[Avp, ...]) -> bytes:
    msg = codec.decode_message_pycrate(request)
    return codec.encode_message_pycrate(msg._replace(avps=avps))


def _without(request: bytes, code: int) -> bytes:
    msg = codec.decode_message_pycrate(request)
    return _rebuild(request, tuple(a for a in msg.avps if a.code != code))


@pytest.mark.parametrize("code", [263, 277, 264, 296, 283, 1401])
def test_missing_avp_5005(code: int) -> None:
    msg = answer_of(_without(make_ecr(BLACK), code))
    assert result(msg) == 5005 and not msg.is_error
    assert failed(msg).code == code  # type: ignore[union-attr]
    assert decode_eca(msg).equipment_status is None


def test_missing_terminal_information_names_its_minimum_in_failed_avp() -> None:
    """RFC 6733 7.5: the missing AVP with a zero-filled payload of its minimum length; for
    Terminal-Information that is one holding an IMEI of 14 zero digits, never an empty one."""
    msg = answer_of(_without(make_ecr(BLACK), 1401))
    ti = failed(msg)
    assert ti is not None and (ti.code, ti.vendor, ti.flags) == (1401, 10415, 0xC0)
    assert ti.group == (octets(1402, "00000000000000", 10415),)


def test_missing_imei_in_terminal_information_5005() -> None:
    msg = answer_of(make_ecr(None, sv="01"))
    assert result(msg) == 5005
    ti = failed(msg)
    assert ti is not None and ti.code == 1401 and ti.group is not None
    assert ti.group[0].code == 1402 and ti.group[0].vendor == 10415


@pytest.mark.parametrize(
    ("imei", "sv", "imsi", "bad"),
    [
        ("1234", None, None, 1402),
        ("4901542032375", None, None, 1402),
        ("49015420323751234", None, None, 1402),
        ("49015420323a51", None, None, 1402),
        ("49015420323751", "1", None, 1403),
        ("49015420323751", "ab", None, 1403),
        ("49015420323751", None, "12345", 1),
        ("49015420323751", None, "00101abc", 1),
    ],
)
def test_invalid_values_5004(imei: str, sv: str | None, imsi: str | None, bad: int) -> None:
    msg = answer_of(make_ecr(imei, sv=sv, imsi=imsi))
    assert result(msg) == 5004
    offending = failed(msg)
    assert offending is not None
    inner = offending.group[0] if offending.group else offending
    assert inner.code == bad


def test_non_utf8_imei_5004() -> None:
    request = make_ecr("49015420323751").replace(b"49015420323751", b"4901542032375\xff")
    assert result(answer_of(request)) == 5004


def test_unknown_mandatory_avp_5001_names_it() -> None:
    msg = answer_of(vector("unknown_m_avp"))
    assert result(msg) == 5001
    assert failed(msg) == unsigned32(99999, 7)
    # without the M bit it is ignored
    ok = answer_of(make_ecr(BLACK, extra=(unsigned32(99999, 7, mandatory=False),)))
    assert decode_eca(ok).equipment_status is S.BLACKLISTED


def test_known_mandatory_avp_outside_the_grammar_is_accepted() -> None:
    """TS 29.272's ECR grammar ends in `*[ AVP ]` and RFC 6733 7.1.5 keeps 5001 for an AVP the
    receiver does not recognise: MSISDN (701, 3GPP) with the M bit is known, so answered."""
    msg = answer_of(vector("ecr_msisdn_m_bit"))
    assert result(msg) == 2001 and msg.find(279) is None
    assert decode_eca(msg).equipment_status is S.BLACKLISTED


def test_unknown_mandatory_avp_inside_terminal_information_5001() -> None:
    msg = codec.decode_message_pycrate(make_ecr(BLACK))
    avps = tuple(
        a._replace(group=(*a.group, unsigned32(4242, 1, 10415)))
        if a.code == 1401 and a.group is not None
        else a
        for a in msg.avps
    )
    answer = answer_of(codec.encode_message_pycrate(msg._replace(avps=avps)))
    assert result(answer) == 5001
    ti = failed(answer)
    assert ti is not None and ti.code == 1401 and ti.group == (unsigned32(4242, 1, 10415),)


def test_duplicate_avp_5009() -> None:
    msg = codec.decode_message_pycrate(make_ecr(BLACK))
    answer = answer_of(
        codec.encode_message_pycrate(msg._replace(avps=(*msg.avps, octets(264, "other"))))
    )
    assert result(answer) == 5009


def test_bad_avp_length_5014() -> None:
    request = bytearray(make_ecr(BLACK))
    # Auth-Session-State (second AVP after Session-Id + VSAI) claims 10 bytes: 2 bytes of data
    pos = request.index(bytes.fromhex("00000115"))
    request[pos + 5 : pos + 8] = (10).to_bytes(3, "big")
    msg = answer_of(bytes(request))
    assert result(msg) == 5014
    assert failed(msg).code == 277  # type: ignore[union-attr]
    request = bytearray(make_ecr(BLACK))
    request[pos + 5 : pos + 8] = (4000).to_bytes(3, "big")  # runs past the end
    assert result(answer_of(bytes(request))) == 5014


def test_bad_version_5011_and_header_bits_3008() -> None:
    request = bytearray(make_ecr(BLACK))
    request[0] = 2
    msg = answer_of(bytes(request))
    assert result(msg) == 5011
    request = bytearray(make_ecr(BLACK))
    request[4] |= 0x01  # a reserved bit
    msg = answer_of(bytes(request))
    assert result(msg) == 3008 and msg.flags & FLAG_E
    request = bytearray(make_ecr(BLACK))
    request[4] |= FLAG_E  # an error bit on a request
    assert result(answer_of(bytes(request))) == 3008


def test_unknown_application_3007_and_command_3001() -> None:
    request = bytearray(make_ecr(BLACK))
    request[8:12] = struct.pack(">I", 16777251)  # S6a
    msg = answer_of(bytes(request))
    assert result(msg) == 3007 and msg.is_error and msg.app == 16777251
    assert decode_eca(msg).session_id == b"mme1.epc.example;1;42"
    request = bytearray(make_ecr(BLACK))
    request[5:8] = (325).to_bytes(3, "big")
    assert result(answer_of(bytes(request))) == 3001


def test_realm_not_served_3003() -> None:
    from eir.diameter.node import NodeIdentity

    local = NodeIdentity("eir.a.example", "a.example", frozenset({"a.example"}))
    ok = answer_of(make_ecr(BLACK, realm="A.example"), local=local)
    assert decode_eca(ok).equipment_status is S.BLACKLISTED
    msg = answer_of(make_ecr(BLACK, realm="b.example"), local=local)
    assert result(msg) == 3003 and msg.is_error


def test_our_bug_answers_5012() -> None:
    from eir.diameter.s13.server import S13Server

    def broken(request: CheckRequest) -> CheckResult:
        raise RuntimeError("bug")

    app = S13Server(EIR, broken, lambda: CheckResult(None, "unknown"))  # type: ignore[arg-type]
    for request in (make_ecr(BLACK), vector("ecr_proxy_route_drmp")):  # fast and slow paths
        msg = codec.decode_message_pycrate(app.answer(request, "p"))
        assert result(msg) == 5012
        assert decode_eca(msg).session_id is not None


def test_answer_message_length_not_multiple_of_four_5015() -> None:
    request = bytearray(make_ecr(BLACK) + b"\x00\x00")
    request[1:4] = len(request).to_bytes(3, "big")
    assert result(answer_of(bytes(request))) == 5015


def test_failed_avp_of_grouped_length_error_nests() -> None:
    request = bytearray(make_ecr(BLACK))
    pos = request.index(bytes.fromhex("0000057ac0"))  # IMEI inside Terminal-Information
    request[pos + 5 : pos + 8] = (200).to_bytes(3, "big")
    with pytest.raises(DiameterError) as err:
        wire.check_message(bytes(request))
    assert err.value.result_code == ResultCode.DIAMETER_INVALID_AVP_LENGTH
    assert err.value.failed is not None and err.value.failed.code == 1401
    assert err.value.failed.group is not None and err.value.failed.group[0].code == 1402


def test_grouped_helpers() -> None:
    g = grouped(1401, (octets(1402, "1", 10415),), 10415)
    assert g.find(1402, 10415) is not None and g.find(1402) is None


def test_results_are_named_by_number_with_their_spec_names_for_reports() -> None:
    assert results.label(ResultCode.DIAMETER_INVALID_AVP_VALUE) == "5004"
    assert (results.SUCCESS, results.EQUIPMENT_UNKNOWN, results.PROTOCOL) == ("2001", "5422", "s13")
    assert results.spec_name("5004") == "DIAMETER_INVALID_AVP_VALUE"
    assert results.spec_name(5422) == "DIAMETER_ERROR_EQUIPMENT_UNKNOWN"
    assert results.spec_name("9999") == "9999"
