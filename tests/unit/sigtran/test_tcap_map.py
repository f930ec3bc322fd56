"""TCAP + MAP CheckIMEI v1/v2/v3 (Q.773, TS 29.002 op 43), through pycrate, in memory."""

from __future__ import annotations

from typing import Any

import pytest

from eir.config import PolicyConfig
from eir.identity import Imei
from eir.model import CheckRequest, CheckResult
from eir.sigtran import checkimei, msc, outcomes
from eir.sigtran.checkimei import CheckImei
from eir.sigtran.tcap import TcapServer
from tests.support.sigtran import (
    BLACK,
    OTID,
    WHITE,
    argument,
    begin,
    check_imei,
    decoded,
    invoke,
    server,
)


def components(answer: tuple[str, Any]) -> list[tuple[str, Any]]:
    return [c[1] for c in answer[1].get("components", [])]


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize(("imei", "status"), [(BLACK, "blackListed"), (WHITE, "whiteListed")])
def test_check_imei_each_version(version: int, imei: bytes, status: str) -> None:
    kind, body = decoded(server().answer(check_imei(version, imei)))
    assert kind == "end" and body["dtid"] == OTID
    if version == 1:
        assert "dialoguePortion" not in body
    else:
        aare = body["dialoguePortion"]["encoding"][1][1]
        assert aare[0] == "dialogueResponse"
        assert aare[1]["application-context-name"] == (0, 4, 0, 0, 1, 0, 13, version)
        assert aare[1]["result"] == 0  # accepted
    ((name, result),) = components((kind, body))
    assert name == "returnResult" and result["invokeId"] == ("present", 1)
    value = result["result"]["result"]
    if version == 3:
        assert value[1] == {"equipmentStatus": status}
    else:
        assert value[1] == status


def test_imeisv_and_pair_use_the_key() -> None:
    imeisv = Imei("49015420323751", svn="07").to_tbcd()
    ((_, result),) = components(decoded(server().answer(check_imei(3, imeisv))))
    assert result["result"]["result"][1] == {"equipmentStatus": "blackListed"}


def test_unsupported_version_is_u_abort_naming_v3() -> None:
    for acn in ((0, 4, 0, 0, 1, 0, 13, 4), (0, 4, 0, 0, 1, 0, 14, 3)):
        kind, body = decoded(server().answer(begin(None, [invoke(argument(2, BLACK))], acn)))
        assert kind == "abort" and body["dtid"] == OTID
        reason = body["reason"]
        assert reason[0] == "u-abortCause"
        aare = reason[1]["encoding"][1][1][1]
        assert aare["application-context-name"] == (0, 4, 0, 0, 1, 0, 13, 3)
        assert aare["result"] == 1  # reject-permanent
        assert aare["result-source-diagnostic"] == ("dialogue-service-user", 2)


def test_unknown_equipment_error_when_the_policy_says_unknown() -> None:
    srv = server(PolicyConfig(unknown="unknown"))
    ((name, value),) = components(decoded(srv.answer(check_imei(2, WHITE))))
    assert name == "returnError" and value["errcode"] == ("local", 7)


def tlv(tag: int, content: bytes) -> bytes:
    assert len(content) < 128
    return bytes([tag, len(content)]) + content


def raw_v1_begin(*invokes: bytes) -> bytes:
    """A MAP v1 Begin written byte by byte (pycrate will not encode what is wrong)."""
    return tlv(0x62, tlv(0x48, OTID) + tlv(0x6C, b"".join(invokes)))


def raw_invoke(invoke_id: int, opcode: int, parameter: bytes | None) -> bytes:
    body = tlv(0x02, bytes([invoke_id])) + tlv(0x02, bytes([opcode]))
    return tlv(0xA1, body + (parameter or b""))


def test_other_operation_mistyped_argument_and_missing_argument() -> None:
    msg = raw_v1_begin(
        raw_invoke(1, 44, tlv(0x04, BLACK)),
        raw_invoke(2, 43, tlv(0x02, b"\x05")),
        raw_invoke(3, 43, None),
        raw_invoke(4, 43, tlv(0x04, BLACK)),
    )
    got = components(decoded(server().answer(msg)))
    assert [c[0] for c in got] == ["reject", "reject", "returnError", "returnResult"]
    assert got[0][1]["problem"] == ("invoke", 1)  # unrecognizedOperation
    assert got[1][1]["problem"] == ("invoke", 2)  # mistypedArgument
    assert got[2][1]["errcode"] == ("local", 35)  # dataMissing
    assert got[3][1]["invokeId"] == ("present", 4)


def test_wrong_size_imei_is_mistyped_and_bad_digits_unexpected_data_value() -> None:
    msg = raw_v1_begin(raw_invoke(1, 43, tlv(0x04, BLACK[:7])))
    ((name, value),) = components(decoded(server().answer(msg)))
    assert name == "reject" and value["problem"] == ("invoke", 2)
    msg = raw_v1_begin(raw_invoke(1, 43, tlv(0x04, b"\xab" + BLACK[1:])))
    ((name, value),) = components(decoded(server().answer(msg)))
    assert name == "returnError" and value["errcode"] == ("local", 36)


def test_trailing_imsi_selects_the_pair_entry() -> None:
    from eir.identity import Imei, tbcd_encode

    cloned = Imei("35345678901234").to_tbcd()
    owner = tbcd_encode("001010123456789", 8)
    other = tbcd_encode("001019999999999", 8)
    for imsi, status in ((owner, 0), (other, 1)):
        msg = raw_v1_begin(raw_invoke(1, 43, tlv(0x04, cloned) + tlv(0x04, imsi)))
        ((_, value),) = components(decoded(server().answer(msg)))
        assert value["result"]["result"][1] == ("whiteListed", "blackListed")[status]


def test_extension_container_is_tolerated_in_v3() -> None:
    arg = tlv(0x30, tlv(0x04, BLACK) + tlv(0x03, b"\x06\xc0") + tlv(0x30, b"\xa0\x00"))
    begin_v3 = check_imei(3)
    dialogue = begin_v3[8 : begin_v3.index(b"\x6c")]  # after 62 LL 48 04 otid
    invoke = tlv(0xA1, tlv(0x02, b"\x01") + tlv(0x02, b"\x2b") + arg)
    msg = tlv(0x62, tlv(0x48, OTID) + dialogue + tlv(0x6C, invoke))
    ((name, value),) = components(decoded(server().answer(msg)))
    assert name == "returnResult"
    assert value["result"]["result"][1] == {"equipmentStatus": "blackListed"}


def test_system_failure_on_our_failure() -> None:
    def broken(request: CheckRequest) -> CheckResult:
        raise RuntimeError("store gone")

    ((name, value),) = components(decoded(TcapServer(CheckImei(broken)).answer(check_imei(3))))
    assert name == "returnError" and value["errcode"] == ("local", 34)


def test_malformed_and_unexpected_transactions() -> None:
    srv = server()
    good = check_imei(2)
    assert decoded(srv.answer(good + b"\x00"))[0] == "abort"  # trailing byte
    kind, body = decoded(srv.answer(good[:-3]))  # truncated, otid still readable
    assert kind == "abort" and body["reason"] == ("p-abortCause", 2)  # badlyFormatted...
    assert srv.answer(b"\x30\x00") is None  # nothing to answer to
    cont = bytearray(good)
    cont[0] = 0x65  # Continue
    cont_answer = srv.answer(bytes(cont))
    assert cont_answer is None or decoded(cont_answer)[0] == "abort"
    end = b"\x64\x06\x49\x04\x00\x00\x00\x01"
    assert srv.answer(end) is None


def test_begin_without_components_gets_the_aare_only() -> None:
    kind, body = decoded(server().answer(begin(3, [])))
    assert kind == "end" and "dialoguePortion" in body and "components" not in body


@pytest.mark.parametrize("version", [None, 1, 2, 3])
@pytest.mark.parametrize("otid", [b"\x01", b"\x00\x00\x12\x34", b"\xff\x00\x01"])
def test_end_encoding_equals_pycrate(version: int | None, otid: bytes) -> None:
    from eir.sigtran.tcap import encode_end, encode_end_pycrate

    comps: list[tuple[str, Any]] = []
    for iid in (0, 1, 127, -128, -1):
        for status in ("whiteListed", "blackListed", "greyListed"):
            name = "CheckIMEI-Res" if version == 3 else "EquipmentStatus"
            value: Any = {"equipmentStatus": status} if version == 3 else status
            comps.append(
                (
                    "basicROS",
                    (
                        "returnResult",
                        {
                            "invokeId": ("present", iid),
                            "result": {"opcode": ("local", 43), "result": (name, value)},
                        },
                    ),
                )
            )
        for code in (7, 34, 35, 36):
            comps.append(
                (
                    "basicROS",
                    ("returnError", {"invokeId": ("present", iid), "errcode": ("local", code)}),
                )
            )
        for problem in (
            ("invoke", "unrecognizedOperation"),
            ("invoke", "mistypedArgument"),
            ("returnResult", "unrecognizedInvocation"),
        ):
            comps.append(
                ("basicROS", ("reject", {"invokeId": ("present", iid), "problem": problem}))
            )
    comps.append(
        (
            "basicROS",
            (
                "reject",
                {"invokeId": ("absent", 0), "problem": ("returnResult", "unrecognizedInvocation")},
            ),
        )
    )
    v = None if version in (None, 1) else version
    context = None if v is None else checkimei.acn(v)
    for chunk in range(0, len(comps), 7):
        part = comps[chunk : chunk + 7]
        assert encode_end(otid, context, part) == encode_end_pycrate(otid, context, part)
    assert encode_end(otid, context, []) == encode_end_pycrate(otid, context, [])


def test_malformed_extension_container_is_tolerated_in_v3() -> None:
    broken_extension = b"\x30\x05\xa0\x09\x01"  # its inner length runs past its end
    arg = tlv(0x30, tlv(0x04, BLACK) + tlv(0x03, b"\x06\xc0") + broken_extension)
    begin_v3 = check_imei(3)
    dialogue = begin_v3[8 : begin_v3.index(b"\x6c")]
    invoke = tlv(0xA1, tlv(0x02, b"\x01") + tlv(0x02, b"\x2b") + arg)
    msg = tlv(0x62, tlv(0x48, OTID) + dialogue + tlv(0x6C, invoke))
    ((name, value),) = components(decoded(server().answer(msg)))
    assert name == "returnResult"
    assert value["result"]["result"][1] == {"equipmentStatus": "blackListed"}


def test_a_bug_in_our_reader_falls_back_to_pycrate(monkeypatch: pytest.MonkeyPatch) -> None:
    from eir.sigtran import tcap

    def broken(buf: bytes) -> None:
        raise ValueError("bug")

    monkeypatch.setattr(tcap, "scan_begin", broken)
    kind, _body = decoded(server().answer(check_imei(2)))
    assert kind == "end"


def test_sccp_router_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from eir.sigtran.m3ua_asp import DataReceived
    from eir.sigtran.sccp_routing import SccpRouter
    from tests.support.sigtran import over_sccp

    node = SccpRouter(server())
    monkeypatch.setattr(node.tcap, "answer", lambda buf, peer="": 1 / 0)
    assert node.on_data(DataReceived(over_sccp(check_imei(2)), None, None)) is None
    assert node.dropped == 1


# --- issue 13: malformed dialogue portions and nesting bounds ----------------------------------


def _dialogue_begin(inside: bytes) -> bytes:
    """A Begin whose dialogue portion is an EXTERNAL (dialogue-as-id) holding `inside`."""
    external = tlv(0x28, bytes.fromhex("060700118605010101") + tlv(0xA0, inside))
    components = bytes.fromhex("6c12a11002010102012b040894104502237315f0")
    return tlv(0x62, bytes.fromhex("480400001234") + tlv(0x6B, external) + components)


@pytest.mark.parametrize("inside", ["0400", "3000", "a000", "0401ff"])
def test_malformed_dialogue_portion_is_p_abort_without_a_traceback(
    inside: str, caplog: pytest.LogCaptureFixture
) -> None:
    answer = decoded(server().answer(_dialogue_begin(bytes.fromhex(inside))))
    assert answer[0] == "abort" and answer[1]["dtid"] == b"\x00\x00\x12\x34"
    assert answer[1]["reason"][0] == "p-abortCause"
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_nesting_past_the_bound_is_refused_before_pycrate(monkeypatch: pytest.MonkeyPatch) -> None:
    from eir.sigtran import ber, tcap

    def nested(depth: int) -> bytes:
        inner = b"\x04\x00"
        for _ in range(depth):
            inner = tlv(0x30, inner)
        # an element our reader does not know after the components: pycrate decides
        components = bytes.fromhex("6c12a11002010102012b040894104502237315f0")
        return tlv(0x62, bytes.fromhex("480400001234") + components + inner)

    seen: list[bytes] = []
    real = tcap._MSG.from_ber

    def spy(buf: bytes, **kw: Any) -> Any:
        if buf[:1] == b"\x62":  # a Begin (not our answer, decoded by the test)
            seen.append(buf)
        return real(buf, **kw)

    monkeypatch.setattr(tcap._MSG, "from_ber", spy)
    shallow = nested(ber.MAX_DEPTH - 6)
    server().answer(shallow)
    assert seen == [shallow]
    deep = nested(ber.MAX_DEPTH)
    answer = decoded(server().answer(deep))
    assert answer[0] == "abort" and answer[1]["reason"] == ("p-abortCause", 2)  # badlyFormatted
    assert seen == [shallow]  # pycrate never saw the deep one


def test_each_answer_is_counted_under_the_name_the_msc_side_reads() -> None:
    """One naming (`eir.sigtran.outcomes`): what eir counts for its metrics is what the MSC
    side (`eir.sigtran.msc`, eir-sim) reads from the answer."""
    srv = server(PolicyConfig(unknown="unknown"))
    next_version = (0, 4, 0, 0, 1, 0, 13, 4)
    answers = [
        srv.answer(begin(None, [invoke(argument(2, BLACK))], next_version)),
        srv.answer(check_imei(2)[:-3]),
        srv.answer(raw_v1_begin(raw_invoke(1, 43, tlv(0x04, BLACK[:7])))),
        srv.answer(raw_v1_begin(raw_invoke(1, 44, tlv(0x04, BLACK)))),
        srv.answer(raw_v1_begin(raw_invoke(1, 43, None))),
        srv.answer(check_imei(2, WHITE)),
    ]
    read = [msc.decode_answer(answer).outcome for answer in answers if answer is not None]
    assert read == [
        "u-abort:application-context-name-not-supported",
        "p-abort:badlyFormattedTransactionPortion",
        "reject:invoke:mistypedArgument",
        "reject:invoke:unrecognizedOperation",
        "error:dataMissing",
        outcomes.UNKNOWN_EQUIPMENT,  # a decision: counted with the checks, not here
    ]
    assert dict(srv.outcomes) == dict.fromkeys(read[:-1], 1)
