"""What each field of a list entry may hold: the one check of each value.

The row path (:mod:`eir.store.rows`) calls these on every cell; the bulk path
(:mod:`eir.store.bulk`) applies the same rules to whole columns from the definitions here
(:data:`IMEI_WIDTHS`, :data:`CONTROL_OCTETS`, :data:`~eir.store.records.MAX_FIELD`), and
property tests hold the two paths to the same result. The CLI and the list distribution check
a source with :func:`check_source`.

An IMEI is 14 digits (TAC + SNR), 15 with its Luhn check digit or 16 as an IMEISV (3GPP TS
23.003 clause 6.2); a 15-digit IMEI whose check digit is wrong is refused: in a list file it is
a typo, and loading it would list some other, innocent handset.
"""

from __future__ import annotations

import re
from datetime import datetime

from eir.errors import IdentityError
from eir.identity import Imei, luhn_ok15
from eir.model import ListName
from eir.store.records import MAX_FIELD

#: the lengths of an IMEI in a list file: without check digit, with it, an IMEISV
IMEI_WIDTHS = (14, 15, 16)
#: the control characters, refused in a text field
CONTROL_OCTETS = bytes([*range(0x20), 0x7F])
SOURCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,63}")
_CONTROL = re.compile("[" + re.escape(CONTROL_OCTETS.decode("ascii")) + "]")
_CONTROL_BUT_LINE_ENDS = re.compile(
    "[" + re.escape(CONTROL_OCTETS.translate(None, b"\r\n").decode("ascii")) + "]"
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
    imei = Imei.parse(text)  # raises the precise error for anything else
    raise IdentityError(
        f"IMEI {text} has check digit {imei.check_digit}, expected {imei.luhn} "
        "(a typo would list another handset)"
    )


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


def parse_added(text: str) -> int:
    """An ``added`` cell: epoch seconds, or ISO 8601 with a time zone."""
    if text.isdigit():
        return int(text)
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise IdentityError(f"added {text!r} is not ISO 8601 or epoch seconds") from None
    if stamp.tzinfo is None:
        raise IdentityError(f"added {text!r} has no time zone (write Z or +00:00)")
    return int(stamp.timestamp())
