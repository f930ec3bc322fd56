"""TCAP (ITU-T Q.773) for the EIR: a Begin in, an End (or an Abort) out. Sans-IO, pycrate-coded.

* Begin with a dialogue portion (AARQ) naming equipmentMngtContext v2 or v3 -> End with the AARE
  (accepted) and one answer per component; without a dialogue portion (MAP v1) -> End without
  one. Another context or version -> TC-U-ABORT with an AARE: reject-permanent,
  application-context-name-not-supported, naming the highest version we support.
* Each Invoke of checkIMEI (43) -> returnResultLast with its invokeId, or returnError
  (unknownEquipment when the policy answers unknown; systemFailure for our own failure);
  another operation -> Reject (unrecognizedOperation); an argument of the wrong type -> Reject
  (mistypedArgument); other components -> Reject (returnResult unrecognizedInvokeID).
* An undecodable message with an originating transaction id -> P-ABORT
  (badlyFormattedTransactionPortion); a Continue -> P-ABORT (unrecognizedTransactionID), since
  the EIR keeps no dialogue open; End, Abort and garbage without an otid -> nothing.

pycrate's ASN.1 objects are module-level singletons: call from one thread only.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from pycrate_asn1dir import TCAP_MAPv2v3 as _asn

from eir.errors import IdentityError
from eir.identity import Imsi, tbcd_decode
from eir.model import CheckRequest, Decide
from eir.sigtran import ber, checkimei
from eir.sigtran.begin import EQUIPMENT_MNGT_OID, INVOKE, Component, ScannedBegin, scan_begin
from eir.sigtran.ber import Tlv
from eir.sigtran.checkimei import MapError, MapErrorCode, MistypedError

log = logging.getLogger("eir.tcap")
logging.getLogger("pycrate_asn1rt").setLevel(logging.ERROR)

_MSG = _asn.TCAP_MAP_Messages.TCAP_MAP_Message
DIALOGUE_AS = (0, 0, 17, 773, 1, 1, 1)


def _dialogue(pdu: tuple[str, Any]) -> dict[str, Any]:
    return {"direct-reference": DIALOGUE_AS, "encoding": ("single-ASN1-type", ("DialoguePDU", pdu))}


def _aare(name: tuple[int, ...], accepted: bool) -> dict[str, Any]:
    return _dialogue(
        (
            "dialogueResponse",
            {
                "protocol-version": (1, 1),
                "application-context-name": name,
                "result": "accepted" if accepted else "reject-permanent",
                "result-source-diagnostic": (
                    "dialogue-service-user",
                    "null" if accepted else "application-context-name-not-supported",
                ),
            },
        )
    )


def encode(value: tuple[str, Any]) -> bytes:
    _MSG.set_val(value)
    out: bytes = _MSG.to_ber()
    return out


def p_abort(dtid: bytes, cause: str) -> bytes:
    return encode(("abort", {"dtid": dtid, "reason": ("p-abortCause", cause)}))


def _otid(buf: bytes) -> bytes | None:
    """The originating transaction id of a Begin that may not decode (BER tag 0x48 first)."""
    if len(buf) < 4 or buf[0] != 0x62:
        return None
    pos = 2 if buf[1] < 0x80 else 2 + (buf[1] & 0x7F)
    if pos + 2 > len(buf) or buf[pos] != 0x48:
        return None
    size = buf[pos + 1]
    if not 1 <= size <= 4 or pos + 2 + size > len(buf):
        return None
    return buf[pos + 2 : pos + 2 + size]


class TcapServer:
    """Answers TCAP messages carrying MAP CheckIMEI."""

    def __init__(self, check: Decide, peer: str = "") -> None:
        self._check = check
        self.peer = peer
        #: answers other than a decision, by kind: "abort:<cause>", "reject:<problem>" or a
        #: MAP error name (unknownEquipment is a decision and is not counted here)
        self.outcomes: Counter[str] = Counter()

    def _p_abort(self, otid: bytes, cause: str) -> bytes:
        self.outcomes[f"abort:{cause}"] += 1
        return p_abort(otid, cause)

    def _refused_acn(self, otid: bytes) -> bytes:
        self.outcomes["abort:applicationContextNotSupported"] += 1
        offer = checkimei.acn(checkimei.HIGHEST)
        return encode(("abort", {"dtid": otid, "reason": ("u-abortCause", _aare(offer, False))}))

    def _counted(self, components: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        for component in components:
            kind, value = component[1]
            if kind == "reject":
                self.outcomes[f"reject:{value['problem'][1]}"] += 1
            elif kind == "returnError":
                code = value["errcode"][1]
                if code != MapErrorCode.UNKNOWN_EQUIPMENT:
                    self.outcomes[_ERROR_NAMES.get(code, str(code))] += 1
        return components

    def answer(self, buf: bytes, peer: str = "") -> bytes | None:
        try:
            scanned = scan_begin(buf)
        except Exception:  # our reader's bug: pycrate decides instead
            log.exception("tcap %s: our Begin reader failed", peer)
            scanned = None
        if scanned is not None:
            try:
                return self._scanned(buf, scanned, peer or self.peer)
            except Exception:  # our bug: abort the dialogue, never leave the MSC waiting
                log.exception("tcap %s: cannot answer a Begin", peer)
                return self._p_abort(scanned.otid, "resourceLimitation")
        try:
            ber.walk(buf)  # depth and element bounds, before pycrate sees the bytes
            _MSG.from_ber(buf, single=True)
            kind, body = _MSG.get_val()
        except Exception:
            otid = _otid(buf)
            if otid is None:
                log.info("tcap %s: undecodable message without an otid dropped", peer)
                return None
            return self._p_abort(otid, "badlyFormattedTransactionPortion")
        if kind == "continue":
            return self._p_abort(body["otid"], "unrecognizedTransactionID")
        if kind != "begin":
            return None
        try:
            return self._begin(buf, body, peer or self.peer)
        except Exception:  # our bug: abort the dialogue, never leave the MSC waiting
            log.exception("tcap %s: cannot answer a Begin", peer)
            return self._p_abort(body["otid"], "resourceLimitation")

    def _scanned(self, buf: bytes, scanned: ScannedBegin, peer: str) -> bytes:
        """The common Begin, read by `eir.sigtran.begin` (no pycrate decoding)."""
        version = 1
        asked: tuple[int, ...] | None = None
        if scanned.dialogue:
            acn = scanned.acn or b""
            prefix = EQUIPMENT_MNGT_OID
            if (
                len(acn) == len(prefix) + 1
                and acn.startswith(prefix)
                and acn[-1] in (checkimei.VERSIONS)
            ):
                version = acn[-1]
                asked = checkimei.acn(version)
            else:
                return self._refused_acn(scanned.otid)
        answers = self._counted(
            [self._scanned_component(buf, c, version, peer) for c in scanned.components]
        )
        return encode_end(scanned.otid, version if asked is not None else None, answers)

    def _scanned_component(
        self, buf: bytes, comp: Component, version: int, peer: str
    ) -> tuple[str, Any]:
        invoke_id = ("present", comp.invoke_id) if comp.invoke_id is not None else ("absent", 0)
        if comp.tag != INVOKE:
            return (
                "basicROS",
                (
                    "reject",
                    {"invokeId": invoke_id, "problem": ("returnResult", "unrecognizedInvocation")},
                ),
            )
        if comp.opcode != checkimei.OPCODE:
            return _reject(invoke_id, "unrecognizedOperation")
        if comp.parameter is None:
            return _error(invoke_id, MapErrorCode.DATA_MISSING)
        octets = _imei_octets(buf, comp.parameter)
        if octets is None:
            return _reject(invoke_id, "mistypedArgument")
        imsi = _trailing_imsi(buf, comp.trailing)
        return self._decide(invoke_id, octets, imsi, version, peer)

    def _decide(
        self, invoke_id: Any, octets: bytes, imsi: Imsi | None, version: int, peer: str
    ) -> tuple[str, Any]:
        try:
            imei = checkimei.imei_of(("IMEI", octets))
            result = self._check(CheckRequest(imei, imsi, f"map-v{version}", peer))
        except MapError as exc:
            return _error(invoke_id, exc.code)
        except Exception:
            log.exception("tcap %s: the decision failed", peer)
            return _error(invoke_id, MapErrorCode.SYSTEM_FAILURE)
        if result.status is None:
            return _error(invoke_id, MapErrorCode.UNKNOWN_EQUIPMENT)
        return (
            "basicROS",
            (
                "returnResult",
                {
                    "invokeId": invoke_id,
                    "result": {
                        "opcode": ("local", checkimei.OPCODE),
                        "result": checkimei.result_value(version, result.status),
                    },
                },
            ),
        )

    def _begin(self, buf: bytes, body: dict[str, Any], peer: str) -> bytes:
        otid: bytes = body["otid"]
        version = 1
        dialogue = body.get("dialoguePortion")
        asked: tuple[int, ...] | None = None
        if dialogue is not None:
            asked = _aarq_acn(dialogue)
            if asked is None:
                return self._p_abort(otid, "incorrectTransactionPortion")
            found = checkimei.version_of(asked)
            if found not in checkimei.VERSIONS:
                return self._refused_acn(otid)
            version = found
        flags = _parameter_flags(buf)
        components = self._counted(
            [
                self._component(c, version, peer, i < len(flags) and flags[i])
                for i, c in enumerate(body.get("components", []))
            ]
        )
        end: dict[str, Any] = {"dtid": otid}
        if asked is not None:
            end["dialoguePortion"] = _aare(asked, True)
        if components:
            end["components"] = components
        return encode(("end", end))

    def _component(
        self, component: tuple[str, Any], version: int, peer: str, had_parameter: bool
    ) -> tuple[str, Any]:
        kind, value = component[1]
        if kind != "invoke":
            invoke_id = (
                value.get("invokeId", ("absent", 0)) if isinstance(value, dict) else ("absent", 0)
            )
            return (
                "basicROS",
                (
                    "reject",
                    {"invokeId": invoke_id, "problem": ("returnResult", "unrecognizedInvocation")},
                ),
            )
        invoke_id = value["invokeId"]
        if value.get("opcode") != ("local", checkimei.OPCODE):
            return _reject(invoke_id, "unrecognizedOperation")
        if "argument" not in value:
            # pycrate drops an argument of none of the operation's types without a word
            if had_parameter:
                return _reject(invoke_id, "mistypedArgument")
            return _error(invoke_id, MapErrorCode.DATA_MISSING)
        try:
            octets = checkimei.imei_octets(value["argument"])
        except MistypedError:
            return _reject(invoke_id, "mistypedArgument")
        return self._decide(invoke_id, octets, None, version, peer)


def _aarq_acn(dialogue: Any) -> tuple[int, ...] | None:
    """The application context an AARQ dialogue portion asks for, or None when the portion is
    not a well-formed AARQ (pycrate leaves an undecodable open type as raw bytes)."""
    encoding = dialogue.get("encoding") if isinstance(dialogue, dict) else None
    if not isinstance(encoding, tuple) or len(encoding) != 2 or encoding[0] != "single-ASN1-type":
        return None
    inner = encoding[1]
    if not isinstance(inner, tuple) or len(inner) != 2 or inner[0] != "DialoguePDU":
        return None
    pdu = inner[1]
    if (
        not isinstance(pdu, tuple)
        or len(pdu) != 2
        or pdu[0] != "dialogueRequest"
        or not isinstance(pdu[1], dict)
    ):
        return None
    name = pdu[1].get("application-context-name")
    if not isinstance(name, (tuple, list)) or not all(isinstance(n, int) for n in name):
        return None
    return tuple(name)


def _parameter_flags(buf: bytes) -> list[bool]:
    """For each component of a Begin (indefinite lengths too): an Invoke with a parameter?"""
    try:
        top = ber.read(buf, 0, len(buf))
        for part in ber.children(buf, top):
            if part.tag == 0x6C:
                flags = []
                for comp in ber.children(buf, part):
                    fields = ber.children(buf, comp) if comp.tag == INVOKE else []
                    rest = [f for f in fields[1:] if f.tag != 0x80]
                    flags.append(len(rest) >= 2)
                return flags
    except ber.BerError:
        pass
    return []


def _imei_octets(buf: bytes, parameter: Tlv) -> bytes | None:
    """The 8 IMEI octets of a CheckIMEI parameter: IMEI (v1, v2) or CheckIMEI-Arg (v3, whose
    other fields, extension container included, are tolerated); None when mistyped."""
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


def _trailing_imsi(buf: bytes, trailing: tuple[Tlv, ...]) -> Imsi | None:
    """The IMSI some MSCs (Huawei) put after the IMEI: TBCD, 3 to 8 octets. Ignored if bad."""
    for extra in trailing:
        if extra.tag == 0x04 and 3 <= extra.stop - extra.start <= 8:
            try:
                return Imsi(tbcd_decode(buf[extra.start : extra.stop]))
            except IdentityError:
                return None
    return None


_ERROR_NAMES = {
    MapErrorCode.UNKNOWN_EQUIPMENT: "unknownEquipment",
    MapErrorCode.SYSTEM_FAILURE: "systemFailure",
    MapErrorCode.DATA_MISSING: "dataMissing",
    MapErrorCode.UNEXPECTED_DATA_VALUE: "unexpectedDataValue",
}


def _reject(invoke_id: Any, problem: str) -> tuple[str, Any]:
    return ("basicROS", ("reject", {"invokeId": invoke_id, "problem": ("invoke", problem)}))


def _error(invoke_id: Any, code: MapErrorCode) -> tuple[str, Any]:
    return ("basicROS", ("returnError", {"invokeId": invoke_id, "errcode": ("local", int(code))}))


# --- the End, encoded without pycrate (tests hold it to pycrate's bytes) -----------------------

_AARE_PORTIONS: dict[int, bytes] = {}
_RESULT_TAGS = {"returnResult": 0xA2, "returnError": 0xA3, "reject": 0xA4}
_PROBLEM_TAGS = {"general": 0x80, "invoke": 0x81, "returnResult": 0x82, "returnError": 0x83}
_STATUS_CODES = {"whiteListed": 0, "blackListed": 1, "greyListed": 2}
_PROBLEMS = {
    "unrecognizedOperation": 1,
    "mistypedArgument": 2,
    "resourceLimitation": 3,
    "unrecognizedInvocation": 0,
}


def _aare_portion(version: int) -> bytes:
    """The accepted AARE dialogue portion for `version`, encoded once by pycrate."""
    portion = _AARE_PORTIONS.get(version)
    if portion is None:
        whole = encode(
            ("end", {"dtid": b"\x00", "dialoguePortion": _aare(checkimei.acn(version), True)})
        )
        top = ber.read(whole, 0, len(whole))
        dtid = ber.read(whole, top.start, top.stop)
        part = ber.read(whole, dtid.next, top.stop)
        portion = whole[dtid.next : part.next]
        _AARE_PORTIONS[version] = portion
    return portion


def _int_tlv(value: int) -> bytes:
    size = 1
    while not -(1 << (8 * size - 1)) <= value < (1 << (8 * size - 1)):
        size += 1
    return ber.tlv(0x02, value.to_bytes(size, "big", signed=True))


def _component_bytes(component: tuple[str, Any]) -> bytes | None:
    kind, value = component[1]
    invoke_id = value["invokeId"]
    iid = _int_tlv(invoke_id[1]) if invoke_id[0] == "present" else b"\x05\x00"
    if kind == "returnResult":
        name, result = value["result"]["result"]
        if name == "EquipmentStatus":
            encoded = ber.tlv(0x0A, bytes([_STATUS_CODES[result]]))
        elif name == "CheckIMEI-Res" and list(result) == ["equipmentStatus"]:
            status = _STATUS_CODES[result["equipmentStatus"]]
            encoded = ber.tlv(0x30, ber.tlv(0x0A, bytes([status])))
        else:
            return None
        body = ber.tlv(0x30, _int_tlv(value["result"]["opcode"][1]) + encoded)
        return ber.tlv(_RESULT_TAGS[kind], iid + body)
    if kind == "returnError":
        return ber.tlv(_RESULT_TAGS[kind], iid + _int_tlv(value["errcode"][1]))
    if kind == "reject":
        family, problem = value["problem"]
        code = _PROBLEMS.get(problem) if isinstance(problem, str) else problem
        if code is None:
            return None
        return ber.tlv(_RESULT_TAGS[kind], iid + ber.tlv(_PROBLEM_TAGS[family], bytes([code])))
    return None


_TEMPLATES: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}


def encode_end(otid: bytes, version: int | None, components: list[tuple[str, Any]]) -> bytes:
    """End with dtid = `otid`, the AARE of `version` (None: no dialogue portion, MAP v1) and
    the components; falls back to pycrate for any component it does not know.

    The common End (one returnResult) comes from a template made by the general encoder once
    per (version, result, invokeId, otid length), with the otid put in."""
    if len(components) == 1 and components[0][1][0] == "returnResult":
        value = components[0][1][1]
        name, result = value["result"]["result"]
        status = result["equipmentStatus"] if isinstance(result, dict) else result
        key = (version, name, status, value["invokeId"], len(otid))
        template = _TEMPLATES.get(key)
        if template is None:
            whole = _encode_end(bytes(len(otid)), version, components)
            at = ber.read(whole, ber.read(whole, 0, len(whole)).start, len(whole)).start
            template = (whole[:at], whole[at + len(otid) :])
            if len(_TEMPLATES) < 65536:
                _TEMPLATES[key] = template
        return template[0] + otid + template[1]
    return _encode_end(otid, version, components)


def _encode_end(otid: bytes, version: int | None, components: list[tuple[str, Any]]) -> bytes:
    parts = [ber.tlv(0x49, otid)]
    if version is not None:
        parts.append(_aare_portion(version))
    if components:
        encoded = [_component_bytes(c) for c in components]
        if any(e is None for e in encoded):
            end: dict[str, Any] = {"dtid": otid, "components": components}
            if version is not None:
                end["dialoguePortion"] = _aare(checkimei.acn(version), True)
            return encode(("end", end))
        parts.append(ber.tlv(0x6C, b"".join(e for e in encoded if e is not None)))
    return ber.tlv(0x64, b"".join(parts))


def encode_end_pycrate(
    otid: bytes, version: int | None, components: list[tuple[str, Any]]
) -> bytes:
    """The same End through pycrate (the reference for tests)."""
    end: dict[str, Any] = {"dtid": otid}
    if version is not None:
        end["dialoguePortion"] = _aare(checkimei.acn(version), True)
    if components:
        end["components"] = components
    return encode(("end", end))
