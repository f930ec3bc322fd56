"""eir.identity on known values (TS 23.003 examples and hand-checked digits)."""

from __future__ import annotations

import pytest

from eir.errors import IdentityError
from eir.identity import (
    Anomaly,
    Imei,
    Imsi,
    Tac,
    luhn_digit,
    luhn_valid,
    tbcd_decode,
    tbcd_encode,
)


@pytest.mark.parametrize(
    ("body", "digit"),
    [
        ("49015420323751", "8"),
        ("35693803564380", "9"),
        ("00000000000000", "0"),
        ("35345678901234", "8"),
    ],
)
def test_luhn_known_values(body: str, digit: str) -> None:
    assert luhn_digit(body) == digit
    assert luhn_valid(body + digit)
    assert not luhn_valid(body + str((int(digit) + 1) % 10))


def test_parse_lengths() -> None:
    assert Imei.parse("49015420323751") == Imei("49015420323751")
    imei = Imei.parse("490154203237518")
    assert (imei.key, imei.check_digit, imei.check_digit_ok) == ("49015420323751", "8", True)
    sv = Imei.parse("4901542032375112")
    assert (sv.key, sv.svn, sv.check_digit) == ("49015420323751", "12", None)
    assert str(sv) == "4901542032375112"
    assert imei.tac == Tac("49015420")
    assert imei.snr == "323751"
    assert imei.imei15 == "490154203237518"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "IMEI is empty"),
        ("4901542032375", "13 digits"),
        ("49015420323751812", "17 digits"),
        ("4901542032375x", "non-digit 'x'"),
        (" 49015420323751", "non-digit ' '"),
        ("\uff14\uff19" + "0" * 12, "non-digit"),
    ],
)
def test_parse_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(IdentityError, match=message):
        Imei.parse(text)


def test_wrong_check_digit_is_an_anomaly_not_an_error() -> None:
    imei = Imei.parse("490154203237519")
    assert imei.check_digit_ok is False
    assert Anomaly.CHECK_DIGIT in imei.anomalies()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00000000000000", {Anomaly.SAME_DIGITS, Anomaly.ZERO_TAC}),
        ("11111111111111", {Anomaly.SAME_DIGITS}),
        ("00000000123456", {Anomaly.ZERO_TAC}),
        ("00101000123456", {Anomaly.TEST_TAC}),
        ("49015420323751", set()),
        ("490154203237510", {Anomaly.CHECK_DIGIT}),
    ],
)
def test_anomalies(text: str, expected: set[Anomaly]) -> None:
    assert Imei.parse(text).anomalies() == expected


def test_test_tac_prefixes_are_configurable() -> None:
    assert Imei.parse("35000000123456").anomalies(("35",)) == {Anomaly.TEST_TAC}
    assert Imei.parse("00101000123456").anomalies(()) == set()


def test_tbcd_vectors() -> None:
    # 14 digits + spare digit 0, low nibble first: digits 49 01 54 20 32 37 51 0F
    assert tbcd_encode("490154203237510") == bytes.fromhex("94104502237315f0")
    assert Imei.parse("49015420323751").to_tbcd() == bytes.fromhex("94104502237315f0")
    assert Imei.parse("4901542032375112").to_tbcd() == bytes.fromhex("9410450223731521")
    assert tbcd_decode(bytes.fromhex("9410450223731521")) == "4901542032375112"
    assert tbcd_encode("123", 4) == bytes.fromhex("21f3ffff")


def test_from_tbcd_spare_digit() -> None:
    plain = Imei.from_tbcd(bytes.fromhex("94104502237315f0"))
    assert plain == Imei("49015420323751")  # 0 is the spare, not a wrong check digit
    with_check = Imei.from_tbcd(tbcd_encode("490154203237518"))
    assert with_check.check_digit == "8"
    assert Imei.from_tbcd(tbcd_encode("4901542032375112")).svn == "12"
    with pytest.raises(IdentityError, match="7 octets"):
        Imei.from_tbcd(bytes(7))


@pytest.mark.parametrize(
    ("octets", "message"),
    [(bytes.fromhex("1f23"), "filler F followed"), (bytes.fromhex("a1"), "nibble A")],
)
def test_tbcd_decode_errors(octets: bytes, message: str) -> None:
    with pytest.raises(IdentityError, match=message):
        tbcd_decode(octets)


def test_imsi_and_tac() -> None:
    assert Imsi.parse("001010123456789").mcc == "001"
    with pytest.raises(IdentityError, match="16 digits"):
        Imsi.parse("0010101234567890")
    with pytest.raises(IdentityError, match="expected 6 to 15"):
        Imsi.parse("00101")
    assert Tac("35000000").reporting_body == "35"
    with pytest.raises(IdentityError, match="expected 8"):
        Tac("3500000")


def test_imei_invariants() -> None:
    with pytest.raises(IdentityError, match="not both"):
        Imei("49015420323751", check_digit="8", svn="12")
    with pytest.raises(IdentityError, match="not two digits"):
        Imei("49015420323751", svn="1")
    with pytest.raises(IdentityError, match="not one digit"):
        Imei("49015420323751", check_digit="x")
