"""Diameter messages as bytes (RFC 6733 sections 3, 4): the daemon's own codec.

Decoding is bounds-checked. `decode_message` checks the header and every AVP's header, length,
padding and flag bits, and builds the plain `Message` in the same pass: one visit per AVP,
iterative (an explicit stack of the open Grouped AVPs, never recursion), and within `Limits`:

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
reference the tests hold `decode_message` to; it is never given a message from the network:
its Grouped decoding costs time exponential in the nesting depth.

For what cannot be decoded: `header_only` (the header as a Message, to answer it) and
`scan_session_id`, `scan_origin` (bounded readers of single AVPs). `encode_message` and
`encode_avp` write messages without pycrate (held byte for byte to it by tests).
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
    """A counter of the AVP headers `decode_avps` read: what the property tests bound."""

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


def decode_header(buf: bytes | memoryview, start: int = 0) -> Header:
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


def decode_avps(
    buf: bytes, start: int, end: int, limits: Limits = LIMITS, work: Work | None = None
) -> tuple[Avp, ...]:
    """The AVPs in buf[start:end], every one checked (see the module docstring); raises
    DiameterError 5014 / 3009 / 5004 / 5009 naming the AVP.

    The loop reads each AVP header once; a check that fails hands over to `_reject_framing` or
    `_reject_content`, which find the exact error (in RFC 6733's order of precedence) and
    raise it, so that the well-formed path takes no extra call."""
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
                pos, end, siblings, checked = _close(stack, top)
                continue
            count += 1
            if end - pos < 12:
                _check_room(buf, pos, end, stack)
            code, word = unpack(buf, pos)
            flags = word >> 24
            length = word & 0xFFFFFF
            head = 12 if flags & AVP_V else 8
            vendor = _U32.unpack_from(buf, pos + 8)[0] if head == 12 else 0
            key = (code, vendor)
            padded = pos + ((length + 3) & ~3)
            if length < head or padded > end or count > max_avps or len(stack) >= max_depth:
                seen = _Seen(code, vendor, flags, head, length, pos, end)
                _reject_framing(stack, seen, count, limits)
            fixed = FIXED_LENGTH.get(key)
            if checked and (flags & AVP_RESERVED or (fixed is not None and length - head != fixed)):
                _reject_content(buf, stack, _Seen(code, vendor, flags, head, length, pos, end))
            if key in GROUPED:
                checked = checked and key != _FAILED_AVP
                stack.append(_Open(code, vendor, flags, [], pos + length, end, checked))
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


def _close(stack: list[_Open], top: list[Avp]) -> tuple[int, int, list[Avp], bool]:
    """The Grouped AVP on top of `stack` is complete: append it to its parent's children.
    Returns where the walk goes on: position, end, siblings, whether content is checked."""
    frame = stack.pop()
    siblings = stack[-1].children if stack else top
    siblings.append(Avp(frame.code, frame.vendor, frame.flags, b"", tuple(frame.children)))
    checked = stack[-1].checked if stack else True
    return frame.end + (-frame.end & 3), frame.outer_end, siblings, checked


class _Seen(NamedTuple):
    """The header of an AVP the walk refuses, for the error that names it."""

    code: int
    vendor: int
    flags: int
    head: int
    length: int
    pos: int
    end: int


def _check_room(buf: bytes, pos: int, end: int, stack: list[_Open]) -> None:
    """Fewer than 12 bytes left: enough for an AVP header (8, 12 with the V bit)?"""
    if end - pos < 8:
        _raise(
            stack,
            ResultCode.DIAMETER_INVALID_AVP_LENGTH,
            f"{end - pos} trailing bytes cannot hold an AVP header",
            Avp(0, 0, 0, b""),
        )
    if buf[pos + 4] & AVP_V:
        code = _U32.unpack_from(buf, pos)[0]
        _raise(
            stack,
            ResultCode.DIAMETER_INVALID_AVP_LENGTH,
            f"AVP {code} has the V bit but no room for a Vendor-Id",
            Avp(code, 0, buf[pos + 4], b""),
        )


def _reject_framing(stack: list[_Open], avp: _Seen, count: int, limits: Limits) -> NoReturn:
    """An AVP that does not fit, or is past the limits: 5014, 5009 or 5004."""
    code, vendor, flags, head, length, pos, end = avp
    key = (code, vendor)
    if length < head or pos + length > end:
        # RFC 6733 7.5: for a length that does not fit, the AVP header and a
        # zero-filled payload of the minimum length are enough.
        _raise(
            stack,
            ResultCode.DIAMETER_INVALID_AVP_LENGTH,
            f"AVP {code} length {length} does not fit (header {head}, {end - pos} bytes left)",
            Avp(code, vendor, flags, _minimal(key)),
        )
    if pos + ((length + 3) & ~3) > end:
        _raise(
            stack,
            ResultCode.DIAMETER_INVALID_AVP_LENGTH,
            f"AVP {code} padding runs past the end of the message",
            Avp(code, vendor, flags, _minimal(key)),
        )
    if count > limits.max_avps:
        _raise(
            stack,
            ResultCode.DIAMETER_AVP_OCCURS_TOO_MANY_TIMES,
            f"more than {limits.max_avps} AVPs in the message",
            Avp(code, vendor, flags, b"", ())
            if key in GROUPED
            else Avp(code, vendor, flags, _minimal(key)),
        )
    _raise(
        stack,
        ResultCode.DIAMETER_INVALID_AVP_VALUE,
        f"Grouped AVPs nest deeper than {limits.max_depth} levels",
        Avp(code, vendor, flags, b"", ()),
    )


def _reject_content(buf: bytes, stack: list[_Open], avp: _Seen) -> NoReturn:
    """Reserved flag bits (3009) or a fixed-length value of the wrong length (5014)."""
    code, vendor, flags, head, length, pos, _end = avp
    key = (code, vendor)
    if flags & AVP_RESERVED:
        _raise(
            stack,
            ResultCode.DIAMETER_INVALID_AVP_BITS,
            f"AVP {code} has reserved flag bits set (0x{flags:02x})",
            Avp(
                code,
                vendor,
                flags,
                _minimal(key) if key in GROUPED else buf[pos + head : pos + length],
            ),
        )
    _raise(
        stack,
        ResultCode.DIAMETER_INVALID_AVP_LENGTH,
        f"AVP {code} carries {length - head} bytes, its type needs {FIXED_LENGTH[key]}",
        Avp(code, vendor, flags, buf[pos + head : pos + length]),
    )


def _minimal(key: tuple[int, int]) -> bytes:
    return bytes(FIXED_LENGTH.get(key, 0))


def decode_message(buf: bytes, limits: Limits = LIMITS, work: Work | None = None) -> Message:
    """One whole message, checked and decoded (see the module docstring)."""
    if len(buf) < HEADER_LEN:
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_MESSAGE_LENGTH,
            f"{len(buf)} bytes cannot hold a message header",
        )
    header = decode_header(buf)
    check_header(header)
    if not HEADER_LEN <= header.length <= len(buf):
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_MESSAGE_LENGTH,
            f"message length {header.length} does not fit {len(buf)} bytes",
        )
    avps = decode_avps(bytes(buf), HEADER_LEN, header.length, limits, work)
    flags = header.flags & (FLAG_R | FLAG_P | FLAG_E | FLAG_T)
    return Message(header.code, header.app, flags, header.hbh, header.e2e, avps, header.version)


def check_message(buf: bytes, limits: Limits = LIMITS) -> Header:
    """Header and AVP layout checks for one whole message; returns the header."""
    decode_message(buf, limits)
    return decode_header(buf)


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


def header_only(buf: bytes) -> Message:
    """A Message carrying only the header fields of `buf` (for answering what cannot be
    decoded); the caller has checked that 20 bytes are there."""
    h = decode_header(buf)
    return Message(h.code, h.app, h.flags, h.hbh, h.e2e, (), h.version)


def scan_session_id(buf: bytes) -> bytes | None:
    """The Session-Id of a message whose AVPs may be broken: RFC 6733 puts it first."""
    if len(buf) < 28:
        return None
    code = int.from_bytes(buf[20:24], "big")
    flags = buf[24]
    length = int.from_bytes(buf[25:28], "big")
    if code != AvpCode.SESSION_ID or flags & 0x80 or not 8 <= length <= len(buf) - 20:
        return None
    return bytes(buf[28 : 20 + length])


_AVP_HEAD_V = struct.Struct(">III")


def encode_avp(avp: Avp) -> bytes:
    """One AVP's bytes with its padding, without pycrate: for building many requests quickly
    (the simulator). Tests hold it byte for byte to `eir.diameter.codec.encode_avp_pycrate`."""
    data = avp.data if avp.group is None else b"".join(encode_avp(c) for c in avp.group)
    flags = avp.flags & 0xFF
    if flags & AVP_V:
        head = _AVP_HEAD_V.pack(avp.code, flags << 24 | (12 + len(data)), avp.vendor)
    else:
        head = _AVP_HEAD.pack(avp.code, flags << 24 | (8 + len(data)))
    return head + data + bytes(-len(data) % 4)


def encode_message(message: Message) -> bytes:
    """A whole message without pycrate (see `encode_avp`); held to
    `eir.diameter.codec.encode_message_pycrate` by tests."""
    body = b"".join(encode_avp(a) for a in message.avps)
    return (
        _HEADER.pack(
            message.version << 24 | (20 + len(body)),
            message.flags << 24 | message.code,
            message.app,
            message.hbh,
            message.e2e,
        )
        + body
    )
