"""What each field of a list entry may hold: the one check of each value.

The row path (:mod:`eir.store.rows`) calls these on every cell; the bulk path
(:mod:`eir.store.bulk`) applies the same rules to whole columns from the definitions here
(:data:`IMEI_WIDTHS`, :data:`CONTROL_OCTETS`, :data:`~eir.store.records.MAX_FIELD`), and
property tests hold the two paths to the same result. The CLI and the list distribution check
a source with :func:`check_source`.

An IMEI is 14 digits (TAC + SNR), 15 with its Luhn check digit or 16 as an IMEISV (3GPP TS
23.003 clause 6.2), written as people write it (:func:`eir.identity.parse_written_imei`; a
number a spreadsheet wrote is refused). A 15-digit IMEI whose check digit is wrong is refused
(in a list file it is most often a typo, and loading it would list some other, innocent
handset), or with ``--check-digit list`` listed by its 14
digits and reported as a warning: cheap handsets really carry such IMEIs. A 14-digit IMEI whose
first two digits are no Reporting Body Identifier (:mod:`eir.reporting_body`) most often lost
its leading 0 in a spreadsheet: a warning (a bad row with ``--strict``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from eir.errors import IdentityError
from eir.identity import luhn_ok15, parse_written_imei
from eir.model import ListName
from eir.reporting_body import allocated
from eir.store.dates import DateReader
from eir.store.formats import CheckDigit
from eir.store.records import MAX_FIELD, NO_DIGIT

#: the lengths of an IMEI in a list file: without check digit, with it, an IMEISV
IMEI_WIDTHS = (14, 15, 16)
#: the control characters, refused in a text field
CONTROL_OCTETS = bytes([*range(0x20), 0x7F])
SOURCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,63}")
_CONTROL = re.compile("[" + re.escape(CONTROL_OCTETS.decode("ascii")) + "]")
_CONTROL_BUT_LINE_ENDS = re.compile(
    "[" + re.escape(CONTROL_OCTETS.translate(None, b"\r\n").decode("ascii")) + "]"
)


class ListedImei(NamedTuple):
    """A list file's IMEI cell read: its 14-digit key, the check digit it was written with
    (:data:`~eir.store.records.NO_DIGIT` for 14 digits or an IMEISV) and the warning it gets
    (None: none)."""

    key: str
    digit: int
    warning: str | None


def parse_imei(
    text: str, check_digit: CheckDigit = CheckDigit.REFUSE, strict: bool = False
) -> ListedImei:
    """A list file's IMEI cell, as written (``35-209900-176148-1``): IdentityError when it is
    not an IMEI, or its check digit is wrong and ``check_digit`` refuses that, or (``strict``)
    it lost its leading 0."""
    if text.isascii() and text.isdigit():  # the common cases first
        size = len(text)
        if size == 15 and luhn_ok15(text):
            return ListedImei(text[:14], ord(text[14]) - 48, None)
        if size == 16:
            return ListedImei(text[:14], NO_DIGIT, None)
        if size == 14 and allocated(text):
            return ListedImei(text, NO_DIGIT, None)
    imei = parse_written_imei(text)  # the precise error, quoting the cell as written
    written = text.strip()
    if imei.check_digit is not None and imei.check_digit != imei.luhn:
        message = wrong_check_digit(imei.key + imei.check_digit, imei.luhn, check_digit, written)
        if check_digit is CheckDigit.REFUSE:
            raise IdentityError(message)
        return ListedImei(imei.key, int(imei.check_digit), message)
    digit = NO_DIGIT if imei.check_digit is None else int(imei.check_digit)
    if imei.check_digit is None and imei.svn is None and not allocated(imei.key):
        if strict:
            raise IdentityError(lost_leading_zero(imei.key, written) + " (refused: --strict)")
        return ListedImei(imei.key, digit, lost_leading_zero(imei.key, written))
    return ListedImei(imei.key, digit, None)


def wrong_check_digit(
    imei15: str, expected: str, check_digit: CheckDigit, written: str | None = None
) -> str:
    """What a 15-digit IMEI whose check digit is wrong is told (quoting it ``written`` as in
    the file, if not as 15 digits): refused, or listed by its 14 digits (``--check-digit
    list``)."""
    told = f"IMEI {written or imei15} has check digit {imei15[14]}, expected {expected}"
    if check_digit is CheckDigit.LIST:
        return f"{told}: listed by its 14 digits (--check-digit list)"
    return (
        f"{told} (a typo would list another handset; --check-digit list lists it by its 14 digits)"
    )


def lost_leading_zero(imei14: str, written: str | None = None) -> str:
    """The warning of a 14-digit IMEI whose first two digits are no Reporting Body Identifier
    (quoting it ``written`` as in the file, if not as 14 digits)."""
    return (
        f"IMEI {written or imei14} looks like a 15-digit IMEI that lost its leading 0 "
        f"(no reporting body {imei14[:2]})"
    )


def parse_imei_key(text: str) -> str:
    """The 14-digit key of a list file's IMEI; a wrong 15th (check) digit is an error here."""
    size = len(text)
    if (
        size in IMEI_WIDTHS
        and text.isascii()
        and text.isdigit()
        and (size != 15 or luhn_ok15(text))
    ):
        return text[:14]
    return parse_imei(text).key


def parse_list(text: str) -> ListName:
    """A ``list`` cell: white, grey or black, in any case."""
    try:
        return ListName(text.lower())
    except ValueError:
        raise IdentityError(f"list {text!r} is not white, grey or black") from None


def check_source(source: str) -> str:
    """Who supplied a list: 1 to 64 of letters, digits and ``._:@/-``."""
    if not SOURCE_RE.fullmatch(source):
        raise IdentityError(
            f"source {source!r} is not 1 to 64 of letters, digits and ._:@/- "
            "(starting with a letter or digit)"
        )
    return source


def controls_in(text: str) -> bool:
    """Whether ``text`` holds a control character other than a line end: when a whole file
    holds none, :func:`check_text` need not look for them field by field."""
    return _CONTROL_BUT_LINE_ENDS.search(text) is not None


def check_text(value: str, what: str, controls: bool = True) -> str:
    """A reason or reference: no control character, at most MAX_FIELD octets of UTF-8.

    ``controls``: whether the file holds control characters at all (see :func:`controls_in`).
    """
    if controls and _CONTROL.search(value):
        raise IdentityError(f"{what} has a control character")
    # A UTF-8 character is at most 4 octets: short text cannot be too long.
    if len(value) > MAX_FIELD // 4 and len(value.encode()) > MAX_FIELD:
        raise IdentityError(f"{what} is longer than {MAX_FIELD} octets")
    return value


_UTC_DATES = DateReader()


def parse_added(text: str, dates: DateReader = _UTC_DATES) -> int:
    """An ``added`` cell: epoch seconds, ISO 8601 or a plain date (see
    :mod:`eir.store.dates`; ``dates`` holds the load's date format and time zone)."""
    return dates(text)
