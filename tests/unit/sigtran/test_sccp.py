"""SCCP UDT/XUDT/UDTS/XUDTS (Q.713): our parser and encoder against pycrate's decoding."""

from __future__ import annotations

import random

import pytest
from pycrate_mobile.SCCP import parse_SCCP

from eir.sigtran import sccp
from eir.sigtran.sccp import Address, GlobalTitle, ReturnCause, SccpError

EIR = Address(True, 9, None, GlobalTitle(4, "491720000001"))
MSC = Address(False, 8, 1234, GlobalTitle(4, "49172000002"))


def _fields(address: Address) -> tuple[object, ...]:
    gt = address.gt
    return (address.route_on_ssn, address.ssn, address.pc, 0 if gt is None else gt.gti)


def _pycrate_address(elt: object) -> tuple[object, ...]:
    ind = elt[0]  # type: ignore[index]
    pc = elt[1].get_val() & 0x3FFF if ind["PCInd"].get_val() else None  # type: ignore[index]
    ssn = elt[2].get_val() if ind["SSNInd"].get_val() else None  # type: ignore[index]
    return (bool(ind["RoutingInd"].get_val()), ssn, pc, ind["GTInd"].get_val())


def pycrate_view(buf: bytes) -> list[object]:
    msg, err = parse_SCCP(buf, w_scmg=False)
    assert err == 0, buf.hex()
    value: list[object] = msg.get_val()
    return value


@pytest.mark.parametrize(
    "gt",
    [
        None,
        GlobalTitle(1, "12345"),
        GlobalTitle(1, "1234"),
        GlobalTitle(2, "4917", tt=3),
        GlobalTitle(3, "49172", tt=0),
        GlobalTitle(4, "4917200000", nai=3, np=7),
    ],
)
@pytest.mark.parametrize("kind", [sccp.UDT, sccp.XUDT])
def test_encode_decode_agree_with_pycrate(gt: GlobalTitle | None, kind: int) -> None:
    called = Address(gt is None, 9, 77, gt)
    buf = sccp.encode(
        kind,
        called.encode(),
        MSC.encode(),
        b"\x62\x03\x01\x02\x03",
        protocol_class=1,
        return_on_error=True,
    )
    msg = sccp.decode(buf)
    assert msg.called == called and msg.calling == MSC
    assert (msg.protocol_class, msg.return_on_error, msg.data) == (1, True, b"\x62\x03\x01\x02\x03")
    view = pycrate_view(buf)
    assert view[0] == kind and view[1] == [8, 1]
    msg_, _ = parse_SCCP(buf, w_scmg=False)
    assert msg_["Data"][1].to_bytes() == b"\x62\x03\x01\x02\x03"
    assert _pycrate_address(msg_["CalledPartyAddr"][1]) == _fields(called)


def test_reply_swaps_parties_and_keeps_type() -> None:
    for kind in (sccp.UDT, sccp.XUDT):
        request = sccp.decode(
            sccp.encode(kind, EIR.encode(), MSC.encode(), b"\x62\x00", protocol_class=1)
        )
        answer = sccp.decode(sccp.reply(request, b"\x64\x00"))
        assert answer.kind == kind and answer.called == MSC and answer.calling == EIR
        assert answer.protocol_class == 1
        ours = Address(True, 9, 99, GlobalTitle(4, "4917"))
        assert sccp.decode(sccp.reply(request, b"\x64", ours.encode())).calling == ours
        pycrate_view(sccp.reply(request, b"\x64\x00"))


def test_service_messages_return_the_data() -> None:
    for kind, service in ((sccp.UDT, sccp.UDTS), (sccp.XUDT, sccp.XUDTS)):
        request = sccp.decode(
            sccp.encode(kind, EIR.encode(), MSC.encode(), b"\x62\x00", return_on_error=True)
        )
        buf = sccp.service(request, ReturnCause.UNEQUIPPED_USER)
        back = sccp.decode(buf)
        assert (back.kind, back.cause, back.data, back.called) == (
            service,
            ReturnCause.UNEQUIPPED_USER,
            b"\x62\x00",
            MSC,
        )
        pycrate_view(buf)


def test_xudt_optional_part_and_segmentation() -> None:
    whole = sccp.decode(
        sccp.encode(sccp.XUDT, EIR.encode(), MSC.encode(), b"x", optional=b"\x12\x01\x03\x00")
    )
    assert whole.optional == b"\x12\x01\x03\x00" and not whole.segmented
    first_of_two = sccp.decode(
        sccp.encode(
            sccp.XUDT, EIR.encode(), MSC.encode(), b"x", optional=b"\x10\x04\x81\x00\x00\x01\x00"
        )
    )
    assert first_of_two.segmented
    with pytest.raises(SccpError):
        sccp.decode(
            sccp.encode(sccp.XUDT, EIR.encode(), MSC.encode(), b"x", optional=b"\x12\x05\x03")
        )


@pytest.mark.parametrize(
    "buf",
    [
        b"",
        b"\x09\x00",
        b"\x05\x00\x03\x05\x07\x01\x00",
        b"\x09\x00\x03\x05\x40\x01\x42\x01\x43",
        b"\x09\x02\x03\x05\x07\x01\x42\x01\x43\x01\x00",
        b"\x09\x00\x00\x05\x07\x01\x42\x01\x43\x01\x00",
    ],
)
def test_broken_messages_raise(buf: bytes) -> None:
    with pytest.raises(SccpError):
        sccp.decode(buf)


def test_mutants_agree_with_pycrate_on_parties_and_data() -> None:
    rng = random.Random(7)
    seeds = [
        sccp.encode(
            k,
            EIR.encode(),
            MSC.encode(),
            b"\x62\x05\x48\x03\x01\x02\x03",
            protocol_class=1,
            return_on_error=True,
        )
        for k in (sccp.UDT, sccp.XUDT)
    ]
    compared = 0
    for i in range(3000):
        buf = bytearray(seeds[i % 2])
        buf[rng.randrange(len(buf))] = rng.randrange(256)
        try:
            ours = sccp.decode(bytes(buf))
        except SccpError:
            continue
        msg, err = parse_SCCP(bytes(buf), w_scmg=False)
        if err:
            continue
        compared += 1
        assert _pycrate_address(msg["CalledPartyAddr"][1]) == _fields(ours.called)
        assert _pycrate_address(msg["CallingPartyAddr"][1]) == _fields(ours.calling)
        assert ours.data == msg["Data"][1].to_bytes()
    assert compared > 500


def test_scan_reads_the_called_ssn_without_the_global_title() -> None:
    for called in (EIR, MSC, Address(False, None, 77, GlobalTitle(1, "123"))):
        raw = sccp.scan_unitdata(sccp.encode(sccp.XUDT, called.encode(), MSC.encode(), b"x"))
        assert raw.called_ssn == called.ssn and raw.called_raw == called.encode()
    with pytest.raises(SccpError):
        sccp.scan_unitdata(sccp.encode(sccp.UDT, b"\x43\x01", MSC.encode(), b"x")).called_ssn  # noqa: B018


# --- issue 13: party addresses consistent with their indicator (Q.713 3.4) ---------------------

GOOD = Address(True, 9, None, GlobalTitle(4, "4917")).encode()


@pytest.mark.parametrize(
    "party",
    [
        "12",  # SSN and GTI 4 announced, neither present
        "13",  # point code too
        "4312",  # PC announced, one byte of it
        "10",  # GTI 4 routed on GT, no GT header
        "1000",  # GTI 4, header cut
        "1000110a",  # GTI 4, header, no digits
        "02",  # SSN announced, missing
        "0208",  # routes on GT without one
        "420899",  # no GT, a trailing byte
        "3c",  # GTI 15
    ],
)
def test_inconsistent_party_addresses_are_refused(party: str) -> None:
    raw = bytes.fromhex(party)
    for called, calling in ((GOOD, raw), (raw, GOOD)):
        with pytest.raises(SccpError):
            sccp.scan_unitdata(sccp.encode(sccp.UDT, called, calling, b"\x62\x00"))
    sccp.check_address(GOOD, "called party address")
    sccp.check_address(bytes.fromhex("4208"), "calling party address")
