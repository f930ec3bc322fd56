"""Plain Diameter values: a message is a header plus a tuple of AVPs (RFC 6733 sections 3, 4).

These are what the rest of the daemon handles; `eir.diameter.wire` turns them into bytes and
back (checking the framing), `eir.diameter.codec` does the same through pycrate (the reference).
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


def answer_flags(request_flags: int, error: bool) -> int:
    """Answers copy the request's P bit, clear R and set E for protocol errors."""
    return (request_flags & FLAG_P) | (FLAG_E if error else 0)
