"""SCCP connectionless messages (ITU-T Q.713): UDT, XUDT and their service messages UDTS, XUDTS.

A bounds-checked reader (`scan_unitdata`) and encoder of our own run on every request (the hot
path); the tests hold them to pycrate's SCCP decoding, the reference. Party addresses are kept
as the bytes received as well as decoded, so that an answer swaps the parties without
re-encoding them. When to answer and when to return a message (Q.714) is
`eir.sigtran.sccp_routing`.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

UDT = 0x09
UDTS = 0x0A
XUDT = 0x11
XUDTS = 0x12
SERVICE_OF = {UDT: UDTS, XUDT: XUDTS}

SSN_MSC = 8
SSN_EIR = 9
SSN_SGSN = 149

OPT_SEGMENTATION = 0x10
OPT_IMPORTANCE = 0x12
OPT_END = 0x00


class ReturnCause(enum.IntEnum):
    """Q.713 3.12."""

    NO_TRANSLATION_FOR_NATURE = 0
    NO_TRANSLATION_FOR_ADDRESS = 1
    SUBSYSTEM_CONGESTION = 2
    SUBSYSTEM_FAILURE = 3
    UNEQUIPPED_USER = 4
    MTP_FAILURE = 5
    NETWORK_CONGESTION = 6
    UNQUALIFIED = 7
    ERROR_IN_MESSAGE_TRANSPORT = 8
    ERROR_IN_LOCAL_PROCESSING = 9
    CANNOT_REASSEMBLE = 10
    SCCP_FAILURE = 11
    HOP_COUNTER_VIOLATION = 12
    SEGMENTATION_NOT_SUPPORTED = 13
    SEGMENTATION_FAILURE = 14


class SccpError(Exception):
    """A message that cannot be parsed (dropped: SCCP has no error answer for garbage)."""


class Work:
    """Optional parameters visited by `scan_unitdata` (the fuzz tests hold it to a bound linear
    in the length: each takes 2 bytes at least)."""

    optional = 0


class GlobalTitle(NamedTuple):
    """Q.713 3.4.2.3. `digits` are decimal (BCD); GTI 1 to 4."""

    gti: int
    digits: str
    nai: int = 4  # international number
    tt: int = 0
    np: int = 1  # E.164

    def encode(self) -> bytes:
        odd = len(self.digits) % 2
        bcd = _bcd(self.digits)
        if self.gti == 1:
            return bytes([(0x80 if odd else 0) | (self.nai & 0x7F)]) + bcd
        if self.gti == 2:
            return bytes([self.tt]) + bcd
        es = 1 if odd else 2
        if self.gti == 3:
            return bytes([self.tt, (self.np << 4) | es]) + bcd
        return bytes([self.tt, (self.np << 4) | es, self.nai & 0x7F]) + bcd


class Address(NamedTuple):
    """Q.713 3.4: a called or calling party address (ITU, 14-bit point codes)."""

    route_on_ssn: bool
    ssn: int | None = None
    pc: int | None = None
    gt: GlobalTitle | None = None
    national: bool = False

    def encode(self) -> bytes:
        gti = 0 if self.gt is None else self.gt.gti
        indicator = (
            (0x80 if self.national else 0)
            | (0x40 if self.route_on_ssn else 0)
            | (gti << 2)
            | (0x02 if self.ssn is not None else 0)
            | (0x01 if self.pc is not None else 0)
        )
        out = bytearray([indicator])
        if self.pc is not None:
            out += (self.pc & 0x3FFF).to_bytes(2, "little")
        if self.ssn is not None:
            out.append(self.ssn)
        if self.gt is not None:
            out += self.gt.encode()
        return bytes(out)


class Unitdata(NamedTuple):
    """A UDT/XUDT (or UDTS/XUDTS, with `cause`)."""

    kind: int
    protocol_class: int
    return_on_error: bool
    called: Address
    calling: Address
    data: bytes
    called_raw: bytes
    calling_raw: bytes
    hop_counter: int | None = None
    optional: bytes = b""
    cause: int | None = None

    @property
    def segmented(self) -> bool:
        """An XUDT that is one segment of several (reassembly is not supported)."""
        return _segmentation_remaining(self.optional) > 0


def _bcd(digits: str) -> bytes:
    if not digits.isdigit() and digits:
        raise SccpError(f"global title digits {digits!r} are not decimal")
    padded = digits + ("0" if len(digits) % 2 else "")
    return bytes(int(padded[i + 1]) << 4 | int(padded[i]) for i in range(0, len(padded), 2))


def _digits(data: bytes, odd: bool) -> str:
    out = []
    for byte in data:
        out.append(byte & 0x0F)
        out.append(byte >> 4)
    if odd and out:
        out.pop()
    if any(d > 9 for d in out):
        # filler or hexadecimal digits: keep them visible, GT routing is not ours to do
        return "".join("0123456789abcdef"[d] for d in out)
    return "".join(map(str, out))


def decode_address(raw: bytes) -> Address:
    if not raw:
        raise SccpError("an empty party address")
    indicator = raw[0]
    pos = 1
    pc = ssn = None
    if indicator & 0x01:
        if len(raw) < pos + 2:
            raise SccpError("a point code is announced but missing")
        pc = int.from_bytes(raw[pos : pos + 2], "little") & 0x3FFF
        pos += 2
    if indicator & 0x02:
        if len(raw) < pos + 1:
            raise SccpError("a subsystem number is announced but missing")
        ssn = raw[pos]
        pos += 1
    gt = _global_title((indicator >> 2) & 0x0F, raw[pos:])
    return Address(bool(indicator & 0x40), ssn, pc, gt, bool(indicator & 0x80))


def _global_title(gti: int, rest: bytes) -> GlobalTitle | None:
    """The global title (Q.713 3.4.2.3) of indicator `gti` from the address's last bytes."""
    if gti == 0:
        return None
    if gti == 1:
        if not rest:
            raise SccpError("GTI 1 without its nature of address")
        return GlobalTitle(1, _digits(rest[1:], bool(rest[0] & 0x80)), nai=rest[0] & 0x7F)
    if gti == 2:
        if not rest:
            raise SccpError("GTI 2 without its translation type")
        return GlobalTitle(2, _digits(rest[1:], False), tt=rest[0])  # GTI 2 has no odd/even bit
    if gti not in (3, 4):
        raise SccpError(f"global title indicator {gti} is not 0 to 4")
    need = 2 if gti == 3 else 3
    if len(rest) < need:
        raise SccpError(f"GTI {gti} shorter than its {need} header bytes")
    es = rest[1] & 0x0F
    if es not in (1, 2):
        raise SccpError(f"GT encoding scheme {es} is not BCD")
    return GlobalTitle(
        gti,
        _digits(rest[need:], es == 1),
        tt=rest[0],
        np=rest[1] >> 4,
        nai=(rest[2] & 0x7F) if gti == 4 else 4,
    )


#: bytes of the global title before its address signals, by global title indicator (Q.713
#: 3.4.2.3: GTI 1 nature of address; 2 translation type; 3 TT, numbering plan and encoding
#: scheme; 4 TT, NP and ES, nature of address)
_GT_HEADER = {0: 0, 1: 1, 2: 1, 3: 2, 4: 3}


def check_address(raw: bytes, what: str) -> None:
    """Q.713 3.4: the address holds what its indicator announces (point code, SSN, a global
    title with its header and at least one digit octet), nothing more when it has no global
    title, and a global title when it routes on one. SccpError otherwise: such an address
    can neither be answered nor returned, so the message is discarded (Q.714 4.2)."""
    if not raw:
        raise SccpError(f"an empty {what}")
    indicator = raw[0]
    need = 1 + (2 if indicator & 0x01 else 0) + (1 if indicator & 0x02 else 0)
    gti = (indicator >> 2) & 0x0F
    header = _GT_HEADER.get(gti)
    if header is None:
        raise SccpError(f"global title indicator {gti} in the {what}")
    if gti == 0:
        if len(raw) != need:
            raise SccpError(f"the {what} has {len(raw)} bytes, its indicator announces {need}")
        if not indicator & 0x40:
            raise SccpError(f"the {what} routes on a global title it lacks")
    elif len(raw) <= need + header:
        raise SccpError(
            f"the {what} has {len(raw)} bytes, too few for the point code, SSN "
            f"and GTI {gti} global title its indicator announces"
        )


def _variable(buf: bytes, pointer_at: int, what: str) -> bytes:
    if pointer_at >= len(buf):
        raise SccpError(f"no pointer to the {what}")
    pointer = buf[pointer_at]
    if pointer == 0:
        raise SccpError(f"a null pointer to the {what}")
    start = pointer_at + pointer
    if start >= len(buf):
        raise SccpError(f"the pointer to the {what} points past the end")
    length = buf[start]
    if start + 1 + length > len(buf):
        raise SccpError(f"the {what} ({length} bytes) runs past the end")
    return buf[start + 1 : start + 1 + length]


class UnitdataScan(NamedTuple):
    """A unitdata message with its party addresses left as bytes (what answering needs)."""

    kind: int
    protocol_class: int
    return_on_error: bool
    data: bytes
    called_raw: bytes
    calling_raw: bytes
    hop_counter: int | None = None
    optional: bytes = b""
    cause: int | None = None

    @property
    def segmented(self) -> bool:
        return _segmentation_remaining(self.optional) > 0

    @property
    def called_ssn(self) -> int | None:
        """The called SSN (Q.713 3.4.1), read without decoding the global title."""
        raw = self.called_raw
        if not raw[0] & 0x02:
            return None
        at = 3 if raw[0] & 0x01 else 1
        if len(raw) <= at:
            raise SccpError("a subsystem number is announced but missing")
        return raw[at]


def decode(buf: bytes) -> Unitdata:
    """Parse a UDT, XUDT, UDTS or XUDTS; raises SccpError for anything else or broken."""
    raw = scan_unitdata(buf)
    return Unitdata(
        raw.kind,
        raw.protocol_class,
        raw.return_on_error,
        decode_address(raw.called_raw),
        decode_address(raw.calling_raw),
        raw.data,
        raw.called_raw,
        raw.calling_raw,
        raw.hop_counter,
        raw.optional,
        raw.cause,
    )


def scan_unitdata(buf: bytes) -> UnitdataScan:
    """Read a UDT, XUDT, UDTS or XUDTS without decoding its party addresses (what answering
    needs; `decode` adds the decoded addresses). Raises SccpError like `decode`."""
    if len(buf) < 5:
        raise SccpError(f"{len(buf)} bytes cannot hold a unitdata message")
    kind = buf[0]
    cause = None
    hop = None
    optional = b""
    if kind in (UDT, UDTS):
        first = 2
        if kind == UDT:
            pclass, handling = buf[1] & 0x0F, buf[1] >> 4
        else:
            pclass, handling, cause = 0, 0, buf[1]
    elif kind in (XUDT, XUDTS):
        if len(buf) < 7:
            raise SccpError(f"{len(buf)} bytes cannot hold an {kind:#x}")
        if kind == XUDT:
            pclass, handling = buf[1] & 0x0F, buf[1] >> 4
        else:
            pclass, handling, cause = 0, 0, buf[1]
        hop = buf[2]
        first = 3
        opt_ptr = buf[first + 3]
        if opt_ptr:
            start = first + 3 + opt_ptr
            if start >= len(buf):
                raise SccpError("the pointer to the optional part points past the end")
            optional = buf[start:]
            _check_optional(optional)
    else:
        raise SccpError(f"message type {kind:#04x} is not UDT, XUDT, UDTS or XUDTS")
    if kind in (UDT, XUDT) and pclass > 1:
        raise SccpError(f"protocol class {pclass} on a connectionless message")
    called_raw = _variable(buf, first, "called party address")
    calling_raw = _variable(buf, first + 1, "calling party address")
    data = _variable(buf, first + 2, "data")
    check_address(called_raw, "called party address")
    check_address(calling_raw, "calling party address")
    return UnitdataScan(
        kind, pclass, bool(handling & 0x08), data, called_raw, calling_raw, hop, optional, cause
    )


def _check_optional(optional: bytes) -> None:
    pos = 0
    while pos < len(optional):
        Work.optional += 1
        name = optional[pos]
        if name == OPT_END:
            return
        if pos + 2 > len(optional) or pos + 2 + optional[pos + 1] > len(optional):
            raise SccpError(f"optional parameter {name:#04x} runs past the end")
        pos += 2 + optional[pos + 1]
    raise SccpError("the optional part has no end of optional parameters")


def _segmentation_remaining(optional: bytes) -> int:
    pos = 0
    while pos + 1 < len(optional) and optional[pos] != OPT_END:
        if optional[pos] == OPT_SEGMENTATION and optional[pos + 1] >= 1 and pos + 2 < len(optional):
            return optional[pos + 2] & 0x0F
        pos += 2 + optional[pos + 1]
    return 0


def encode(
    kind: int,
    called: bytes,
    calling: bytes,
    data: bytes,
    *,
    protocol_class: int = 0,
    return_on_error: bool = False,
    hop_counter: int = 15,
    optional: bytes = b"",
    cause: int = 0,
) -> bytes:
    """A UDT / XUDT / UDTS / XUDTS from raw party addresses (Q.713 4.10 to 4.19)."""
    if max(len(called), len(calling), len(data)) > 255:
        raise SccpError("a variable part over 255 bytes needs LUDT")
    second = cause if kind in (UDTS, XUDTS) else ((0x80 if return_on_error else 0) | protocol_class)
    body = bytes([len(called)]) + called + bytes([len(calling)]) + calling
    body += bytes([len(data)]) + data
    if kind in (UDT, UDTS):
        pointers = bytes([3, 2 + 1 + len(called), 1 + 1 + len(called) + 1 + len(calling)])
        return bytes([kind, second]) + pointers + body
    opt_pointer = 0
    if optional:
        opt_pointer = 1 + len(body)
    pointers = bytes([4, 3 + 1 + len(called), 2 + 1 + len(called) + 1 + len(calling), opt_pointer])
    return bytes([kind, second, hop_counter]) + pointers + body + optional


def reply(request: Unitdata | UnitdataScan, data: bytes, calling: bytes | None = None) -> bytes:
    """The answer to a UDT/XUDT: the same message type, the parties swapped (the caller's
    address becomes the called one; ours, `calling`, defaults to the address it called)."""
    return encode(
        request.kind,
        request.calling_raw,
        request.called_raw if calling is None else calling,
        data,
        protocol_class=request.protocol_class,
    )


def service(request: Unitdata | UnitdataScan, cause: ReturnCause) -> bytes:
    """UDTS / XUDTS returning a message we cannot deliver (Q.714 4.2)."""
    return encode(
        SERVICE_OF[request.kind], request.calling_raw, request.called_raw, request.data, cause=cause
    )
