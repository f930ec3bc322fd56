"""S13 ME-Identity-Check (3GPP TS 29.272 clause 5.3 and 7.2.19/7.2.20): ECR -> CheckRequest,
CheckResult -> ECA, and the error answers of RFC 6733 clause 7.

Two decoders extract the same `EcrFields`: `eir.diameter.fast.extract_ecr` for the common
well-formed ECR, and `interpret_ecr` here on pycrate's decoding for everything else. Both feed
`to_request`, which holds every value check, so the two paths cannot answer differently.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

from eir.diameter import codec
from eir.diameter.dictionary import (
    APP_S13,
    AVP_M,
    AVPS,
    FLAG_E,
    FLAG_P,
    VENDOR_3GPP,
    AuthSessionState,
    AvpCode,
    Command,
    ResultCode,
    avp_name,
    is_protocol_error,
)
from eir.diameter.errors import DiameterError
from eir.diameter.message import (
    Avp,
    Message,
    answer_flags,
    as_u32,
    grouped,
    message_bytes,
    octets,
    unsigned32,
)
from eir.identity import Imei, Imsi
from eir.model import CheckRequest, EquipmentStatus

_SINGLE = (
    AvpCode.SESSION_ID,
    AvpCode.AUTH_SESSION_STATE,
    AvpCode.ORIGIN_HOST,
    AvpCode.ORIGIN_REALM,
    AvpCode.DESTINATION_HOST,
    AvpCode.DESTINATION_REALM,
    AvpCode.USER_NAME,
    AvpCode.DRMP,
    AvpCode.VENDOR_SPECIFIC_APPLICATION_ID,
)
_REQUIRED = (
    AvpCode.SESSION_ID,
    AvpCode.AUTH_SESSION_STATE,
    AvpCode.ORIGIN_HOST,
    AvpCode.ORIGIN_REALM,
    AvpCode.DESTINATION_REALM,
)


class EcrFields(NamedTuple):
    """What an ECR says, as raw bytes; validated by `to_request`."""

    session_id: bytes
    origin_host: bytes
    origin_realm: bytes
    destination_realm: bytes
    imei: bytes | None
    software_version: bytes | None
    meid: bytes | None
    user_name: bytes | None
    auth_session_state: int
    proxy_info: tuple[Avp, ...]


@dataclass(frozen=True)
class LocalIdentity:
    """Who we are on Diameter, and which realms we serve (empty: any)."""

    origin_host: str = "eir.localdomain"
    origin_realm: str = "localdomain"
    realms: frozenset[str] = frozenset()
    vendor_id: int = 0
    product_name: str = "eir"
    firmware_revision: int = 100


def _example(code: int, vendor: int = 0) -> Avp:
    """A missing AVP as Failed-AVP wants it: right code and vendor, zeroed minimum value."""
    from eir.diameter.dictionary import FIXED_LENGTH

    if (code, vendor) == (AvpCode.IMEI, VENDOR_3GPP):
        data = b"0" * 14  # its minimum: 14 digits
    else:
        data = bytes(FIXED_LENGTH.get((code, vendor), 1))
    return Avp(code, vendor, AVP_M | (0x80 if vendor else 0), data)


def _session_id(msg: Message) -> bytes | None:
    avp = msg.find(AvpCode.SESSION_ID)
    return None if avp is None else avp.data


def interpret_ecr(msg: Message) -> EcrFields:
    """The slow path: an ECR decoded by pycrate -> EcrFields, or DiameterError."""
    seen: dict[int, Avp] = {}
    terminal: Avp | None = None
    for avp in msg.avps:
        key = (avp.code, avp.vendor)
        if key not in AVPS:
            if avp.flags & AVP_M:
                raise DiameterError(
                    ResultCode.DIAMETER_AVP_UNSUPPORTED,
                    f"{avp_name(avp.code, avp.vendor)} has the M bit and is not understood",
                    avp,
                )
            continue
        if avp.code == AvpCode.TERMINAL_INFORMATION and avp.vendor == VENDOR_3GPP:
            if terminal is not None:
                raise DiameterError(
                    ResultCode.DIAMETER_AVP_OCCURS_TOO_MANY_TIMES,
                    "Terminal-Information occurs twice",
                    avp,
                )
            terminal = avp
        elif avp.vendor == 0 and avp.code in _SINGLE:
            if avp.code in seen:
                raise DiameterError(
                    ResultCode.DIAMETER_AVP_OCCURS_TOO_MANY_TIMES,
                    f"{avp_name(avp.code, 0)} occurs twice",
                    avp,
                )
            seen[avp.code] = avp
    for code in _REQUIRED:
        if code not in seen:
            raise DiameterError(
                ResultCode.DIAMETER_MISSING_AVP, f"{avp_name(code, 0)} is missing", _example(code)
            )
    if terminal is None:
        raise DiameterError(
            ResultCode.DIAMETER_MISSING_AVP,
            "Terminal-Information is missing",
            grouped(AvpCode.TERMINAL_INFORMATION, (), VENDOR_3GPP),
        )
    imei = software_version = meid = None
    inner_seen: set[int] = set()
    for child in terminal.group or ():
        key = (child.code, child.vendor)
        if key not in AVPS:
            if child.flags & AVP_M:
                raise DiameterError(
                    ResultCode.DIAMETER_AVP_UNSUPPORTED,
                    f"{avp_name(child.code, child.vendor)} in Terminal-Information has the M "
                    "bit and is not understood",
                    terminal._replace(group=(child,)),
                )
            continue
        if child.vendor != VENDOR_3GPP or child.code not in (
            AvpCode.IMEI,
            AvpCode.SOFTWARE_VERSION,
            AvpCode.MEID_3GPP2,
        ):
            continue
        if child.code in inner_seen:
            raise DiameterError(
                ResultCode.DIAMETER_AVP_OCCURS_TOO_MANY_TIMES,
                f"{avp_name(child.code, child.vendor)} occurs twice in Terminal-Information",
                terminal._replace(group=(child,)),
            )
        inner_seen.add(child.code)
        if child.code == AvpCode.IMEI:
            imei = child.data
        elif child.code == AvpCode.SOFTWARE_VERSION:
            software_version = child.data
        else:
            meid = child.data
    state = as_u32(seen[AvpCode.AUTH_SESSION_STATE])
    user = seen.get(AvpCode.USER_NAME)
    return EcrFields(
        session_id=seen[AvpCode.SESSION_ID].data,
        origin_host=seen[AvpCode.ORIGIN_HOST].data,
        origin_realm=seen[AvpCode.ORIGIN_REALM].data,
        destination_realm=seen[AvpCode.DESTINATION_REALM].data,
        imei=imei,
        software_version=software_version,
        meid=meid,
        user_name=None if user is None else user.data,
        auth_session_state=state,
        proxy_info=tuple(msg.find_all(AvpCode.PROXY_INFO)),
    )


def _ti(child: Avp) -> Avp:
    return grouped(AvpCode.TERMINAL_INFORMATION, (child,), VENDOR_3GPP)


_IMEI_LENGTHS = (14, 15, 16)


def to_request(fields: EcrFields, local: LocalIdentity, peer: str) -> CheckRequest:
    """Every value check of an ECR: 3003, 5004, 5005. Returns the protocol-neutral request."""
    if local.realms and fields.destination_realm.lower().decode("ascii", "replace") not in (
        local.realms
    ):
        raise DiameterError(
            ResultCode.DIAMETER_REALM_NOT_SERVED,
            f"Destination-Realm {fields.destination_realm.decode('utf-8', 'replace')!r} "
            "is not served here",
        )
    if fields.auth_session_state not in (
        AuthSessionState.STATE_MAINTAINED,
        AuthSessionState.NO_STATE_MAINTAINED,
    ):
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_AVP_VALUE,
            f"Auth-Session-State {fields.auth_session_state} is not an enumerated value",
            unsigned32(AvpCode.AUTH_SESSION_STATE, fields.auth_session_state),
        )
    imsi = None
    user = fields.user_name
    if user is not None:
        if not (user.isdigit() and 6 <= len(user) <= 15):  # bytes.isdigit: ASCII digits only
            raise DiameterError(
                ResultCode.DIAMETER_INVALID_AVP_VALUE,
                "User-Name is not an IMSI of 6 to 15 digits",
                octets(AvpCode.USER_NAME, user),
            )
        imsi = Imsi.trusted(user.decode("ascii"))
    raw = fields.imei
    if raw is None:
        if fields.meid is not None:
            return _meid_request(fields.meid, imsi, peer)
        raise DiameterError(
            ResultCode.DIAMETER_MISSING_AVP,
            "Terminal-Information has neither IMEI nor 3GPP2-MEID",
            _ti(_example(AvpCode.IMEI, VENDOR_3GPP)),
        )
    if len(raw) not in _IMEI_LENGTHS or not raw.isdigit():
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_AVP_VALUE,
            "IMEI must be 14 to 16 decimal digits",
            _ti(octets(AvpCode.IMEI, raw, VENDOR_3GPP)),
        )
    text = raw.decode("ascii")
    sv = fields.software_version
    if sv is not None and (len(sv) != 2 or not sv.isdigit()):
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_AVP_VALUE,
            "Software-Version must be 2 decimal digits",
            _ti(octets(AvpCode.SOFTWARE_VERSION, sv, VENDOR_3GPP)),
        )
    # Checked above: ASCII digits, 14 to 16 of them (and 2 for Software-Version).
    n = len(text)
    if n == 14:
        imei = Imei.trusted(text, None, None if sv is None else sv.decode("ascii"))
    elif n == 15:
        imei = Imei.trusted(text[:14], text[14])
    else:
        imei = Imei.trusted(text[:14], None, text[14:])
    return CheckRequest(imei, imsi, "s13", peer)


def _meid_request(meid: bytes, imsi: Imsi | None, peer: str) -> CheckRequest:
    """A 3GPP2 MEID (56 bits: 14 hex digits, as 7 octets or as text). A MEID written in decimal
    digits is looked up under the same 14-digit key as an IMEI; any other is unknown."""
    if len(meid) == 7:
        digits = meid.hex().upper()
    elif len(meid) == 14 and all(c in b"0123456789abcdefABCDEF" for c in meid):
        digits = meid.decode("ascii").upper()
    else:
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_AVP_VALUE,
            "3GPP2-MEID must be 7 octets or 14 hexadecimal digits",
            _ti(octets(AvpCode.MEID_3GPP2, meid, VENDOR_3GPP)),
        )
    if digits.isdigit():
        return CheckRequest(Imei(digits), imsi, "s13", peer)
    raise MeidOnlyError(digits, imsi)


class MeidOnlyError(Exception):
    """A hexadecimal MEID: no list can hold it, the unknown-equipment answer applies."""

    def __init__(self, meid: str, imsi: Imsi | None) -> None:
        super().__init__(meid)
        self.meid = meid
        self.imsi = imsi


# --- answers --------------------------------------------------------------------------------

_HEAD = struct.Struct(">I I I I I")
_VERSION_1 = b"\x01"
# flags + command code + Application-Id of an ECA, with and without the P bit
_ECA_FLAGS_P = bytes([FLAG_P]) + (324).to_bytes(3, "big") + APP_S13.to_bytes(4, "big")
_ECA_FLAGS = b"\x00" + (324).to_bytes(3, "big") + APP_S13.to_bytes(4, "big")


class Answers:
    """Builds ECAs and error answers. The common ones come from templates encoded once by
    pycrate; the rest are encoded by pycrate on demand."""

    def __init__(self, local: LocalIdentity) -> None:
        self.local = local
        #: error answers sent, by Result-Code (3004 busy ones included)
        self.errors: Counter[int] = Counter()
        self._origin = (
            octets(AvpCode.ORIGIN_HOST, local.origin_host),
            octets(AvpCode.ORIGIN_REALM, local.origin_realm),
        )
        vsai = grouped(
            AvpCode.VENDOR_SPECIFIC_APPLICATION_ID,
            (
                unsigned32(AvpCode.VENDOR_ID, VENDOR_3GPP),
                unsigned32(AvpCode.AUTH_APPLICATION_ID, APP_S13),
            ),
        )
        self._vsai = vsai
        # Body after Session-Id, for each status (None = 5422 unknown equipment).
        self.bodies: dict[EquipmentStatus | None, bytes] = {}
        for status in (*EquipmentStatus, None):
            avps = self.eca_avps(status)
            self.bodies[status] = b"".join(codec.encode_avp(a) for a in avps)
        busy = self.error_avps(ResultCode.DIAMETER_TOO_BUSY, None, None)
        self.busy_body = b"".join(codec.encode_avp(a) for a in busy)

    def eca_avps(self, status: EquipmentStatus | None) -> tuple[Avp, ...]:
        """ECA AVPs after Session-Id, in TS 29.272 7.2.20's order."""
        state = unsigned32(AvpCode.AUTH_SESSION_STATE, AuthSessionState.NO_STATE_MAINTAINED)
        if status is None:
            result = grouped(
                AvpCode.EXPERIMENTAL_RESULT,
                (
                    unsigned32(AvpCode.VENDOR_ID, VENDOR_3GPP),
                    unsigned32(
                        AvpCode.EXPERIMENTAL_RESULT_CODE,
                        ResultCode.DIAMETER_ERROR_EQUIPMENT_UNKNOWN,
                    ),
                ),
            )
            return (self._vsai, result, state, *self._origin)
        return (
            self._vsai,
            unsigned32(AvpCode.RESULT_CODE, ResultCode.DIAMETER_SUCCESS),
            state,
            *self._origin,
            unsigned32(AvpCode.EQUIPMENT_STATUS, int(status), VENDOR_3GPP),
        )

    def error_avps(self, code: ResultCode, failed: Avp | None, text: str | None) -> tuple[Avp, ...]:
        """AVPs after Session-Id of an error answer: RFC 6733 7.2's answer-message for the
        protocol errors (3xxx), the ECA layout for the others."""
        extra: list[Avp] = []
        if text:
            extra.append(octets(AvpCode.ERROR_MESSAGE, text[:200], mandatory=False))
        if failed is not None:
            extra.append(grouped(AvpCode.FAILED_AVP, (failed,)))
        result = unsigned32(AvpCode.RESULT_CODE, code)
        if is_protocol_error(code):
            return (*self._origin, result, *extra)
        state = unsigned32(AvpCode.AUTH_SESSION_STATE, AuthSessionState.NO_STATE_MAINTAINED)
        return (self._vsai, result, state, *self._origin, *extra)

    def eca(self, request: bytes, session_avp: bytes, status: EquipmentStatus | None) -> bytes:
        """Template ECA: the request's ids and Session-Id AVP, a pre-encoded body."""
        body = self.bodies[status]
        length = 20 + len(session_avp) + len(body)
        flags = _ECA_FLAGS_P if request[4] & FLAG_P else _ECA_FLAGS
        return b"".join(
            (_VERSION_1, length.to_bytes(3, "big"), flags, request[12:20], session_avp, body)
        )

    def busy(self, request: bytes, session_avp: bytes) -> bytes:
        """3004 DIAMETER_TOO_BUSY from a template: cheap on purpose, it is sent under load."""
        self.errors[ResultCode.DIAMETER_TOO_BUSY] += 1
        length = 20 + len(session_avp) + len(self.busy_body)
        head = _HEAD.pack(
            0x01000000 | length,
            (((request[4] & FLAG_P) | FLAG_E) << 24) | int.from_bytes(request[5:8], "big"),
            int.from_bytes(request[8:12], "big"),
            int.from_bytes(request[12:16], "big"),
            int.from_bytes(request[16:20], "big"),
        )
        return head + session_avp + self.busy_body

    def answer_message(
        self,
        request: Message,
        avps: tuple[Avp, ...],
        session_id: bytes | None,
        proxy_info: tuple[Avp, ...],
        error: bool,
    ) -> Message:
        session = () if session_id is None else (octets(AvpCode.SESSION_ID, session_id),)
        return Message(
            request.code,
            request.app,
            answer_flags(request.flags, error),
            request.hbh,
            request.e2e,
            (*session, *avps, *proxy_info),
        )

    def error(
        self,
        request: Message,
        err: DiameterError,
        session_id: bytes | None,
        proxy_info: tuple[Avp, ...] = (),
    ) -> bytes:
        self.errors[err.result_code] += 1
        avps = self.error_avps(err.result_code, err.failed, err.text)
        msg = self.answer_message(
            request, avps, session_id, proxy_info, is_protocol_error(err.result_code)
        )
        return message_bytes(msg)

    def eca_slow(
        self, request: Message, fields: EcrFields, status: EquipmentStatus | None
    ) -> bytes:
        msg = self.answer_message(
            request, self.eca_avps(status), fields.session_id, fields.proxy_info, False
        )
        # Not pycrate: it needs about 0.25 ms per AVP, and the Proxy-Info echoed can hold
        # hundreds (up to wire.MAX_AVPS). `message_bytes` is held byte for byte to it by tests.
        return message_bytes(msg)


def header_only(buf: bytes) -> Message:
    """A Message carrying only the header fields of `buf` (for answering what cannot be
    decoded)."""
    from eir.diameter.wire import parse_header

    h = parse_header(buf)
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


def ecr(
    *,
    session_id: str,
    origin_host: str,
    origin_realm: str,
    destination_realm: str,
    imei: str | None,
    software_version: str | None = None,
    imsi: str | None = None,
    hbh: int = 1,
    e2e: int = 1,
    meid: bytes | None = None,
    extra: tuple[Avp, ...] = (),
) -> Message:
    """An ECR as an MME sends it (TS 29.272 7.2.19), for clients, tests and the simulator."""
    terminal: list[Avp] = []
    if imei is not None:
        terminal.append(octets(AvpCode.IMEI, imei, VENDOR_3GPP))
    if software_version is not None:
        terminal.append(octets(AvpCode.SOFTWARE_VERSION, software_version, VENDOR_3GPP))
    if meid is not None:
        terminal.append(octets(AvpCode.MEID_3GPP2, meid, VENDOR_3GPP))
    avps: list[Avp] = [
        octets(AvpCode.SESSION_ID, session_id),
        grouped(
            AvpCode.VENDOR_SPECIFIC_APPLICATION_ID,
            (
                unsigned32(AvpCode.VENDOR_ID, VENDOR_3GPP),
                unsigned32(AvpCode.AUTH_APPLICATION_ID, APP_S13),
            ),
        ),
        unsigned32(AvpCode.AUTH_SESSION_STATE, AuthSessionState.NO_STATE_MAINTAINED),
        octets(AvpCode.ORIGIN_HOST, origin_host),
        octets(AvpCode.ORIGIN_REALM, origin_realm),
        octets(AvpCode.DESTINATION_REALM, destination_realm),
        grouped(AvpCode.TERMINAL_INFORMATION, tuple(terminal), VENDOR_3GPP),
    ]
    if imsi is not None:
        avps.append(octets(AvpCode.USER_NAME, imsi))
    avps.extend(extra)
    from eir.diameter.dictionary import FLAG_R

    return Message(Command.ME_IDENTITY_CHECK, APP_S13, FLAG_R | FLAG_P, hbh, e2e, tuple(avps))


class EcaView(NamedTuple):
    """What a client reads in an ECA."""

    result_code: int | None
    experimental_result: int | None
    equipment_status: EquipmentStatus | None
    session_id: bytes | None


def read_eca(msg: Message) -> EcaView:
    result = msg.find(AvpCode.RESULT_CODE)
    status = msg.find(AvpCode.EQUIPMENT_STATUS, VENDOR_3GPP)
    experimental = None
    group = msg.find(AvpCode.EXPERIMENTAL_RESULT)
    if group is not None:
        inner = group.find(AvpCode.EXPERIMENTAL_RESULT_CODE)
        if inner is not None and len(inner.data) == 4:
            experimental = as_u32(inner)
    return EcaView(
        None if result is None or len(result.data) != 4 else as_u32(result),
        experimental,
        None if status is None or len(status.data) != 4 else EquipmentStatus(as_u32(status)),
        _session_id(msg),
    )
