"""The ECR scanner: the common, well-formed ECR (3GPP TS 29.272 7.2.19) -> EcrFields, read in
one bounded pass over the bytes without building the Message.

It accepts only what it fully understands: version 1, flags R (and P), command 324 on S13, and
AVPs from a fixed set, each with its usual flags, each at most once (Session-Id first, as RFC
6733 8.8 puts it), with lengths and padding that fit. Anything else (Proxy-Info, unknown AVPs,
odd flags, duplicates, a missing AVP) returns None and the message goes to
`eir.diameter.wire.decode_message` and `eir.diameter.s13.request.decode_ecr`, which give the
exact answer. Tests hold the two to the same values on thousands of mutated messages.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final, TypeAlias

from eir.diameter.s13.request import EcrFields

_HDR: Final = struct.Struct(">II")
_APP_S13: Final = (16777252).to_bytes(4, "big")
_CMD_ECR: Final = (324).to_bytes(3, "big")
_VSAI_S13: Final = bytes.fromhex("00000104400000200000010a4000000c000028af000001024000000c01000024")
# (code << 8 | flags) for plain AVPs with the M bit and no V bit.
_SESSION: Final = 263 << 8 | 0x40
_ROUTE_RECORD: Final = 282 << 8 | 0x40
_VSAI: Final = 260 << 8 | 0x40
_DRMP: Final = 301 << 8
_TERMINAL: Final = 1401 << 8 | 0xC0
_IMEI: Final = 1402 << 8 | 0xC0
_SV: Final = 1403 << 8 | 0xC0
_VENDOR_3GPP: Final = (10415).to_bytes(4, "big")

# The AVPs kept as values, each at most once: key -> its slot in the scan's list.
_ORIGIN_HOST, _ORIGIN_REALM, _DEST_REALM, _AUTH_STATE, _USER_NAME, _DEST_HOST = range(6)
_SLOTS: Final = {
    264 << 8 | 0x40: _ORIGIN_HOST,
    296 << 8 | 0x40: _ORIGIN_REALM,
    283 << 8 | 0x40: _DEST_REALM,
    277 << 8 | 0x40: _AUTH_STATE,
    1 << 8 | 0x40: _USER_NAME,
    293 << 8 | 0x40: _DEST_HOST,
}


def _refuse(_length: int) -> bool:
    return False


#: the other AVPs accepted (Vendor-Specific-Application-Id is compared whole): AVP length ->
#: acceptable? Anything not here sends the ECR to `decode_ecr`.
_OTHERS: Final[dict[int, Callable[[int], bool]]] = {
    _ROUTE_RECORD: lambda _length: True,
    _DRMP: lambda length: length == 12,
}


#: What the answer path needs of a common ECR: its fields, and its Session-Id AVP's bytes as
#: received (an ECA copies them). A plain tuple, not a NamedTuple: building one of those is a
#: Python call, and this is the hot path.
EcrScan: TypeAlias = tuple[EcrFields, bytes]


def scan_ecr(buf: bytes) -> EcrScan | None:
    """The fields and Session-Id AVP of a common ECR, or None: use `decode_ecr`."""
    first = _scan_head(buf)
    if first is None:
        return None
    n = len(buf)
    pos = first
    values: list[bytes | None] = [None] * 6
    twice = False
    terminal: tuple[bytes, bytes | None] | None = None
    unpack = _HDR.unpack_from
    while n - pos >= 8:
        word0, word1 = unpack(buf, pos)
        length = word1 & 0xFFFFFF
        end = pos + length
        nxt = (end + 3) & ~3
        if length < 8 or nxt > n:
            return None
        key = word0 << 8 | word1 >> 24
        slot = _SLOTS.get(key)
        if slot is not None:
            twice = twice or values[slot] is not None
            values[slot] = buf[pos + 8 : end]
        elif key == _TERMINAL:
            terminal = _scan_terminal(buf, pos, end) if terminal is None else None
            if terminal is None:
                return None
        elif key == _VSAI and buf[pos:nxt] == _VSAI_S13:
            pass
        elif not _OTHERS.get(key, _refuse)(length):
            return None
        pos = nxt
    origin_host, origin_realm, dest_realm, state, user, _dest_host = values
    if (
        pos != n
        or twice
        or origin_host is None
        or origin_realm is None
        or dest_realm is None
        or state is None
        or len(state) != 4
        or terminal is None
    ):
        return None
    fields = EcrFields(
        buf[28 : 20 + int.from_bytes(buf[25:28], "big")],  # Session-Id's value
        origin_host,
        origin_realm,
        dest_realm,
        terminal[0],
        terminal[1],
        None,
        user,
        int.from_bytes(state, "big"),
        (),
    )
    return fields, buf[20:first]


def _scan_head(buf: bytes) -> int | None:
    """Header of an S13 ECR (version 1, R and maybe P, 324, S13, length that fits and a
    multiple of 4) and a Session-Id first, with zero padding: where the next AVP starts."""
    n = len(buf)
    if n < 28 or buf[0] != 1 or int.from_bytes(buf[1:4], "big") != n or n & 3:
        return None
    if buf[4] & 0xBF != 0x80 or buf[5:8] != _CMD_ECR or buf[8:12] != _APP_S13:
        return None
    word0, word1 = _HDR.unpack_from(buf, 20)
    length: int = word1 & 0xFFFFFF
    end = 20 + length
    nxt = (end + 3) & ~3
    if word0 << 8 | word1 >> 24 != _SESSION or length < 8 or nxt > n:
        return None
    if buf[end:nxt].count(0) != nxt - end:
        return None
    return nxt


def _scan_terminal(buf: bytes, pos: int, end: int) -> tuple[bytes, bytes | None] | None:
    """IMEI and Software-Version of the Terminal-Information AVP at buf[pos:end] (vendor 3GPP,
    IMEI present, nothing else inside), or None."""
    if end - pos < 12 or buf[pos + 8 : pos + 12] != _VENDOR_3GPP:
        return None
    imei = sv = None
    unpack = _HDR.unpack_from
    p = pos + 12
    while p < end:
        if end - p < 12:
            return None
        w0, w1 = unpack(buf, p)
        ln = w1 & 0xFFFFFF
        e = p + ln
        if ln < 12 or e > end or buf[p + 8 : p + 12] != _VENDOR_3GPP:
            return None
        k = w0 << 8 | w1 >> 24
        if k == _IMEI and imei is None:
            imei = buf[p + 12 : e]
        elif k == _SV and sv is None:
            sv = buf[p + 12 : e]
        else:
            return None
        p = (e + 3) & ~3
    if p != end or imei is None:
        return None
    return imei, sv
