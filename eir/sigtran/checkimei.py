"""MAP CheckIMEI (3GPP TS 29.002 8.7.1, operation 43, equipmentMngtContext v1, v2, v3): the
TC-user above `eir.sigtran.tcap`. Each Invoke in, its component out:

* checkIMEI (43) -> returnResultLast with its invokeId (EquipmentStatus in v1 and v2,
  CheckIMEI-Res in v3), or returnError: unknownEquipment when the policy answers unknown,
  unexpectedDataValue for an IMEI that is not TBCD digits, dataMissing without an argument,
  systemFailure for our own failure;
* another operation -> Reject (invoke unrecognizedOperation); an argument of the wrong type ->
  Reject (invoke mistypedArgument).

Some MSCs (Huawei) put the subscriber's IMSI after the IMEI in a v1/v2 Invoke: it is read (and
ignored when bad) for IMEI+IMSI pair entries. The values of the operation (opcode, application
context names, error codes, the result) are here too.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

from eir.errors import IdentityError
from eir.identity import Imei, Imsi, tbcd_decode
from eir.model import CheckRequest, Decide, EquipmentStatus
from eir.sigtran import ber, outcomes
from eir.sigtran.ber import Tlv
from eir.sigtran.tcap import Component, ContextName, reject, return_error, return_result
from eir.sigtran.tcap_scan import EQUIPMENT_MNGT_OID, ComponentScan

log = logging.getLogger("eir.tcap")

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


#: the MAP errors the EIR answers, by name (as counted and as a client reports them)
ERROR_NAMES: dict[int, str] = {
    MapErrorCode.UNKNOWN_EQUIPMENT: "unknownEquipment",
    MapErrorCode.SYSTEM_FAILURE: "systemFailure",
    MapErrorCode.DATA_MISSING: "dataMissing",
    MapErrorCode.UNEXPECTED_DATA_VALUE: "unexpectedDataValue",
}


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


class CheckImei:
    """The MAP CheckIMEI user of a `eir.sigtran.tcap.TcapServer`: `check` decides each IMEI."""

    def __init__(self, check: Decide) -> None:
        self.check = check
        #: equipmentMngtContext-v1..v3 as BER OID contents -> version
        self.context_versions = {EQUIPMENT_MNGT_OID + bytes([v]): v for v in VERSIONS}
        #: the context named when refusing another one: the highest version
        self.offer = acn(HIGHEST)

    def acn(self, version: int) -> ContextName:
        return acn(version)

    def accepted_version(self, name: ContextName) -> int | None:
        found = version_of(name)
        return found if found in VERSIONS else None

    def error_outcome(self, code: int) -> str | None:
        if code == MapErrorCode.UNKNOWN_EQUIPMENT:
            return None  # a decision, not a failure
        return outcomes.error(ERROR_NAMES.get(code, str(code)))

    def answer_invoke(
        self, buf: bytes, invoke: ComponentScan, version: int, peer: str
    ) -> Component:
        invoke_id = ("present", invoke.invoke_id) if invoke.invoke_id is not None else ("absent", 0)
        if invoke.opcode != OPCODE:
            return reject(invoke_id, "unrecognizedOperation")
        if invoke.parameter is None:
            return return_error(invoke_id, MapErrorCode.DATA_MISSING)
        octets = parameter_imei_octets(buf, invoke.parameter)
        if octets is None:
            return reject(invoke_id, "mistypedArgument")
        imsi = trailing_imsi(buf, invoke.trailing)
        return self._decide(invoke_id, octets, imsi, version, peer)

    def answer_decoded_invoke(
        self, fields: dict[str, Any], version: int, peer: str, had_parameter: bool
    ) -> Component:
        invoke_id = fields["invokeId"]
        if fields.get("opcode") != ("local", OPCODE):
            return reject(invoke_id, "unrecognizedOperation")
        if "argument" not in fields:
            # pycrate drops an argument of none of the operation's types without a word
            if had_parameter:
                return reject(invoke_id, "mistypedArgument")
            return return_error(invoke_id, MapErrorCode.DATA_MISSING)
        try:
            octets = imei_octets(fields["argument"])
        except MistypedError:
            return reject(invoke_id, "mistypedArgument")
        return self._decide(invoke_id, octets, None, version, peer)

    def _decide(
        self, invoke_id: Any, octets: bytes, imsi: Imsi | None, version: int, peer: str
    ) -> Component:
        try:
            imei = imei_of(("IMEI", octets))
            result = self.check(CheckRequest(imei, imsi, outcomes.PROTOCOL, peer, version))
        except MapError as exc:
            return return_error(invoke_id, exc.code)
        except Exception:  # the policy or store failed: systemFailure, logged
            log.exception("tcap %s: the decision failed", peer)
            return return_error(invoke_id, MapErrorCode.SYSTEM_FAILURE)
        if result.status is None:
            return return_error(invoke_id, MapErrorCode.UNKNOWN_EQUIPMENT)
        return return_result(invoke_id, OPCODE, result_value(version, result.status))


def parameter_imei_octets(buf: bytes, parameter: Tlv) -> bytes | None:
    """The 8 IMEI octets of a CheckIMEI parameter read as BER: IMEI (v1, v2) or CheckIMEI-Arg
    (v3, whose other fields, extension container included, are tolerated); None when
    mistyped."""
    if parameter.tag == 0x04:
        value = buf[parameter.start : parameter.stop]
    elif parameter.tag == 0x30:
        # Only the IMEI is read: what follows (requestedEquipmentInfo, an extension container,
        # well-formed or not) does not change the answer.
        try:
            first = ber.read(buf, parameter.start, parameter.stop)
        except ber.BerError:
            return None
        if first.tag != 0x04:
            return None
        value = buf[first.start : first.stop]
    else:
        return None
    return value if len(value) == 8 else None


def trailing_imsi(buf: bytes, trailing: tuple[Tlv, ...]) -> Imsi | None:
    """The IMSI some MSCs (Huawei) put after the IMEI: TBCD, 3 to 8 octets. Ignored if bad."""
    for extra in trailing:
        if extra.tag == 0x04 and 3 <= extra.stop - extra.start <= 8:
            try:
                return Imsi(tbcd_decode(buf[extra.start : extra.stop]))
            except IdentityError:
                return None
    return None
