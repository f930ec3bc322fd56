"""Plain Diameter values: a message is a header plus a tuple of AVPs (RFC 6733 sections 3, 4).

These are what the rest of the daemon handles; `eir.diameter.codec` turns them into bytes and
back through pycrate, and `eir.diameter.wire` checks the framing pycrate does not check.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from eir.diameter.dictionary import AVP_M, AVP_V, FLAG_E, FLAG_P, FLAG_R, VERSION

_U32 = struct.Struct(">I")


class Avp(NamedTuple):
    """One AVP. `flags` holds V, M and P as on the wire; `group` is set for Grouped AVPs."""

    code: int
    vendor: int = 0
    flags: int = AVP_M
    data: bytes = b""
    group: tuple[Avp, ...] | None = None

    def find(self, code: int, vendor: int = 0) -> Avp | None:
        for child in self.group or ():
            if child.code == code and child.vendor == vendor:
                return child
        return None


class Message(NamedTuple):
    code: int
    app: int
    flags: int
    hbh: int
    e2e: int
    avps: tuple[Avp, ...]
    version: int = VERSION

    @property
    def is_request(self) -> bool:
        return bool(self.flags & FLAG_R)

    @property
    def is_error(self) -> bool:
        return bool(self.flags & FLAG_E)

    def find(self, code: int, vendor: int = 0) -> Avp | None:
        for avp in self.avps:
            if avp.code == code and avp.vendor == vendor:
                return avp
        return None

    def find_all(self, code: int, vendor: int = 0) -> list[Avp]:
        return [avp for avp in self.avps if avp.code == code and avp.vendor == vendor]


def octets(code: int, value: bytes | str, vendor: int = 0, mandatory: bool = True) -> Avp:
    data = value.encode() if isinstance(value, str) else value
    return Avp(code, vendor, _flags(vendor, mandatory), data)


def unsigned32(code: int, value: int, vendor: int = 0, mandatory: bool = True) -> Avp:
    return Avp(code, vendor, _flags(vendor, mandatory), _U32.pack(value))


def grouped(code: int, children: tuple[Avp, ...], vendor: int = 0, mandatory: bool = True) -> Avp:
    return Avp(code, vendor, _flags(vendor, mandatory), b"", children)


def address(code: int, ip: str) -> Avp:
    """An Address AVP (RFC 6733 4.3.1): 2-octet address family (1 IPv4, 2 IPv6) + address."""
    import ipaddress

    parsed = ipaddress.ip_address(ip)
    family = b"\x00\x01" if parsed.version == 4 else b"\x00\x02"
    return Avp(code, 0, AVP_M, family + parsed.packed)


def _flags(vendor: int, mandatory: bool) -> int:
    return (AVP_V if vendor else 0) | (AVP_M if mandatory else 0)


def as_u32(avp: Avp) -> int:
    value: int = _U32.unpack(avp.data)[0]
    return value


_AVP_HEAD = struct.Struct(">II")
_AVP_HEAD_V = struct.Struct(">III")
_MSG_HEAD = struct.Struct(">IIIII")


def avp_bytes(avp: Avp) -> bytes:
    """One AVP's bytes with its padding, without pycrate: for building many requests quickly
    (the simulator). Tests hold it byte for byte to `eir.diameter.codec.encode_avp`."""
    data = avp.data if avp.group is None else b"".join(avp_bytes(c) for c in avp.group)
    flags = avp.flags & 0xFF
    if flags & AVP_V:
        head = _AVP_HEAD_V.pack(avp.code, flags << 24 | (12 + len(data)), avp.vendor)
    else:
        head = _AVP_HEAD.pack(avp.code, flags << 24 | (8 + len(data)))
    return head + data + bytes(-len(data) % 4)


def message_bytes(message: Message) -> bytes:
    """A whole message without pycrate (see `avp_bytes`); held to `codec.encode` by tests."""
    body = b"".join(avp_bytes(a) for a in message.avps)
    return (
        _MSG_HEAD.pack(
            message.version << 24 | (20 + len(body)),
            message.flags << 24 | message.code,
            message.app,
            message.hbh,
            message.e2e,
        )
        + body
    )


def answer_flags(request_flags: int, error: bool) -> int:
    """Answers copy the request's P bit, clear R and set E for protocol errors."""
    return (request_flags & FLAG_P) | (FLAG_E if error else 0)
