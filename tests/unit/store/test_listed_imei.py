"""A list file's IMEI cell: as people write it, the check digit policy, a lost leading 0."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eir.errors import IdentityError
from eir.identity import Imei, luhn_digit, written_imei
from eir.reporting_body import ALLOCATED
from eir.store.fields import ListedImei, parse_imei, parse_imei_key
from eir.store.formats import CheckDigit
from eir.store.records import NO_DIGIT

LISTED = "(--check-digit list)"


@pytest.mark.parametrize(
    "text",
    ["35-209900-176148-1", "35 209900 176148 1", "35.209900.176148.1", "'352099001761481",
     " 35\u00a0209900\u00a0176148\u00a01 ", '="352099001761481"'],
)  # fmt: skip
def test_written_forms(text: str) -> None:
    assert written_imei(text) == "352099001761481"
    assert parse_imei(text) == ListedImei("35209900176148", 1, None)
    assert parse_imei_key(text) == "35209900176148"
    assert str(Imei.parse(written_imei(text))) == "352099001761481"


def test_digits_as_written() -> None:
    assert parse_imei("35209900176148") == ListedImei("35209900176148", NO_DIGIT, None)
    assert parse_imei("3520990017614801").digit == NO_DIGIT  # an IMEISV
    assert parse_imei("490154203237518").digit == 8


def test_check_digit_policy() -> None:
    with pytest.raises(IdentityError) as refused:
        parse_imei("490154203237519")
    assert str(refused.value) == (
        "IMEI 490154203237519 has check digit 9, expected 8 (a typo would list another "
        "handset; --check-digit list lists it by its 14 digits)"
    )
    listed = parse_imei("49-015420-323751-9", CheckDigit.LIST)
    assert listed == ListedImei(
        "49015420323751",
        9,
        f"IMEI 49-015420-323751-9 has check digit 9, expected 8: listed by its 14 digits {LISTED}",
    )


def test_lost_leading_zero() -> None:
    warning = (
        "IMEI 13006001234568 looks like a 15-digit IMEI that lost its leading 0 "
        "(no reporting body 13)"
    )
    assert parse_imei("13006001234568") == ListedImei("13006001234568", NO_DIGIT, warning)
    with pytest.raises(IdentityError, match=r"lost its leading 0 .*\(refused: --strict\)$"):
        parse_imei("13006001234568", strict=True)
    assert parse_imei("013006001234568").warning is None
    assert parse_imei("35209900176148", strict=True).warning is None


@pytest.mark.parametrize("text", ["", "-", "35-2099", "3520990017614x1", "'"])
def test_not_imeis(text: str) -> None:
    with pytest.raises(IdentityError):
        parse_imei(text)


bodies = st.text(alphabet="0123456789", min_size=14, max_size=14)
separators = st.sampled_from(["", "-", " ", ".", "\u00a0"])


@given(bodies, st.integers(0, 9), separators, st.booleans(), st.sampled_from(list(CheckDigit)))
def test_any_written_form_reads_as_its_digits(
    body: str, digit: int, separator: str, quoted: bool, policy: CheckDigit
) -> None:
    """Two ways to one answer: an IMEI written with separators (and Excel's ') reads exactly as
    its plain digits do: the same key, digit, warning or error (which quotes it as written)."""
    digits = body + str(digit)
    written = separator.join([digits[:2], digits[2:8], digits[8:14], digits[14]])
    written = "'" + written if quoted else written
    try:
        plain: ListedImei | str = parse_imei(digits, policy)
    except IdentityError as exc:
        plain = str(exc)
    try:
        other: ListedImei | str = parse_imei(written, policy)
    except IdentityError as exc:
        other = str(exc).replace(written, digits)
    if isinstance(other, ListedImei) and other.warning is not None:
        other = other._replace(warning=other.warning.replace(written, digits))
    assert plain == other
    if isinstance(plain, ListedImei):
        assert plain.key == body and plain.digit == digit
        assert (plain.warning is None) == (str(digit) == luhn_digit(body))


@given(bodies)
def test_lost_zero_warns_exactly_off_the_allocated_bodies(body: str) -> None:
    assert (parse_imei(body).warning is None) == (body[:2] in ALLOCATED)


def test_batch_counts_warnings_and_keeps_digits_as_written() -> None:
    """Warnings are counted in the batch; each key keeps the check digit it was written with."""
    from pathlib import Path

    from eir.store.loader import LoadOptions, parse_files

    data = Path(__file__).resolve().parents[2] / "data"
    told: list[str] = []
    batch = parse_files(
        [str(data / "extra-columns.csv"), str(data / "bad-check-digits.txt")],
        LoadOptions(check_digit=CheckDigit.LIST, skip_invalid=True),
        told.append,
    )
    assert batch.warnings == 3  # the ignored columns, two check digits listed
    (group,) = batch.groups
    assert group.keys == [b"35209900176148", b"49015420323751"]
    assert group.digits == bytes([1, 8])  # the first row of each key is kept
    plain = parse_files([str(data / "written-imeis.txt")], LoadOptions(), told.append)
    assert plain.warnings == 0 and plain.groups[0].digits == bytes([1, 8, 9, 8])
