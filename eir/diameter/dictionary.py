"""Diameter numbers: commands, applications, AVP codes and types, result codes.

Sources: RFC 6733 (base protocol), 3GPP TS 29.272 section 7 (S13), TS 29.230 (3GPP AVP codes).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final, NamedTuple

VERSION: Final = 1
HEADER_LEN: Final = 20

# Command flags (RFC 6733 section 3).
FLAG_R: Final = 0x80
FLAG_P: Final = 0x40
FLAG_E: Final = 0x20
FLAG_T: Final = 0x10
FLAGS_RESERVED: Final = 0x0F

# AVP flags (RFC 6733 section 4.1).
AVP_V: Final = 0x80
AVP_M: Final = 0x40
AVP_P: Final = 0x20
AVP_RESERVED: Final = 0x1F

VENDOR_3GPP: Final = 10415
APP_COMMON: Final = 0
APP_S13: Final = 16777252
APP_RELAY: Final = 0xFFFFFFFF


class ApplicationId(NamedTuple):
    """An application as a CER/CEA advertises it (RFC 6733 6.11 Vendor-Specific-Application-Id):
    Supported-Vendor-Id, Auth-Application-Id and their Vendor-Specific-Application-Id."""

    name: str
    vendor_id: int
    auth_application_id: int


#: S13 (3GPP TS 29.272 clause 7.1.8): the application an EIR serves, and its MMEs ask for
S13: Final = ApplicationId("S13", VENDOR_3GPP, APP_S13)


class Command(IntEnum):
    CAPABILITIES_EXCHANGE = 257
    DEVICE_WATCHDOG = 280
    DISCONNECT_PEER = 282
    ME_IDENTITY_CHECK = 324


BASE_COMMANDS: Final = frozenset(
    {Command.CAPABILITIES_EXCHANGE, Command.DEVICE_WATCHDOG, Command.DISCONNECT_PEER}
)


class AvpCode(IntEnum):
    USER_NAME = 1
    PROXY_STATE = 33
    HOST_IP_ADDRESS = 257
    AUTH_APPLICATION_ID = 258
    ACCT_APPLICATION_ID = 259
    VENDOR_SPECIFIC_APPLICATION_ID = 260
    SESSION_ID = 263
    ORIGIN_HOST = 264
    SUPPORTED_VENDOR_ID = 265
    VENDOR_ID = 266
    FIRMWARE_REVISION = 267
    RESULT_CODE = 268
    PRODUCT_NAME = 269
    DISCONNECT_CAUSE = 273
    AUTH_SESSION_STATE = 277
    ORIGIN_STATE_ID = 278
    FAILED_AVP = 279
    PROXY_HOST = 280
    ERROR_MESSAGE = 281
    ROUTE_RECORD = 282
    DESTINATION_REALM = 283
    PROXY_INFO = 284
    INBAND_SECURITY_ID = 299
    DESTINATION_HOST = 293
    ERROR_REPORTING_HOST = 294
    ORIGIN_REALM = 296
    EXPERIMENTAL_RESULT = 297
    EXPERIMENTAL_RESULT_CODE = 298
    DRMP = 301
    # 3GPP, vendor 10415
    MSISDN = 701
    TERMINAL_INFORMATION = 1401
    IMEI = 1402
    SOFTWARE_VERSION = 1403
    EQUIPMENT_STATUS = 1445
    MEID_3GPP2 = 1471


class AvpType(IntEnum):
    OCTETS = 0
    UTF8 = 1
    IDENTITY = 2
    UNSIGNED32 = 3
    ENUMERATED = 4
    GROUPED = 5
    ADDRESS = 6


_B = 0
_G = VENDOR_3GPP
# (code, vendor) -> (name, type)
AVPS: Final[dict[tuple[int, int], tuple[str, AvpType]]] = {
    (AvpCode.USER_NAME, _B): ("User-Name", AvpType.UTF8),
    (AvpCode.PROXY_STATE, _B): ("Proxy-State", AvpType.OCTETS),
    (AvpCode.HOST_IP_ADDRESS, _B): ("Host-IP-Address", AvpType.ADDRESS),
    (AvpCode.AUTH_APPLICATION_ID, _B): ("Auth-Application-Id", AvpType.UNSIGNED32),
    (AvpCode.ACCT_APPLICATION_ID, _B): ("Acct-Application-Id", AvpType.UNSIGNED32),
    (AvpCode.VENDOR_SPECIFIC_APPLICATION_ID, _B): (
        "Vendor-Specific-Application-Id",
        AvpType.GROUPED,
    ),
    (AvpCode.SESSION_ID, _B): ("Session-Id", AvpType.UTF8),
    (AvpCode.ORIGIN_HOST, _B): ("Origin-Host", AvpType.IDENTITY),
    (AvpCode.SUPPORTED_VENDOR_ID, _B): ("Supported-Vendor-Id", AvpType.UNSIGNED32),
    (AvpCode.VENDOR_ID, _B): ("Vendor-Id", AvpType.UNSIGNED32),
    (AvpCode.FIRMWARE_REVISION, _B): ("Firmware-Revision", AvpType.UNSIGNED32),
    (AvpCode.RESULT_CODE, _B): ("Result-Code", AvpType.UNSIGNED32),
    (AvpCode.PRODUCT_NAME, _B): ("Product-Name", AvpType.UTF8),
    (AvpCode.DISCONNECT_CAUSE, _B): ("Disconnect-Cause", AvpType.ENUMERATED),
    (AvpCode.AUTH_SESSION_STATE, _B): ("Auth-Session-State", AvpType.ENUMERATED),
    (AvpCode.ORIGIN_STATE_ID, _B): ("Origin-State-Id", AvpType.UNSIGNED32),
    (AvpCode.FAILED_AVP, _B): ("Failed-AVP", AvpType.GROUPED),
    (AvpCode.PROXY_HOST, _B): ("Proxy-Host", AvpType.IDENTITY),
    (AvpCode.ERROR_MESSAGE, _B): ("Error-Message", AvpType.UTF8),
    (AvpCode.ROUTE_RECORD, _B): ("Route-Record", AvpType.IDENTITY),
    (AvpCode.DESTINATION_REALM, _B): ("Destination-Realm", AvpType.IDENTITY),
    (AvpCode.PROXY_INFO, _B): ("Proxy-Info", AvpType.GROUPED),
    (AvpCode.INBAND_SECURITY_ID, _B): ("Inband-Security-Id", AvpType.UNSIGNED32),
    (AvpCode.DESTINATION_HOST, _B): ("Destination-Host", AvpType.IDENTITY),
    (AvpCode.ERROR_REPORTING_HOST, _B): ("Error-Reporting-Host", AvpType.IDENTITY),
    (AvpCode.ORIGIN_REALM, _B): ("Origin-Realm", AvpType.IDENTITY),
    (AvpCode.EXPERIMENTAL_RESULT, _B): ("Experimental-Result", AvpType.GROUPED),
    (AvpCode.EXPERIMENTAL_RESULT_CODE, _B): ("Experimental-Result-Code", AvpType.UNSIGNED32),
    (AvpCode.DRMP, _B): ("DRMP", AvpType.ENUMERATED),
    # TS 29.329 6.3.2, sent in ECRs by some MMEs (outside the grammar, under its `*[ AVP ]`)
    (AvpCode.MSISDN, _G): ("MSISDN", AvpType.OCTETS),
    (AvpCode.TERMINAL_INFORMATION, _G): ("Terminal-Information", AvpType.GROUPED),
    (AvpCode.IMEI, _G): ("IMEI", AvpType.UTF8),
    (AvpCode.SOFTWARE_VERSION, _G): ("Software-Version", AvpType.UTF8),
    (AvpCode.EQUIPMENT_STATUS, _G): ("Equipment-Status", AvpType.ENUMERATED),
    (AvpCode.MEID_3GPP2, _G): ("3GPP2-MEID", AvpType.OCTETS),
}

GROUPED: Final = frozenset(key for key, (_, kind) in AVPS.items() if kind is AvpType.GROUPED)
FIXED_LENGTH: Final = {
    key: 4 for key, (_, kind) in AVPS.items() if kind in (AvpType.UNSIGNED32, AvpType.ENUMERATED)
}


class ResultCode(IntEnum):
    """Result-Code values (RFC 6733 section 7.1) and S13's experimental one (TS 29.272 7.4.3)."""

    DIAMETER_SUCCESS = 2001
    DIAMETER_COMMAND_UNSUPPORTED = 3001
    DIAMETER_UNABLE_TO_DELIVER = 3002
    DIAMETER_REALM_NOT_SERVED = 3003
    DIAMETER_TOO_BUSY = 3004
    DIAMETER_APPLICATION_UNSUPPORTED = 3007
    DIAMETER_INVALID_HDR_BITS = 3008
    DIAMETER_INVALID_AVP_BITS = 3009
    DIAMETER_UNKNOWN_PEER = 3010
    DIAMETER_ELECTION_LOST = 4003
    DIAMETER_AVP_UNSUPPORTED = 5001
    DIAMETER_INVALID_AVP_VALUE = 5004
    DIAMETER_MISSING_AVP = 5005
    DIAMETER_AVP_OCCURS_TOO_MANY_TIMES = 5009
    DIAMETER_NO_COMMON_APPLICATION = 5010
    DIAMETER_UNSUPPORTED_VERSION = 5011
    DIAMETER_UNABLE_TO_COMPLY = 5012
    DIAMETER_INVALID_AVP_LENGTH = 5014
    DIAMETER_INVALID_MESSAGE_LENGTH = 5015
    DIAMETER_ERROR_EQUIPMENT_UNKNOWN = 5422


EXPERIMENTAL_RESULTS: Final = frozenset({ResultCode.DIAMETER_ERROR_EQUIPMENT_UNKNOWN})


def is_protocol_error(code: int) -> bool:
    """3xxx answers are protocol errors: sent with the E bit, in the generic answer format."""
    return 3000 <= code < 4000


class DisconnectCause(IntEnum):
    REBOOTING = 0
    BUSY = 1
    DO_NOT_WANT_TO_TALK_TO_YOU = 2


class AuthSessionState(IntEnum):
    STATE_MAINTAINED = 0
    NO_STATE_MAINTAINED = 1


def avp_name(code: int, vendor: int) -> str:
    known = AVPS.get((code, vendor))
    if known is not None:
        return known[0]
    return f"AVP {code}" + (f" (vendor {vendor})" if vendor else "")
