"""Bounds-checked reading of the Diameter header and AVP layout (RFC 6733 sections 3, 4).

pycrate decodes AVP values but stops at the first bad AVP without saying so, and checks neither
the version nor the message length; these checks run first, so that pycrate only ever sees a
message whose every AVP header, length and padding is consistent.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from eir.diameter.dictionary import (
    AVP_RESERVED,
    AVP_V,
    FIXED_LENGTH,
    FLAG_E,
    FLAG_R,
    FLAGS_RESERVED,
    GROUPED,
    HEADER_LEN,
    VERSION,
    ResultCode,
)
from eir.diameter.errors import DiameterError
from eir.diameter.message import Avp

_HEADER = struct.Struct(">I I I I I")
# Failed-AVP carries the offending AVP as it was received (RFC 6733 7.5): not checked inside.
_CHECKED_GROUPS = GROUPED - {(279, 0)}


class Header(NamedTuple):
    version: int
    length: int
    flags: int
    code: int
    app: int
    hbh: int
    e2e: int


def parse_header(buf: bytes | memoryview, start: int = 0) -> Header:
    """The 20-byte header at `start`; the caller has checked that 20 bytes are there."""
    w0, w1, app, hbh, e2e = _HEADER.unpack_from(buf, start)
    return Header(w0 >> 24, w0 & 0xFFFFFF, w1 >> 24, w1 & 0xFFFFFF, app, hbh, e2e)


def check_header(header: Header) -> None:
    """Version and command flags: 5011, 3008 (RFC 6733 sections 3 and 7.1.3)."""
    if header.version != VERSION:
        raise DiameterError(
            ResultCode.DIAMETER_UNSUPPORTED_VERSION, f"version {header.version}, not 1"
        )
    if header.flags & FLAGS_RESERVED:
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_HDR_BITS,
            f"reserved command flag bits set (flags 0x{header.flags:02x})",
        )
    if header.flags & FLAG_R and header.flags & FLAG_E:
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_HDR_BITS, "a request with the E (error) bit set"
        )
    if header.length % 4:
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_MESSAGE_LENGTH,
            f"message length {header.length} is not a multiple of 4",
        )


def check_avps(buf: bytes, start: int, end: int) -> None:
    """Walk every AVP in buf[start:end] (and inside the Grouped AVPs we know): lengths, padding,
    flag bits. Raises DiameterError 5014 / 3009 naming the AVP."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise DiameterError(
                ResultCode.DIAMETER_INVALID_AVP_LENGTH,
                f"{end - pos} trailing bytes cannot hold an AVP header",
                Avp(0, 0, 0, b""),
            )
        code = int.from_bytes(buf[pos : pos + 4], "big")
        flags = buf[pos + 4]
        length = int.from_bytes(buf[pos + 5 : pos + 8], "big")
        has_vendor = bool(flags & AVP_V)
        head = 12 if has_vendor else 8
        if has_vendor and end - pos < 12:
            raise DiameterError(
                ResultCode.DIAMETER_INVALID_AVP_LENGTH,
                f"AVP {code} has the V bit but no room for a Vendor-Id",
                Avp(code, 0, flags, b""),
            )
        vendor = int.from_bytes(buf[pos + 8 : pos + 12], "big") if has_vendor else 0
        key = (code, vendor)
        # RFC 6733 7.5: for a length that does not fit, the AVP header and a zero-filled
        # payload of the minimum length are enough (and keep our Failed-AVP well-formed).
        minimal = bytes(FIXED_LENGTH.get(key, 0))
        if length < head or pos + length > end:
            raise DiameterError(
                ResultCode.DIAMETER_INVALID_AVP_LENGTH,
                f"AVP {code} length {length} does not fit (header {head}, "
                f"{end - pos} bytes left)",
                Avp(code, vendor, flags, minimal),
            )
        padded = pos + ((length + 3) & ~3)
        if padded > end:
            raise DiameterError(
                ResultCode.DIAMETER_INVALID_AVP_LENGTH,
                f"AVP {code} padding runs past the end of the message",
                Avp(code, vendor, flags, minimal),
            )
        data = bytes(buf[pos + head : pos + length])
        if flags & AVP_RESERVED:
            raise DiameterError(
                ResultCode.DIAMETER_INVALID_AVP_BITS,
                f"AVP {code} has reserved flag bits set (0x{flags:02x})",
                Avp(code, vendor, flags, minimal if key in GROUPED else data),
            )
        fixed = FIXED_LENGTH.get(key)
        if fixed is not None and length - head != fixed:
            raise DiameterError(
                ResultCode.DIAMETER_INVALID_AVP_LENGTH,
                f"AVP {code} carries {length - head} bytes, its type needs {fixed}",
                Avp(code, vendor, flags, data),
            )
        if key in _CHECKED_GROUPS:
            try:
                check_avps(buf, pos + head, pos + length)
            except DiameterError as inner:
                if inner.failed is not None and inner.result_code in (
                    ResultCode.DIAMETER_INVALID_AVP_LENGTH,
                    ResultCode.DIAMETER_INVALID_AVP_BITS,
                ):
                    raise DiameterError(
                        inner.result_code,
                        inner.text,
                        Avp(code, vendor, flags, b"", (inner.failed,)),
                    ) from None
                raise
        pos = padded


def check_message(buf: bytes) -> Header:
    """Header and AVP layout checks for one whole message; returns the header."""
    header = parse_header(buf)
    check_header(header)
    check_avps(buf, HEADER_LEN, header.length)
    return header
