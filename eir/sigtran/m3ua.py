"""M3UA messages (RFC 4666 section 3): numbers, bounds-checked framing, pycrate as codec of record.
The ASP state machine that exchanges them is `eir.sigtran.m3ua_asp`.

The answer path reads a DATA with `scan_data` (its Protocol Data, Routing Context and Network
Appearance in one pass; None for any other shape) and writes one with `encode_data`.

The state machine's codec is plain struct: `decode` walks the parameters `check_message` has
bounds-checked and keeps each value raw (the state machine checks the length of every value it
reads), `encode` packs header and parameters. pycrate takes 0.2-0.7 ms per message either way,
and a peer may send 8,000 messages in one read (each rejected one answered with an ERR, each
BEAT with a BEAT-ACK). pycrate stays the codec of record: the tests hold `encode` byte for byte
to `encode_pycrate`, and `decode` to `decode_pycrate` on well-formed messages.

pycrate 0.8.1 declares Network Appearance as 8 bits (RFC 4666 3.3.1 says 32), and a DATA with
one then loses its Protocol Data silently. `patch_pycrate()` registers a 32-bit parameter in
pycrate's dispatcher at import time; pycrate itself is never edited.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

from pycrate_core.base import Uint32
from pycrate_mobile import M3UA as _pm  # noqa: N811  (the module is named M3UA)

VERSION = 1
HEADER_LEN = 8


class MsgClass(enum.IntEnum):
    MGMT = 0
    TRANSFER = 1
    SSNM = 2
    ASPSM = 3
    ASPTM = 4
    RKM = 9


class MsgType(NamedTuple):
    cls: int
    type: int


ERR = MsgType(0, 0)
NTFY = MsgType(0, 1)
DATA = MsgType(1, 1)
DUNA = MsgType(2, 1)
DAVA = MsgType(2, 2)
DAUD = MsgType(2, 3)
ASPUP = MsgType(3, 1)
ASPDN = MsgType(3, 2)
BEAT = MsgType(3, 3)
ASPUP_ACK = MsgType(3, 4)
ASPDN_ACK = MsgType(3, 5)
BEAT_ACK = MsgType(3, 6)
ASPAC = MsgType(4, 1)
ASPIA = MsgType(4, 2)
ASPAC_ACK = MsgType(4, 3)
ASPIA_ACK = MsgType(4, 4)

NAMES = {
    ERR: "ERR",
    NTFY: "NTFY",
    DATA: "DATA",
    DUNA: "DUNA",
    DAVA: "DAVA",
    DAUD: "DAUD",
    ASPUP: "ASPUP",
    ASPDN: "ASPDN",
    BEAT: "BEAT",
    ASPUP_ACK: "ASPUP-ACK",
    ASPDN_ACK: "ASPDN-ACK",
    BEAT_ACK: "BEAT-ACK",
    ASPAC: "ASPAC",
    ASPIA: "ASPIA",
    ASPAC_ACK: "ASPAC-ACK",
    ASPIA_ACK: "ASPIA-ACK",
}


class Tag(enum.IntEnum):
    INFO_STRING = 0x0004
    ROUTING_CONTEXT = 0x0006
    DIAGNOSTIC_INFO = 0x0007
    HEARTBEAT_DATA = 0x0009
    TRAFFIC_MODE_TYPE = 0x000B
    ERROR_CODE = 0x000C
    STATUS = 0x000D
    ASP_IDENTIFIER = 0x0011
    AFFECTED_POINT_CODE = 0x0012
    CORRELATION_ID = 0x0013
    NETWORK_APPEARANCE = 0x0200
    PROTOCOL_DATA = 0x0210


class ErrorCode(enum.IntEnum):
    """RFC 4666 3.8.1."""

    INVALID_VERSION = 0x01
    UNSUPPORTED_MESSAGE_CLASS = 0x03
    UNSUPPORTED_MESSAGE_TYPE = 0x04
    UNSUPPORTED_TRAFFIC_MODE_TYPE = 0x05
    UNEXPECTED_MESSAGE = 0x06
    PROTOCOL_ERROR = 0x07
    INVALID_STREAM_IDENTIFIER = 0x09
    REFUSED_MANAGEMENT_BLOCKING = 0x0D
    ASP_IDENTIFIER_REQUIRED = 0x0E
    INVALID_ASP_IDENTIFIER = 0x0F
    INVALID_PARAMETER_VALUE = 0x11
    PARAMETER_FIELD_ERROR = 0x12
    UNEXPECTED_PARAMETER = 0x13
    DESTINATION_STATUS_UNKNOWN = 0x14
    INVALID_NETWORK_APPEARANCE = 0x15
    MISSING_PARAMETER = 0x16
    INVALID_ROUTING_CONTEXT = 0x19
    NO_CONFIGURED_AS_FOR_ASP = 0x1A


class TrafficMode(enum.IntEnum):
    OVERRIDE = 1
    LOADSHARE = 2
    BROADCAST = 3


# NTFY Status (RFC 4666 3.8.2): (type, information)
STATUS_AS_INACTIVE = (1, 2)
STATUS_AS_ACTIVE = (1, 3)
STATUS_AS_PENDING = (1, 4)
STATUS_ALTERNATE_ASP_ACTIVE = (2, 2)

_KNOWN_CLASSES = {0, 1, 2, 3, 4, 9}

#: Parameters one message may carry. The richest message we take (DATA: Network Appearance,
#: Routing Context, Protocol Data, Correlation Id) has four; more is a flood, answered ERR
#: "Protocol Error" before pycrate decodes anything.
MAX_PARAMETERS = 16


class Work:
    """Parameters visited by `check_message` and `scan_data` (read by the fuzz tests,
    which hold it to a bound linear in the message length)."""

    parameters = 0
    #: messages whose header `check_message` read
    messages = 0


class M3uaError(Exception):
    """A message we answer with ERR carrying `code` (and the offending bytes as diagnostic).

    RFC 4666 3.8.1: an "Invalid Routing Context" ERR carries the invalid contexts in its Routing
    Context parameter (`rc`), an "Invalid Network Appearance" ERR the Network Appearance (`na`).
    """

    def __init__(
        self,
        code: ErrorCode,
        text: str,
        diagnostic: bytes = b"",
        rc: tuple[int, ...] = (),
        na: int | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {text}")
        self.code = code
        self.text = text
        self.diagnostic = diagnostic
        self.rc = rc
        self.na = na


class Message(NamedTuple):
    """An M3UA message: class, type and its parameters (tag, raw value), in order."""

    kind: MsgType
    params: tuple[tuple[int, bytes], ...] = ()

    def get(self, tag: int) -> bytes | None:
        for t, value in self.params:
            if t == tag:
                return value
        return None

    def u32(self, tag: int) -> int | None:
        value = self.get(tag)
        if value is None:
            return None
        if len(value) != 4:
            raise M3uaError(
                ErrorCode.PARAMETER_FIELD_ERROR,
                f"parameter 0x{tag:04x} has {len(value)} bytes, not 4",
            )
        return int.from_bytes(value, "big")

    def u32_list(self, tag: int) -> tuple[int, ...] | None:
        value = self.get(tag)
        if value is None:
            return None
        if not value or len(value) % 4:
            raise M3uaError(
                ErrorCode.PARAMETER_FIELD_ERROR,
                f"parameter 0x{tag:04x} has {len(value)} bytes, not 4 x n",
            )
        return tuple(int.from_bytes(value[i : i + 4], "big") for i in range(0, len(value), 4))


class ProtocolData(NamedTuple):
    """RFC 4666 3.3.1: the MTP3 routing label and the user data (SCCP, for SI 3)."""

    opc: int
    dpc: int
    si: int
    ni: int
    mp: int
    sls: int
    data: bytes

    def pack(self) -> bytes:
        return _PD.pack(self.opc, self.dpc, self.si, self.ni, self.mp, self.sls) + self.data

    @classmethod
    def unpack(cls, value: bytes) -> ProtocolData:
        if len(value) < 12:
            raise M3uaError(
                ErrorCode.PARAMETER_FIELD_ERROR,
                f"Protocol Data of {len(value)} bytes is shorter than 12",
            )
        opc, dpc, si, ni, mp, sls = _PD.unpack_from(value)
        return cls(opc, dpc, si, ni, mp, sls, value[12:])


_PD = struct.Struct(">IIBBBB")
_HEAD = struct.Struct(">BBBBI")
_PARAM = struct.Struct(">HH")


def patch_pycrate() -> None:
    """Network Appearance is 32 bits (RFC 4666 3.3.1), not pycrate 0.8.1's 8."""
    if getattr(_pm.M3UAPrmDispatcher.get(_pm.M3UATag.NetworkAppearance), "_eir_patched", False):
        return

    class NetworkAppearance32(Uint32):  # type: ignore[misc]
        _Tag = _pm.M3UATag.NetworkAppearance
        _eir_patched = True

    _pm.M3UAPrmDispatcher[_pm.M3UATag.NetworkAppearance] = NetworkAppearance32


patch_pycrate()


def check_message(buf: bytes) -> MsgType:
    """Header and parameter layout (RFC 4666 3.1, 3.2): raises M3uaError for ERR."""
    return _walk(buf)[0]


def _walk(buf: bytes) -> tuple[MsgType, tuple[tuple[int, bytes], ...]]:
    """`check_message`, returning the parameters (tag, value without padding) too."""
    Work.messages += 1
    if len(buf) < HEADER_LEN:
        raise M3uaError(ErrorCode.PROTOCOL_ERROR, "shorter than the common header", buf)
    version, _reserved, cls, typ, length = _HEAD.unpack_from(buf)
    if version != VERSION:
        raise M3uaError(ErrorCode.INVALID_VERSION, f"version {version}, not 1", buf[:8])
    if length != len(buf) or length % 4:
        raise M3uaError(ErrorCode.PROTOCOL_ERROR, f"length {length} for {len(buf)} bytes", buf[:8])
    if cls not in _KNOWN_CLASSES:
        raise M3uaError(ErrorCode.UNSUPPORTED_MESSAGE_CLASS, f"message class {cls}", buf[:8])
    kind = MsgType(cls, typ)
    if (cls, typ) not in _pm.M3UAMsgDispatcher:
        raise M3uaError(ErrorCode.UNSUPPORTED_MESSAGE_TYPE, f"message type {cls}/{typ}", buf[:8])
    return kind, _parameters(buf, length)


def _parameters(buf: bytes, length: int) -> tuple[tuple[int, bytes], ...]:
    """Each parameter (RFC 4666 3.2) as (tag, value without padding), bounds-checked."""
    pos = HEADER_LEN
    count = 0
    params = []
    while pos < length:
        count += 1
        Work.parameters += 1
        if count > MAX_PARAMETERS:
            raise M3uaError(
                ErrorCode.PROTOCOL_ERROR, f"more than {MAX_PARAMETERS} parameters", buf[:8]
            )
        if length - pos < 4:
            raise M3uaError(
                ErrorCode.PARAMETER_FIELD_ERROR, "a truncated parameter header", buf[:8]
            )
        tag, plen = struct.unpack_from(">HH", buf, pos)
        if plen < 4 or pos + plen > length:
            raise M3uaError(
                ErrorCode.PARAMETER_FIELD_ERROR,
                f"parameter 0x{tag:04x} length {plen} does not fit",
                buf[:8],
            )
        params.append((tag, buf[pos + 4 : pos + plen]))
        pos += (plen + 3) & ~3
        if pos > length:
            raise M3uaError(
                ErrorCode.PARAMETER_FIELD_ERROR,
                f"parameter 0x{tag:04x} padding runs past the end",
                buf[:8],
            )
    return tuple(params)


def decode(buf: bytes) -> Message:
    """Check, then take each parameter's value as it is (no pycrate: see the module's
    docstring)."""
    kind, params = _walk(buf)
    return Message(kind, params)


def decode_pycrate(buf: bytes) -> Message:
    """Check, then decode with pycrate into plain values (the reference `decode` is tested
    against)."""
    kind = check_message(buf)
    msg = _pm.M3UAMsgDispatcher[(kind.cls, kind.type)]()
    try:
        msg.from_bytes(buf)
    except Exception:  # noqa: BLE001  (pycrate raises any type on bad bytes: retry laxly)
        _pm.Params.VERIF_MAND = False  # pycrate's own switch: decode what is there
        try:
            msg = msg.__class__()
            msg.from_bytes(buf)
        except Exception as exc:  # noqa: BLE001  (any pycrate failure is this ERR)
            raise M3uaError(ErrorCode.PROTOCOL_ERROR, f"undecodable: {exc}", buf[:8]) from None
        finally:
            _pm.Params.VERIF_MAND = True
    params = tuple((int(p[0].get_val()), p[2].to_bytes()) for p in msg[1])
    return Message(kind, params)


def encode(message: Message) -> bytes:
    """RFC 4666 3.1-3.2 with struct: version 1, reserved 0, class, type, 32-bit length, then each
    parameter as tag, length (4 + value) and value padded to 4 bytes. The tests hold it to
    `encode_pycrate` byte for byte."""
    parts = []
    for tag, value in message.params:
        plen = 4 + len(value)
        parts.append(_PARAM.pack(tag, plen) + value + bytes(-plen % 4))
    payload = b"".join(parts)
    return (
        _HEAD.pack(VERSION, 0, message.kind.cls, message.kind.type, HEADER_LEN + len(payload))
        + payload
    )


def encode_pycrate(message: Message) -> bytes:
    """Encode with pycrate (the reference `encode` is tested against): parameters as raw values,
    lengths and padding by pycrate."""
    cls = _pm.M3UAMsgDispatcher[(message.kind.cls, message.kind.type)]
    msg = cls()
    msg[1].set_val([{"Tag": tag, "Val": value} for tag, value in message.params])
    out: bytes = msg.to_bytes()
    return out


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def err(
    code: ErrorCode, diagnostic: bytes = b"", rc: tuple[int, ...] = (), na: int | None = None
) -> Message:
    """ERR (RFC 4666 3.8.1): Error Code, then Routing Context (the invalid contexts), Network
    Appearance, Diagnostic Information (the first 64 bytes of the offending message), in that
    order."""
    params: list[tuple[int, bytes]] = [(Tag.ERROR_CODE, u32(code))]
    if rc:
        params.append((Tag.ROUTING_CONTEXT, b"".join(u32(r) for r in rc)))
    if na is not None:
        params.append((Tag.NETWORK_APPEARANCE, u32(na)))
    if diagnostic:
        params.append((Tag.DIAGNOSTIC_INFO, diagnostic[:64]))
    return Message(ERR, tuple(params))


def ntfy(status: tuple[int, int], rc: tuple[int, ...] = (), asp_id: int | None = None) -> Message:
    params: list[tuple[int, bytes]] = [(Tag.STATUS, struct.pack(">HH", *status))]
    if asp_id is not None:
        params.append((Tag.ASP_IDENTIFIER, u32(asp_id)))
    if rc:
        params.append((Tag.ROUTING_CONTEXT, b"".join(u32(r) for r in rc)))
    return Message(NTFY, tuple(params))


def data(pd: ProtocolData, rc: int | None = None, na: int | None = None) -> Message:
    params: list[tuple[int, bytes]] = []
    if na is not None:
        params.append((Tag.NETWORK_APPEARANCE, u32(na)))
    if rc is not None:
        params.append((Tag.ROUTING_CONTEXT, u32(rc)))
    params.append((Tag.PROTOCOL_DATA, pd.pack()))
    return Message(DATA, tuple(params))


def encode_data(pd: ProtocolData, rc: int | None = None, na: int | None = None) -> bytes:
    """`encode(data(pd, rc, na))` without building a Message (the answer path); tests hold it
    to `encode_pycrate(data(...))`."""
    parts = []
    if na is not None:
        parts.append(b"\x02\x00\x00\x08" + u32(na))
    if rc is not None:
        parts.append(b"\x00\x06\x00\x08" + u32(rc))
    body = pd.pack()
    plen = 4 + len(body)
    parts.append(struct.pack(">HH", Tag.PROTOCOL_DATA, plen) + body + bytes(-plen % 4))
    payload = b"".join(parts)
    return _HEAD.pack(VERSION, 0, 1, 1, HEADER_LEN + len(payload)) + payload


def describe(kind: MsgType) -> str:
    return NAMES.get(kind, f"class {kind.cls} type {kind.type}")


#: what `scan_data` reads of a DATA: (Protocol Data, Routing Context, Network Appearance)
DataScan = tuple[ProtocolData, int | None, int | None]


def scan_data(buf: bytes) -> DataScan | None:
    """A well-formed DATA (RFC 4666 3.3.1) read in one pass: (Protocol Data, Routing Context,
    Network Appearance), or None for anything else (then `decode` reads it and says what is
    wrong)."""
    n = len(buf)
    if n < 8 or buf[0] != 1 or buf[2] != 1 or buf[3] != 1 or int.from_bytes(buf[4:8], "big") != n:
        return None
    pos = 8
    pd = rc = na = None
    count = 0
    while pos < n:
        count += 1
        Work.parameters += 1
        if n - pos < 4 or count > MAX_PARAMETERS:
            return None
        tag = buf[pos] << 8 | buf[pos + 1]
        length = buf[pos + 2] << 8 | buf[pos + 3]
        end = pos + length
        if length < 4 or end > n:
            return None
        if tag == Tag.PROTOCOL_DATA and pd is None and length >= 16:
            opc, dpc, si, ni, mp, sls = _PD.unpack_from(buf, pos + 4)
            pd = ProtocolData(opc, dpc, si, ni, mp, sls, buf[pos + 16 : end])
        elif tag == Tag.ROUTING_CONTEXT and rc is None and length == 8:
            rc = int.from_bytes(buf[pos + 4 : end], "big")
        elif tag == Tag.NETWORK_APPEARANCE and na is None and length == 8:
            na = int.from_bytes(buf[pos + 4 : end], "big")
        elif tag == Tag.CORRELATION_ID and length == 8:
            pass
        else:
            return None
        pos = (end + 3) & ~3
    if pd is None or pos != n:
        return None
    return pd, rc, na
