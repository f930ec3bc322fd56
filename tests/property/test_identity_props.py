"""Properties of eir.identity: round trips, Luhn, and no crash on any input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eir.errors import IdentityError
from eir.identity import (
    Anomaly,
    Imei,
    Imsi,
    Tac,
    luhn_digit,
    luhn_ok15,
    luhn_valid,
    tbcd_decode,
    tbcd_encode,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=40)
keys = st.text(alphabet="0123456789", min_size=14, max_size=14)


@given(keys)
def test_luhn_digit_makes_a_valid_number(key: str) -> None:
    assert luhn_valid(key + luhn_digit(key))
    assert sum(luhn_valid(key + str(d)) for d in range(10)) == 1


@given(keys, st.integers(0, 13), st.integers(1, 9))
def test_luhn_catches_any_single_digit_change(key: str, where: int, shift: int) -> None:
    full = key + luhn_digit(key)
    changed = full[:where] + str((int(full[where]) + shift) % 10) + full[where + 1 :]
    assert not luhn_valid(changed)


@given(
    st.one_of(
        keys, keys.map(lambda k: k + luhn_digit(k)), st.text("0123456789", min_size=16, max_size=16)
    )
)
def test_parse_str_round_trip(text: str) -> None:
    imei = Imei.parse(text)
    assert str(imei) == text
    assert imei.key == text[:14]
    assert Imei.parse(str(imei)) == imei


@given(st.text(max_size=20))
def test_parse_any_text_gives_an_imei_or_an_identity_error(text: str) -> None:
    try:
        imei = Imei.parse(text)
    except IdentityError as exc:
        assert str(exc)
    else:
        assert len(imei.key) == 14


@given(digits)
def test_tbcd_round_trip(text: str) -> None:
    assert tbcd_decode(tbcd_encode(text)) == text
    assert tbcd_decode(tbcd_encode(text, len(text) // 2 + 3)) == text


@given(st.binary(max_size=12))
def test_tbcd_decode_any_bytes(octets: bytes) -> None:
    try:
        text = tbcd_decode(octets)
    except IdentityError:
        return
    assert set(text) <= set("0123456789")


@given(st.binary(min_size=8, max_size=8))
def test_from_tbcd_any_eight_octets(octets: bytes) -> None:
    try:
        imei = Imei.from_tbcd(octets)
    except IdentityError:
        return
    assert len(imei.key) == 14
    assert Imei.from_tbcd(imei.to_tbcd()).key == imei.key


@given(keys.filter(lambda k: True), st.sampled_from([None, "00", "99"]))
def test_to_tbcd_is_eight_octets(key: str, svn: str | None) -> None:
    imei = Imei(key, svn=svn)
    assert len(imei.to_tbcd()) == 8
    assert Imei.from_tbcd(imei.to_tbcd()).svn == svn


@given(st.text(max_size=20))
def test_imsi_any_text(text: str) -> None:
    try:
        imsi = Imsi.parse(text)
    except IdentityError:
        return
    assert 6 <= len(imsi.digits) <= 15


@given(st.text(alphabet="0123456789", min_size=15, max_size=15))
def test_fast_luhn_check_agrees(text: str) -> None:
    assert luhn_ok15(text) == luhn_valid(text)


@given(keys, st.lists(st.text("0123456789", min_size=1, max_size=8), max_size=3))
def test_anomalies_match_their_definitions(key: str, prefixes: list[str]) -> None:
    found = Imei(key).anomalies(prefixes)
    assert (Anomaly.SAME_DIGITS in found) == (len(set(key)) == 1)
    assert (Anomaly.ZERO_TAC in found) == (key[:8] == "00000000")
    assert (Anomaly.TEST_TAC in found) == (
        key[:8] != "00000000" and any(key.startswith(p) for p in prefixes)
    )
    assert Anomaly.CHECK_DIGIT not in found  # no check digit given
    wrong = str((int(luhn_digit(key)) + 1) % 10)
    assert Anomaly.CHECK_DIGIT in Imei.parse(key + wrong).anomalies(prefixes)
    assert Anomaly.CHECK_DIGIT not in Imei.parse(key + luhn_digit(key)).anomalies(prefixes)


@given(st.text(max_size=10))
def test_tac_any_text(text: str) -> None:
    try:
        tac = Tac(text)
    except IdentityError:
        assert len(text) != 8 or not text.isdigit() or not text.isascii()
        return
    assert str(tac) == text and tac.reporting_body == text[:2]


def _tbcd_reference(octets: bytes) -> str:
    """TS 29.002 TBCD, the slow way: nibbles low first, digits until an F filler."""
    nibbles = [n for b in octets for n in (b & 0x0F, b >> 4)]
    digits = []
    for i, n in enumerate(nibbles):
        if n == 0xF:
            if any(m != 0xF for m in nibbles[i + 1 :]):
                raise IdentityError("filler then digits")
            break
        if n > 9:
            raise IdentityError("not a digit")
        digits.append(str(n))
    return "".join(digits)


@given(st.binary(max_size=10))
def test_tbcd_decode_fast_paths_equal_the_reference(octets: bytes) -> None:
    from eir.identity import tbcd_decode

    try:
        expected = _tbcd_reference(octets)
    except IdentityError:
        with pytest.raises(IdentityError):
            tbcd_decode(octets)
        return
    assert tbcd_decode(octets) == expected
