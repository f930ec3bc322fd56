"""Bounds-checked reading of Diameter messages (RFC 6733 sections 3, 4): the daemon's decoder.

`walk` checks the header and every AVP's header, length, padding and flag bits, and builds the
plain `Message` in the same pass: one visit per AVP, iterative (an explicit stack of the open
Grouped AVPs, never recursion), and within `Limits`:

- `max_depth` (default 8): how deeply Grouped AVPs may nest, a top-level AVP being at depth 1.
  RFC 6733 sets no bound; what S13 and the base protocol carry needs 3 at most (Failed-AVP >
  Vendor-Specific-Application-Id > Vendor-Id), so 8 leaves room for any grammar we may meet.
  An AVP deeper than that is answered 5004 DIAMETER_INVALID_AVP_VALUE with the top-level AVP
  that holds it (as an empty shell) in Failed-AVP: the framing is sound, so 5014 and 5015 would
  lie about it, and 5009 is about how often an AVP occurs; what we refuse is the value of that
  top-level AVP, a nesting we do not process.
- `max_avps` (default 1,024): AVPs per message, every level counted. The AVP past the limit is
  answered 5009 DIAMETER_AVP_OCCURS_TOO_MANY_TIMES (RFC 6733 7.1.5: an AVP appeared more often
  than permitted; our grammar permits at most `max_avps` AVPs in all), Failed-AVP naming it (or
  the top-level AVP holding it, as an empty shell).

The work is therefore bounded twice over: at most min(max_avps + 1, (length - 20) // 8) AVP
headers are read (an AVP header is 8 bytes at least) and each byte of the message is copied at
most once. pycrate (`eir.diameter.codec`) stays the codec of record for encoding and the
reference the tests hold `walk` to; it is never given a message from the network: its Grouped
decoding costs time exponential in the nesting depth.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple, NoReturn

from eir.diameter.dictionary import (
    AVP_RESERVED,
    AVP_V,
    FIXED_LENGTH,
    FLAG_E,
    FLAG_P,
    FLAG_R,
    FLAG_T,
    FLAGS_RESERVED,
    GROUPED,
    HEADER_LEN,
    VERSION,
    AvpCode,
    ResultCode,
)
from eir.diameter.errors import DiameterError
from eir.diameter.message import Avp, Message

_HEADER = struct.Struct(">I I I I I")
_AVP_HEAD = struct.Struct(">II")
_U32 = struct.Struct(">I")
# Failed-AVP carries the offending AVP as it was received (RFC 6733 7.5): its content is framed
# (lengths, padding) but its flag bits and value lengths are not checked.
_FAILED_AVP: Final = (int(AvpCode.FAILED_AVP), 0)
_REPORTED_INSIDE: Final = (
    ResultCode.DIAMETER_INVALID_AVP_LENGTH,
    ResultCode.DIAMETER_INVALID_AVP_BITS,
)

#: default bound on Grouped AVP nesting (a top-level AVP is at depth 1)
MAX_DEPTH: Final = 8
#: default bound on the AVPs of one message, all levels counted
MAX_AVPS: Final = 1024


class Limits(NamedTuple):
    max_depth: int = MAX_DEPTH
    max_avps: int = MAX_AVPS


LIMITS: Final = Limits()


class Work:
    """A counter of the AVP headers `walk` read: what the property tests bound."""

    __slots__ = ("avps",)

    def __init__(self) -> None:
        self.avps = 0


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


class _Open(NamedTuple):
    """A Grouped AVP being walked: its header, its children so far, where it and its parent
    end, and whether its content is checked (not inside a Failed-AVP)."""

    code: int
    vendor: int
    flags: int
    children: list[Avp]
    end: int
    outer_end: int
    checked: bool


def _shell(frame: _Open) -> Avp:
    return Avp(frame.code, frame.vendor, frame.flags, b"", ())


def _raise(stack: list[_Open], code: ResultCode, text: str, failed: Avp) -> NoReturn:
    """Raise `code`; Failed-AVP (RFC 6733 7.5) holds the offending AVP inside shells of the
    Grouped AVPs around it for framing errors, or the top-level AVP's shell for the limits."""
    if stack and code in _REPORTED_INSIDE:
        for frame in reversed(stack):
            failed = Avp(frame.code, frame.vendor, frame.flags, b"", (failed,))
    elif stack:
        failed = _shell(stack[0])
    raise DiameterError(code, text, failed)


def walk_avps(
    buf: bytes, start: int, end: int, limits: Limits = LIMITS, work: Work | None = None
) -> tuple[Avp, ...]:
    """The AVPs in buf[start:end], every one checked (see the module docstring); raises
    DiameterError 5014 / 3009 / 5004 / 5009 naming the AVP."""
    top: list[Avp] = []
    siblings = top
    stack: list[_Open] = []
    checked = True
    count = 0
    max_avps = limits.max_avps
    max_depth = limits.max_depth
    unpack = _AVP_HEAD.unpack_from
    pos = start
    try:
        while True:
            if pos >= end:
                if not stack:
                    break
                frame = stack.pop()
                siblings = stack[-1].children if stack else top
                siblings.append(
                    Avp(frame.code, frame.vendor, frame.flags, b"", tuple(frame.children))
                )
                pos = frame.end + (-frame.end & 3)
                end = frame.outer_end
                checked = stack[-1].checked if stack else True
                continue
            count += 1
            if end - pos < 8:
                _raise(
                    stack,
                    ResultCode.DIAMETER_INVALID_AVP_LENGTH,
                    f"{end - pos} trailing bytes cannot hold an AVP header",
                    Avp(0, 0, 0, b""),
                )
            code, word = unpack(buf, pos)
            flags = word >> 24
            length = word & 0xFFFFFF
            if flags & AVP_V:
                head = 12
                if end - pos < 12:
                    _raise(
                        stack,
                        ResultCode.DIAMETER_INVALID_AVP_LENGTH,
                        f"AVP {code} has the V bit but no room for a Vendor-Id",
                        Avp(code, 0, flags, b""),
                    )
                vendor = _U32.unpack_from(buf, pos + 8)[0]
            else:
                head = 8
                vendor = 0
            key = (code, vendor)
            if length < head or pos + length > end:
                # RFC 6733 7.5: for a length that does not fit, the AVP header and a
                # zero-filled payload of the minimum length are enough.
                _raise(
                    stack,
                    ResultCode.DIAMETER_INVALID_AVP_LENGTH,
                    f"AVP {code} length {length} does not fit (header {head}, "
                    f"{end - pos} bytes left)",
                    Avp(code, vendor, flags, _minimal(key)),
                )
            padded = pos + ((length + 3) & ~3)
            if padded > end:
                _raise(
                    stack,
                    ResultCode.DIAMETER_INVALID_AVP_LENGTH,
                    f"AVP {code} padding runs past the end of the message",
                    Avp(code, vendor, flags, _minimal(key)),
                )
            is_group = key in GROUPED
            if count > max_avps:
                _raise(
                    stack,
                    ResultCode.DIAMETER_AVP_OCCURS_TOO_MANY_TIMES,
                    f"more than {max_avps} AVPs in the message",
                    Avp(code, vendor, flags, b"", ())
                    if is_group
                    else Avp(code, vendor, flags, _minimal(key)),
                )
            if len(stack) >= max_depth:
                _raise(
                    stack,
                    ResultCode.DIAMETER_INVALID_AVP_VALUE,
                    f"Grouped AVPs nest deeper than {max_depth} levels",
                    Avp(code, vendor, flags, b"", ()),
                )
            if checked:
                if flags & AVP_RESERVED:
                    _raise(
                        stack,
                        ResultCode.DIAMETER_INVALID_AVP_BITS,
                        f"AVP {code} has reserved flag bits set (0x{flags:02x})",
                        Avp(
                            code,
                            vendor,
                            flags,
                            _minimal(key) if is_group else buf[pos + head : pos + length],
                        ),
                    )
                fixed = FIXED_LENGTH.get(key)
                if fixed is not None and length - head != fixed:
                    _raise(
                        stack,
                        ResultCode.DIAMETER_INVALID_AVP_LENGTH,
                        f"AVP {code} carries {length - head} bytes, its type needs {fixed}",
                        Avp(code, vendor, flags, buf[pos + head : pos + length]),
                    )
            if is_group:
                stack.append(
                    _Open(
                        code, vendor, flags, [], pos + length, end, checked and key != _FAILED_AVP
                    )
                )
                checked = stack[-1].checked
                siblings = stack[-1].children
                end = pos + length
                pos += head
            else:
                siblings.append(Avp(code, vendor, flags, buf[pos + head : pos + length]))
                pos = padded
    finally:
        if work is not None:
            work.avps += count
    return tuple(top)


def _minimal(key: tuple[int, int]) -> bytes:
    return bytes(FIXED_LENGTH.get(key, 0))


def walk(buf: bytes, limits: Limits = LIMITS, work: Work | None = None) -> Message:
    """One whole message, checked and decoded (see the module docstring)."""
    if len(buf) < HEADER_LEN:
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_MESSAGE_LENGTH,
            f"{len(buf)} bytes cannot hold a message header",
        )
    header = parse_header(buf)
    check_header(header)
    if not HEADER_LEN <= header.length <= len(buf):
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_MESSAGE_LENGTH,
            f"message length {header.length} does not fit {len(buf)} bytes",
        )
    avps = walk_avps(bytes(buf), HEADER_LEN, header.length, limits, work)
    flags = header.flags & (FLAG_R | FLAG_P | FLAG_E | FLAG_T)
    return Message(header.code, header.app, flags, header.hbh, header.e2e, avps, header.version)


def check_message(buf: bytes, limits: Limits = LIMITS) -> Header:
    """Header and AVP layout checks for one whole message; returns the header."""
    walk(buf, limits)
    return parse_header(buf)


_ORIGIN_HOST: Final = int(AvpCode.ORIGIN_HOST)
_ORIGIN_REALM: Final = int(AvpCode.ORIGIN_REALM)


def scan_origin(
    buf: bytes, limits: Limits = LIMITS, realm_too: bool = True
) -> tuple[bytes | None, bytes | None]:
    """Origin-Host and Origin-Realm (their first top-level instances) of a message whose AVPs
    may be broken, reading top-level AVP headers only: at most min(max_avps, length // 8) of
    them, and only until both are found (Origin-Host alone with `realm_too=False`). For deciding
    the allow-list, or require_origin_match, before anything else is read."""
    if len(buf) < HEADER_LEN:
        return None, None
    n = min(len(buf), int.from_bytes(buf[1:4], "big"))
    host = realm = None
    pos = HEADER_LEN
    left = limits.max_avps
    unpack = _AVP_HEAD.unpack_from
    while n - pos >= 8 and left:
        left -= 1
        code, word = unpack(buf, pos)
        length = word & 0xFFFFFF
        if length < 8 or pos + length > n:
            break
        head = 8
        if word & 0x80000000:  # the V bit: ours have Vendor-Id 0, if any
            head = 12 if length >= 12 and not _U32.unpack_from(buf, pos + 8)[0] else 0
        if head and code == _ORIGIN_HOST and host is None:
            host = bytes(buf[pos + head : pos + length])
            if realm is not None or not realm_too:
                break
        elif head and code == _ORIGIN_REALM and realm is None:
            realm = bytes(buf[pos + head : pos + length])
            if host is not None:
                break
        pos += (length + 3) & ~3
    return host, realm
