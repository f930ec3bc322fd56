"""MAP CheckIMEI (3GPP TS 29.002, operation 43, equipmentMngtContext v1, v2, v3): argument in,
result or MAP error out. The TCAP dialogue around it is `eir.sigtran.tcap`."""

from __future__ import annotations

import enum
from typing import Any

from eir.errors import IdentityError
from eir.identity import Imei
from eir.model import EquipmentStatus

OPCODE = 43
#: equipmentMngtContext-vN ::= {itu-t(0) identified-organization(4) etsi(0) mobileDomain(0)
#: gsm-Network(1) applicationContext(0) equipmentMngtContext(13) version(N)}
ACN_PREFIX = (0, 4, 0, 0, 1, 0, 13)
VERSIONS = (1, 2, 3)
HIGHEST = 3

STATUS_NAMES = {
    EquipmentStatus.WHITELISTED: "whiteListed",
    EquipmentStatus.BLACKLISTED: "blackListed",
    EquipmentStatus.GREYLISTED: "greyListed",
}


class MapErrorCode(enum.IntEnum):
    UNKNOWN_EQUIPMENT = 7
    SYSTEM_FAILURE = 34
    DATA_MISSING = 35
    UNEXPECTED_DATA_VALUE = 36


class MapError(Exception):
    def __init__(self, code: MapErrorCode, text: str) -> None:
        super().__init__(f"{code.name}: {text}")
        self.code = code


class MistypedError(Exception):
    """The argument is not of the operation's type: a TC Reject (mistypedArgument)."""


def acn(version: int) -> tuple[int, ...]:
    return (*ACN_PREFIX, version)


def version_of(name: tuple[int, ...]) -> int | None:
    """The equipmentMngtContext version named, or None for another context."""
    if len(name) == 8 and tuple(name[:7]) == ACN_PREFIX:
        return name[7]
    return None


def imei_octets(argument: Any) -> bytes:
    """The IMEI octets of an argument decoded by pycrate: IMEI (v1, v2) or CheckIMEI-Arg (v3)."""
    if not isinstance(argument, tuple) or len(argument) != 2:
        raise MistypedError("no decodable argument")
    name, value = argument
    type_name = name[1] if isinstance(name, tuple) else name
    if type_name == "IMEI" and isinstance(value, bytes):
        octets: bytes = value
    elif type_name == "CheckIMEI-Arg" and isinstance(value, dict) and "imei" in value:
        octets = value["imei"]
    else:
        raise MistypedError(f"argument of type {type_name}")
    if len(octets) != 8:
        raise MistypedError(f"an IMEI of {len(octets)} octets")
    return octets


def imei_of(argument: Any) -> Imei:
    """The IMEI of an argument (see `imei_octets`); bad TBCD digits: unexpectedDataValue."""
    octets = imei_octets(argument)
    try:
        return Imei.from_tbcd(octets)
    except IdentityError as exc:
        raise MapError(MapErrorCode.UNEXPECTED_DATA_VALUE, str(exc)) from None


def result_value(version: int, status: EquipmentStatus) -> tuple[str, Any]:
    """The returnResult value: EquipmentStatus (v1, v2) or CheckIMEI-Res (v3)."""
    name = STATUS_NAMES[status]
    if version >= 3:
        return ("CheckIMEI-Res", {"equipmentStatus": name})
    return ("EquipmentStatus", name)
