"""Equipment and subscriber identities (3GPP TS 23.003 clauses 2 and 6; GSMA TS.06).

Digits are always ``str``, never ``int``: leading zeros are significant.

* :class:`Imei` accepts 14 digits (TAC + SNR), 15 (+ check digit) or 16 (+ SVN, the IMEISV).
  Its identity, and the key of every list, is the 14-digit TAC + SNR.
* A 15th digit that fails the Luhn check is an :class:`Anomaly`, not a parse error: real networks
  carry such IMEIs and the policy decides what they get.
* :func:`written_imei` reads an IMEI as people write it (``35-209900-176148-1``),
  :func:`parse_written_imei` checks it (a number a spreadsheet wrote is refused).
* TBCD (TS 29.002 ``TBCD-STRING``): two digits an octet, low nibble first, ``F`` as filler.

Layer 0: standard library only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from eir.errors import IdentityError

_DIGITS = frozenset("0123456789")
# Luhn: the digits at odd positions from the right (counting the check digit as position 0)
# are doubled; a doubled digit above 9 counts as the sum of its two digits.
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)

#: TAC prefixes of test IMEIs: reporting body identifier ``00`` followed by ``1`` (GSMA TS.06,
#: "Test IMEI"). Configurable in ``[policy] test_tac_prefixes``.
DEFAULT_TEST_TAC_PREFIXES: tuple[str, ...] = ("001",)


class Anomaly(enum.StrEnum):
    """A validity class: something real networks show that a correct handset never sends.

    The first four come from the digits alone (:meth:`Imei.anomalies`); the last three from
    the wire and the device database (``eir.policy.validity_classes``)."""

    CHECK_DIGIT = "check-digit"  # a 15th digit that is not the Luhn digit of the first 14
    SAME_DIGITS = "same-digits"  # TAC + SNR all one digit: 00000000000000, 11111111111111, ...
    ZERO_TAC = "zero-tac"  # TAC 00000000: never allocated, typical of phones with no real IMEI
    TEST_TAC = "test-tac"  # a test TAC (lab equipment, not a handset for sale)
    MALFORMED = "malformed"  # the wire carried an identity that is no IMEI (a hexadecimal MEID)
    TAC_UNALLOCATED = "tac-unallocated"  # a device database is loaded and the TAC is not in it
    NOT_APPROVED = "not-approved"  # an approved-models list is loaded and the device is not on it


_NO_ANOMALIES: frozenset[Anomaly] = frozenset()


def _require_digits(text: str, what: str) -> None:
    if text.isascii() and text.isdigit():  # the common case, in C (isdigit alone takes "²")
        return
    if not text:
        raise IdentityError(f"{what} is empty")
    bad = next((c for c in text if c not in _DIGITS), None)
    if bad is not None:
        raise IdentityError(f"{what} {text!r} has a non-digit {bad!r}")


#: what people write between an IMEI's digits (``35-209900-176148-1``, ``49 015420 323751 8``,
#: ``35.209900.176148.1``; a no-break space from a spreadsheet): deleted by :func:`written_imei`
_WRITTEN_SEPARATORS = str.maketrans("", "", " -.\u00a0")
#: a cell a spreadsheet wrote as a number: digits with one decimal point (or comma) and only
#: zeros after it (``352099001761481.0``), or with an exponent (``3.52099E+14``). Dots between
#: digit groups (``35.209900.176148.1``) are no number and stay an IMEI as written.
_SPREADSHEET_FRACTION = re.compile(r"[0-9]+[.,]0+")
_SPREADSHEET_EXPONENT = re.compile(r"[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+")
#: the lengths of an IMEI as written: without check digit, with it, an IMEISV
_IMEI_LENGTHS = (14, 15, 16)


def written_imei(text: str) -> str:
    """The digits of an IMEI as people write it: on police forms, phone boxes and in
    spreadsheets. Spaces, dashes and dots are dropped, and a leading ``'`` (Excel's mark of a
    text cell) or an Excel text formula ``="..."``. The result is not checked:
    :meth:`Imei.parse` does that.
    """
    if text.isascii() and text.isdigit():
        return text  # the common case
    text = text.strip()
    if text.startswith("'"):
        text = text[1:]
    elif text.startswith('="') and text.endswith('"') and len(text) > 3:
        text = text[2:-1]
    return text.translate(_WRITTEN_SEPARATORS)


def parse_written_imei(text: str) -> Imei:
    """An IMEI as people write it (:func:`written_imei`), checked: an error quotes ``text`` as
    written (``IMEI '35-209900-176148-X' has a non-digit 'X'``), and a cell a spreadsheet wrote
    as a number is refused, as its digits cannot be trusted (:func:`spreadsheet_number`)."""
    if text.isascii() and text.isdigit():
        return Imei.parse(text)  # the common case
    digits = written_imei(text)
    damaged = spreadsheet_number(text)
    if damaged is not None:
        raise IdentityError(damaged)
    if not digits:
        raise IdentityError("IMEI is empty" if not text.strip() else f"IMEI {text!r} has no digit")
    bad = next((c for c in digits if c not in _DIGITS), None)
    if bad is not None:
        raise IdentityError(f"IMEI {text!r} has a non-digit {bad!r}")
    if len(digits) not in _IMEI_LENGTHS:
        raise IdentityError(f"IMEI {text!r} has {len(digits)} digits, expected 14, 15 or 16")
    return Imei.parse(digits)


def spreadsheet_number(text: str) -> str | None:
    """What an IMEI cell a spreadsheet wrote as a number is told (None when it is not one):
    ``352099001761481.0`` or ``35209900176148.0`` (a trailing ``.0``: the number may have
    dropped a leading 0, and its digits are not the IMEI's), ``3.52099E+14`` (digits lost)."""
    cell = text.strip()
    if _SPREADSHEET_EXPONENT.fullmatch(cell):
        return (
            f"IMEI {cell!r} was written as a number by a spreadsheet (digits lost): "
            "format the column as text"
        )
    if _SPREADSHEET_FRACTION.fullmatch(cell):
        return f"IMEI {cell!r} was written as a number by a spreadsheet: format the column as text"
    return None


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of ``digits`` (for an IMEI: its 14 digits of TAC + SNR)."""
    _require_digits(digits, "Luhn input")
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        total += _DOUBLED[value] if position % 2 == 0 else value
    return str((10 - total % 10) % 10)


_PAIR_SUM = {f"{a}{b}": a + _DOUBLED[b] for a in range(10) for b in range(10)}


def luhn_ok15(text: str) -> bool:
    """True when 15 ASCII digits end in the Luhn digit of the first 14 (the loader's fast check).

    Position 0 from the right is the check digit, so in 14 digits the second of each pair is
    doubled.
    """
    pairs = _PAIR_SUM
    total = (
        pairs[text[0:2]]
        + pairs[text[2:4]]
        + pairs[text[4:6]]
        + pairs[text[6:8]]
        + pairs[text[8:10]]
        + pairs[text[10:12]]
        + pairs[text[12:14]]
        + ord(text[14])
        - 48
    )
    return total % 10 == 0


def luhn_valid(digits: str) -> bool:
    """True when the last digit of ``digits`` is the Luhn check digit of the ones before it."""
    return len(digits) >= 2 and luhn_digit(digits[:-1]) == digits[-1]


@dataclass(frozen=True, slots=True)
class Tac:
    """Type Allocation Code: the first 8 digits of an IMEI."""

    digits: str

    def __post_init__(self) -> None:
        _require_digits(self.digits, "TAC")
        if len(self.digits) != 8:
            raise IdentityError(f"TAC {self.digits!r} has {len(self.digits)} digits, expected 8")

    @property
    def reporting_body(self) -> str:
        return self.digits[:2]

    def __str__(self) -> str:
        return self.digits


@dataclass(frozen=True, slots=True)
class Imei:
    """An IMEI or IMEISV as received, normalised to its 14-digit key.

    ``check_digit`` is the 15th digit when one was given (None otherwise); ``svn`` the software
    version of an IMEISV. Build with :meth:`parse` or :meth:`from_tbcd`.
    """

    key: str
    check_digit: str | None = None
    svn: str | None = None

    def __post_init__(self) -> None:
        _require_digits(self.key, "IMEI")
        if len(self.key) != 14:
            raise IdentityError(f"IMEI key {self.key!r} has {len(self.key)} digits, expected 14")
        if self.check_digit is not None and (
            len(self.check_digit) != 1 or self.check_digit not in _DIGITS
        ):
            raise IdentityError(f"IMEI check digit {self.check_digit!r} is not one digit")
        if self.svn is not None:
            if self.check_digit is not None:
                raise IdentityError("an IMEI has a check digit or a software version, not both")
            if len(self.svn) != 2 or any(c not in _DIGITS for c in self.svn):
                raise IdentityError(f"IMEISV software version {self.svn!r} is not two digits")

    @classmethod
    def trusted(cls, key: str, check_digit: str | None = None, svn: str | None = None) -> Imei:
        """An Imei from parts a decoder has already checked (ASCII digits, right lengths):
        the answer path builds one per request without validating twice."""
        imei = object.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(imei, "key", key)
        setattr_(imei, "check_digit", check_digit)
        setattr_(imei, "svn", svn)
        return imei

    @classmethod
    def parse(cls, text: str) -> Imei:
        """Parse 14 (TAC+SNR), 15 (+check digit) or 16 (IMEISV) decimal digits."""
        _require_digits(text, "IMEI")
        n = len(text)
        if n == 14:
            return cls(text)
        if n == 15:
            return cls(text[:14], check_digit=text[14])
        if n == 16:
            return cls(text[:14], svn=text[14:])
        raise IdentityError(f"IMEI {text!r} has {n} digits, expected 14, 15 or 16")

    @classmethod
    def from_tbcd(cls, octets: bytes, *, spare_zero: bool = True) -> Imei:
        """Decode the 8-octet TBCD IMEI of MAP (TS 29.002).

        15 digits are the IMEI whose 15th digit is the spare digit: a handset sends 0 there
        (TS 23.003 clause 6.2.1), so with ``spare_zero`` a 0 that is not the Luhn digit means
        "no check digit given" rather than an anomaly. 16 digits are an IMEISV.
        """
        if len(octets) != 8:
            raise IdentityError(f"TBCD IMEI has {len(octets)} octets, expected 8")
        digits = tbcd_decode(octets)
        n = len(digits)
        if n == 15 and spare_zero and digits[14] == "0":
            if luhn_ok15(digits):
                return cls.trusted(digits[:14], "0")
            return cls.trusted(digits[:14])
        if n == 15:
            return cls.trusted(digits[:14], digits[14])
        if n == 16:
            return cls.trusted(digits[:14], None, digits[14:])
        return cls.parse(digits)  # 14 digits and a filler octet, or too few: parse says which

    def to_tbcd(self) -> bytes:
        """Encode as MAP carries it: IMEISV as 16 digits, otherwise 14 digits + spare digit 0."""
        if self.svn is not None:
            return tbcd_encode(self.key + self.svn)
        return tbcd_encode(self.key + "0")

    @property
    def tac(self) -> Tac:
        return Tac(self.key[:8])

    @property
    def snr(self) -> str:
        return self.key[8:]

    @property
    def luhn(self) -> str:
        """The check digit this IMEI should have."""
        return luhn_digit(self.key)

    @property
    def check_digit_ok(self) -> bool | None:
        """None when no check digit was given, else whether it matches the Luhn digit."""
        if self.check_digit is None:
            return None
        return self.check_digit == self.luhn

    @property
    def imei15(self) -> str:
        """The 15-digit IMEI with the correct check digit."""
        return self.key + self.luhn

    def anomalies(
        self, test_tac_prefixes: Iterable[str] = DEFAULT_TEST_TAC_PREFIXES
    ) -> frozenset[Anomaly]:
        key = self.key
        prefixes = (
            test_tac_prefixes if isinstance(test_tac_prefixes, tuple) else tuple(test_tac_prefixes)
        )
        check = self.check_digit
        bad_check = check is not None and not luhn_ok15(key + check)
        same = key == key[0] * 14
        zero = key.startswith("00000000")
        test = not zero and bool(prefixes) and key.startswith(prefixes)
        if not (bad_check or same or zero or test):
            return _NO_ANOMALIES  # the answer path's common case: no set built
        found: set[Anomaly] = set()
        if bad_check:
            found.add(Anomaly.CHECK_DIGIT)
        if same:
            found.add(Anomaly.SAME_DIGITS)
        if zero:
            found.add(Anomaly.ZERO_TAC)
        if test:
            found.add(Anomaly.TEST_TAC)
        return frozenset(found)

    def __str__(self) -> str:
        if self.svn is not None:
            return self.key + self.svn
        if self.check_digit is not None:
            return self.key + self.check_digit
        return self.key


@dataclass(frozen=True, slots=True)
class Imsi:
    """IMSI (TS 23.003 clause 2.2): MCC (3) + MNC (2 or 3) + MSIN, at most 15 digits."""

    digits: str

    def __post_init__(self) -> None:
        _require_digits(self.digits, "IMSI")
        if not 6 <= len(self.digits) <= 15:
            raise IdentityError(
                f"IMSI {self.digits!r} has {len(self.digits)} digits, expected 6 to 15"
            )

    @classmethod
    def trusted(cls, digits: str) -> Imsi:
        """An Imsi of 6 to 15 ASCII digits that a decoder has already checked."""
        imsi = object.__new__(cls)
        object.__setattr__(imsi, "digits", digits)
        return imsi

    @classmethod
    def parse(cls, text: str) -> Imsi:
        return cls(text)

    @property
    def mcc(self) -> str:
        return self.digits[:3]

    def __str__(self) -> str:
        return self.digits


def tbcd_encode(digits: str, length: int | None = None) -> bytes:
    """TBCD-encode decimal digits, low nibble first, padded with ``F`` to ``length`` octets."""
    _require_digits(digits, "TBCD input")
    needed = (len(digits) + 1) // 2
    size = needed if length is None else length
    if size < needed:
        raise IdentityError(f"{len(digits)} digits do not fit in {size} TBCD octets")
    nibbles = [ord(c) - 48 for c in digits] + [0xF] * (2 * size - len(digits))
    return bytes(nibbles[i] | (nibbles[i + 1] << 4) for i in range(0, len(nibbles), 2))


# Each octet as its two TBCD digits, low nibble first; None when a nibble is not a digit.
_TBCD_PAIRS: list[str | None] = [
    (chr(48 + (b & 0x0F)) + chr(48 + (b >> 4))) if (b & 0x0F) <= 9 and (b >> 4) <= 9 else None
    for b in range(256)
]


def tbcd_decode(octets: bytes) -> str:
    """Decode TBCD: digits up to the first ``F`` filler, which may only be followed by fillers."""
    pairs = _TBCD_PAIRS
    if octets and octets[-1] >> 4 == 0xF and octets[-1] & 0x0F <= 9:  # odd count, one filler
        fast = [pairs[b] for b in octets[:-1]]
        if None not in fast:
            return "".join(fast) + chr(48 + (octets[-1] & 0x0F))  # type: ignore[arg-type]
    fast = [pairs[b] for b in octets]
    if None not in fast:  # all decimal: the common case, one table lookup an octet
        return "".join(fast)  # type: ignore[arg-type]
    out: list[str] = []
    nibbles = [n for b in octets for n in (b & 0x0F, b >> 4)]
    for index, nibble in enumerate(nibbles):
        if nibble == 0xF:
            if any(rest != 0xF for rest in nibbles[index + 1 :]):
                raise IdentityError("TBCD filler F followed by more digits")
            break
        if nibble > 9:
            raise IdentityError(f"TBCD nibble {nibble:X} is not a decimal digit")
        out.append(chr(48 + nibble))
    return "".join(out)
