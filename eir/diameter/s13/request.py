"""An ECR's request (3GPP TS 29.272 clause 7.2.19): what it says (`EcrFields`), and every value
check that turns it into the protocol-neutral `CheckRequest` (clause 5.3.2.1; RFC 6733 7.1 for
the Result-Codes).

Two readers produce the same `EcrFields`: `eir.diameter.s13.scan.scan_ecr` for the common
well-formed ECR, and `decode_ecr` here on the decoded Message for everything else. Both feed
`to_request`, which holds every value check, so the two paths cannot answer differently.
"""

from __future__ import annotations

from typing import NamedTuple

from eir.diameter.dictionary import (
    AVP_M,
    AVPS,
    FIXED_LENGTH,
    VENDOR_3GPP,
    AuthSessionState,
    AvpCode,
    ResultCode,
    avp_name,
)
from eir.diameter.errors import DiameterError
from eir.diameter.message import Avp, Message, as_u32, grouped, octets, unsigned32
from eir.diameter.node import NodeIdentity
from eir.diameter.results import PROTOCOL
from eir.identity import Imei, Imsi
from eir.model import CheckRequest

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
#: what Terminal-Information carries that S13 reads (vendor 3GPP)
_TERMINAL = (AvpCode.IMEI, AvpCode.SOFTWARE_VERSION, AvpCode.MEID_3GPP2)


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


def _example(code: int, vendor: int = 0) -> Avp:
    """A missing AVP as Failed-AVP wants it: right code and vendor, zeroed minimum value."""
    if (code, vendor) == (AvpCode.IMEI, VENDOR_3GPP):
        data = b"0" * 14  # its minimum: 14 digits
    else:
        data = bytes(FIXED_LENGTH.get((code, vendor), 1))
    return Avp(code, vendor, AVP_M | (0x80 if vendor else 0), data)


def decode_ecr(msg: Message) -> EcrFields:
    """The complete reader: an ECR as a decoded Message -> EcrFields, or DiameterError (5001,
    5005, 5009) for what its grammar (TS 29.272 7.2.19) does not allow."""
    seen, terminal = _top_level(msg)
    for code in _REQUIRED:
        if code not in seen:
            raise DiameterError(
                ResultCode.DIAMETER_MISSING_AVP, f"{avp_name(code, 0)} is missing", _example(code)
            )
    if terminal is None:
        raise DiameterError(
            ResultCode.DIAMETER_MISSING_AVP, "Terminal-Information is missing", missing_terminal()
        )
    inner = _terminal_values(terminal)
    user = seen.get(AvpCode.USER_NAME)
    return EcrFields(
        session_id=seen[AvpCode.SESSION_ID].data,
        origin_host=seen[AvpCode.ORIGIN_HOST].data,
        origin_realm=seen[AvpCode.ORIGIN_REALM].data,
        destination_realm=seen[AvpCode.DESTINATION_REALM].data,
        imei=inner.get(AvpCode.IMEI),
        software_version=inner.get(AvpCode.SOFTWARE_VERSION),
        meid=inner.get(AvpCode.MEID_3GPP2),
        user_name=None if user is None else user.data,
        auth_session_state=as_u32(seen[AvpCode.AUTH_SESSION_STATE]),
        proxy_info=tuple(msg.find_all(AvpCode.PROXY_INFO)),
    )


def _top_level(msg: Message) -> tuple[dict[int, Avp], Avp | None]:
    """The single top-level AVPs by code, and Terminal-Information; 5001 for an AVP with the M
    bit that is not understood, 5009 for one that occurs twice."""
    seen: dict[int, Avp] = {}
    terminal: Avp | None = None
    for avp in msg.avps:
        if (avp.code, avp.vendor) not in AVPS:
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
    return seen, terminal


def _terminal_values(terminal: Avp) -> dict[int, bytes]:
    """IMEI, Software-Version and 3GPP2-MEID in Terminal-Information, by code; 5001 and 5009
    name the child inside a Terminal-Information shell."""
    values: dict[int, bytes] = {}
    for child in terminal.group or ():
        if (child.code, child.vendor) not in AVPS:
            if child.flags & AVP_M:
                raise DiameterError(
                    ResultCode.DIAMETER_AVP_UNSUPPORTED,
                    f"{avp_name(child.code, child.vendor)} in Terminal-Information has the M "
                    "bit and is not understood",
                    terminal._replace(group=(child,)),
                )
            continue
        if child.vendor != VENDOR_3GPP or child.code not in _TERMINAL:
            continue
        if child.code in values:
            raise DiameterError(
                ResultCode.DIAMETER_AVP_OCCURS_TOO_MANY_TIMES,
                f"{avp_name(child.code, child.vendor)} occurs twice in Terminal-Information",
                terminal._replace(group=(child,)),
            )
        values[child.code] = child.data
    return values


def _ti(child: Avp) -> Avp:
    return grouped(AvpCode.TERMINAL_INFORMATION, (child,), VENDOR_3GPP)


def missing_terminal() -> Avp:
    """Failed-AVP's content for a missing Terminal-Information, or one with neither IMEI nor
    3GPP2-MEID (RFC 6733 7.5: the missing AVP's code and vendor, "a zero filled payload of the
    minimum required length"). Every member of the Grouped AVP is optional in its grammar
    (TS 29.272 7.3.3), but S13 requires the IMEI (or the 3GPP2-MEID) in it (clause 5.3.2.1):
    its minimum is a Terminal-Information holding an IMEI of 14 zero digits. An empty one would
    read as "Data is empty" in Wireshark."""
    return _ti(_example(AvpCode.IMEI, VENDOR_3GPP))


_IMEI_LENGTHS = (14, 15, 16)


def to_request(fields: EcrFields, local: NodeIdentity, peer: str) -> CheckRequest:
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
        return _meid_request(fields.meid, imsi, peer)
    sv = fields.software_version
    if (
        len(raw) not in _IMEI_LENGTHS
        or not raw.isdigit()
        or (sv is not None and (len(sv) != 2 or not sv.isdigit()))
    ):
        _invalid_terminal(raw, sv)
    # Checked above: ASCII digits, 14 to 16 of them (and 2 for Software-Version).
    text = raw.decode("ascii")
    n = len(text)
    if n == 14:
        imei = Imei.trusted(text, None, None if sv is None else sv.decode("ascii"))
    elif n == 15:
        imei = Imei.trusted(text[:14], text[14])
    else:
        imei = Imei.trusted(text[:14], None, text[14:])
    return CheckRequest(imei, imsi, PROTOCOL, peer)


def _invalid_terminal(raw: bytes, sv: bytes | None) -> None:
    """5004 for the IMEI (checked first) or the Software-Version; returns if both are valid."""
    if len(raw) not in _IMEI_LENGTHS or not raw.isdigit():
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_AVP_VALUE,
            "IMEI must be 14 to 16 decimal digits",
            _ti(octets(AvpCode.IMEI, raw, VENDOR_3GPP)),
        )
    if sv is not None and (len(sv) != 2 or not sv.isdigit()):
        raise DiameterError(
            ResultCode.DIAMETER_INVALID_AVP_VALUE,
            "Software-Version must be 2 decimal digits",
            _ti(octets(AvpCode.SOFTWARE_VERSION, sv, VENDOR_3GPP)),
        )


def _meid_request(meid: bytes | None, imsi: Imsi | None, peer: str) -> CheckRequest:
    """An ECR without IMEI: a 3GPP2 MEID (56 bits: 14 hex digits, as 7 octets or as text), or
    5005. A MEID written in decimal digits is looked up under the same 14-digit key as an IMEI;
    any other is unknown (`MeidOnlyError`)."""
    if meid is None:
        raise DiameterError(
            ResultCode.DIAMETER_MISSING_AVP,
            "Terminal-Information has neither IMEI nor 3GPP2-MEID",
            missing_terminal(),
        )
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
        return CheckRequest(Imei(digits), imsi, PROTOCOL, peer)
    raise MeidOnlyError(digits, imsi)


class MeidOnlyError(Exception):
    """A hexadecimal MEID: no list can hold it, the unknown-equipment answer applies."""

    def __init__(self, meid: str, imsi: Imsi | None) -> None:
        super().__init__(meid)
        self.meid = meid
        self.imsi = imsi
