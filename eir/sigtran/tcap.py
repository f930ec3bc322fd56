"""TCAP transactions and dialogues (ITU-T Q.771-Q.773) for the EIR: a Begin in, an End (or an
Abort) out. Sans-IO, pycrate-coded, with our own reader of the common Begin (`tcap_scan`) and
our own encoder of the End (templates, held to pycrate's bytes by the tests).

* Transaction sublayer (Q.773 3.1): a Begin is answered by an End with dtid = its otid, since
  the EIR keeps no dialogue open. An undecodable message with an originating transaction id ->
  P-ABORT (badlyFormattedTransactionPortion); a Continue -> P-ABORT
  (unrecognizedTransactionID); End, Abort and garbage without an otid -> nothing.
* Dialogue portion (Q.773 3.2, X.227 AARQ/AARE): a Begin whose AARQ names an application
  context the TC-user accepts -> End with the AARE (accepted); without a dialogue portion (MAP
  v1) -> End without one. Another context or version -> TC-U-ABORT with an AARE:
  reject-permanent, application-context-name-not-supported, naming the context the TC-user
  offers (version negotiation, TS 29.002 15.1).
* Component sublayer (Q.773 3.3): each Invoke goes to the TC-user (`TcUser`: MAP CheckIMEI,
  `eir.sigtran.checkimei`); any other component -> Reject (returnResult
  unrecognizedInvocation).

pycrate's ASN.1 objects are module-level singletons: call from one thread only.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from pycrate_asn1dir import TCAP_MAPv2v3 as _asn

from eir.sigtran import ber, outcomes
from eir.sigtran.tcap_scan import INVOKE, BeginScan, ComponentScan, scan_begin

log = logging.getLogger("eir.tcap")
logging.getLogger("pycrate_asn1rt").setLevel(logging.ERROR)

_MSG = _asn.TCAP_MAP_Messages.TCAP_MAP_Message
DIALOGUE_AS = (0, 0, 17, 773, 1, 1, 1)

#: a component as pycrate's TCAP_MAP value: ("basicROS", (kind, fields))
Component = tuple[str, Any]
#: an application context name (an OID as its arcs)
ContextName = tuple[int, ...]


class TcUser(Protocol):
    """The application above TCAP: what it accepts in a dialogue and how it answers an Invoke.
    The EIR's is MAP CheckIMEI (`eir.sigtran.checkimei.CheckImei`)."""

    @property
    def context_versions(self) -> Mapping[bytes, int]:
        """The application context names it accepts, as the contents of their BER OID, and
        the version each one is."""
        ...

    @property
    def offer(self) -> ContextName:
        """The context named in the AARE of a refused dialogue."""
        ...

    def acn(self, version: int) -> ContextName:
        """The application context name of `version`."""
        ...

    def accepted_version(self, name: ContextName) -> int | None:
        """The version of an application context it accepts; None to refuse it."""
        ...

    def answer_invoke(
        self, buf: bytes, invoke: ComponentScan, version: int, peer: str
    ) -> Component:
        """The answer to an Invoke read by `tcap_scan` (parameter as a TLV of `buf`)."""
        ...

    def answer_decoded_invoke(
        self, fields: dict[str, Any], version: int, peer: str, had_parameter: bool
    ) -> Component:
        """The answer to an Invoke decoded by pycrate (`had_parameter`: the Invoke carried a
        parameter on the wire, whether or not pycrate kept it)."""
        ...

    def error_outcome(self, code: int) -> str | None:
        """The name a returnError of `code` is counted under; None when it is a decision."""
        ...


def dialogue(pdu: tuple[str, Any]) -> dict[str, Any]:
    """A dialogue portion (Q.773 3.2: EXTERNAL, dialogue-as-id) carrying the DialoguePDU."""
    return {"direct-reference": DIALOGUE_AS, "encoding": ("single-ASN1-type", ("DialoguePDU", pdu))}


def aarq(name: ContextName) -> dict[str, Any]:
    """The dialogue portion of a Begin asking for the application context `name`."""
    return dialogue(
        ("dialogueRequest", {"protocol-version": (1, 1), "application-context-name": name})
    )


def aare(name: ContextName, accepted: bool) -> dict[str, Any]:
    """The dialogue portion answering an AARQ: accepted, or refused naming `name` instead."""
    return dialogue(
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
    """A TCAP message from its pycrate value (the codec of record)."""
    _MSG.set_val(value)
    out: bytes = _MSG.to_ber()
    return out


def p_abort(dtid: bytes, cause: str) -> bytes:
    return encode(("abort", {"dtid": dtid, "reason": ("p-abortCause", cause)}))


def otid_of(buf: bytes) -> bytes | None:
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


def reject(invoke_id: Any, problem: str) -> Component:
    """A Reject of an Invoke (Q.773 3.3: invoke problem `problem`)."""
    return ("basicROS", ("reject", {"invokeId": invoke_id, "problem": ("invoke", problem)}))


def return_error(invoke_id: Any, code: int) -> Component:
    """A returnError with a local error code."""
    return ("basicROS", ("returnError", {"invokeId": invoke_id, "errcode": ("local", int(code))}))


def return_result(invoke_id: Any, opcode: int, result: tuple[str, Any]) -> Component:
    """A returnResultLast of the operation `opcode` with its result value."""
    return (
        "basicROS",
        (
            "returnResult",
            {"invokeId": invoke_id, "result": {"opcode": ("local", opcode), "result": result}},
        ),
    )


def _unrecognized_invocation(invoke_id: Any) -> Component:
    """The Reject of a component that is not an Invoke: nothing of ours to answer."""
    return (
        "basicROS",
        ("reject", {"invokeId": invoke_id, "problem": ("returnResult", "unrecognizedInvocation")}),
    )


_ABSENT = ("absent", 0)


class TcapServer:
    """Answers each TCAP message of a peer; the Invokes it carries go to `user`."""

    def __init__(self, user: TcUser, peer: str = "") -> None:
        self.user = user
        self.peer = peer
        #: answers other than a decision, by their name (`eir.sigtran.outcomes`): p-abort,
        #: u-abort, reject, or the user's name of an error (`TcUser.error_outcome`)
        self.outcomes: Counter[str] = Counter()
        #: the OIDs the user accepts -> (version, name), read once per Begin
        self._contexts = {oid: (v, user.acn(v)) for oid, v in user.context_versions.items()}

    def answer(self, buf: bytes, peer: str = "") -> bytes | None:
        """The End or Abort answering `buf`, or None. Our own failures abort the dialogue."""
        try:
            scanned = scan_begin(buf)
        except Exception:  # a bug in our reader: pycrate decides instead
            log.exception("tcap %s: our Begin reader failed", peer)
            scanned = None
        if scanned is not None:
            try:
                return self._scanned(buf, scanned, peer or self.peer)
            except Exception:  # our bug: abort the dialogue, never leave the MSC waiting
                log.exception("tcap %s: cannot answer a Begin", peer)
                return self._p_abort(scanned.otid, "resourceLimitation")
        return self._decoded(buf, peer)

    # --- the common Begin, read by `tcap_scan` (no pycrate decoding) ---------------------------

    def _scanned(self, buf: bytes, scanned: BeginScan, peer: str) -> bytes:
        version = 1
        name: ContextName | None = None
        if scanned.dialogue:
            found = self._contexts.get(scanned.acn or b"")
            if found is None:
                return self._refused_acn(scanned.otid)
            version, name = found
        user = self.user
        answers = []
        for comp in scanned.components:
            if comp.tag != INVOKE:
                iid = ("present", comp.invoke_id) if comp.invoke_id is not None else _ABSENT
                answers.append(_unrecognized_invocation(iid))
            else:
                answers.append(user.answer_invoke(buf, comp, version, peer))
        return encode_end(scanned.otid, name, self._counted(answers))

    # --- any other message, decoded by pycrate -----------------------------------------------

    def _decoded(self, buf: bytes, peer: str) -> bytes | None:
        try:
            ber.walk(buf)  # depth and element bounds, before pycrate sees the bytes
            _MSG.from_ber(buf, single=True)
            kind, body = _MSG.get_val()
        except Exception:  # noqa: BLE001  (pycrate raises any type on bad bytes)
            otid = otid_of(buf)
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

    def _begin(self, buf: bytes, body: dict[str, Any], peer: str) -> bytes:
        otid: bytes = body["otid"]
        version = 1
        dialogue_portion = body.get("dialoguePortion")
        asked: ContextName | None = None
        if dialogue_portion is not None:
            asked = aarq_acn(dialogue_portion)
            if asked is None:
                return self._p_abort(otid, "incorrectTransactionPortion")
            found = self.user.accepted_version(asked)
            if found is None:
                return self._refused_acn(otid)
            version = found
        flags = parameter_flags(buf)
        components = self._counted(
            [
                self._component(c, version, peer, i < len(flags) and flags[i])
                for i, c in enumerate(body.get("components", []))
            ]
        )
        end: dict[str, Any] = {"dtid": otid}
        if asked is not None:
            end["dialoguePortion"] = aare(asked, True)
        if components:
            end["components"] = components
        return encode(("end", end))

    def _component(
        self, component: Component, version: int, peer: str, had_parameter: bool
    ) -> Component:
        kind, value = component[1]
        if kind != "invoke":
            invoke_id = value.get("invokeId", _ABSENT) if isinstance(value, dict) else _ABSENT
            return _unrecognized_invocation(invoke_id)
        return self.user.answer_decoded_invoke(value, version, peer, had_parameter)

    # --- aborts and counting -----------------------------------------------------------------

    def _p_abort(self, otid: bytes, cause: str) -> bytes:
        self.outcomes[outcomes.p_abort(cause)] += 1
        return p_abort(otid, cause)

    def _refused_acn(self, otid: bytes) -> bytes:
        self.outcomes[outcomes.CONTEXT_NOT_SUPPORTED] += 1
        reason = ("u-abortCause", aare(self.user.offer, False))
        return encode(("abort", {"dtid": otid, "reason": reason}))

    def _counted(self, components: list[Component]) -> list[Component]:
        for component in components:
            kind, value = component[1]
            if kind == "reject":
                self.outcomes[outcomes.reject(*value["problem"])] += 1
            elif kind == "returnError":
                name = self.user.error_outcome(value["errcode"][1])
                if name is not None:
                    self.outcomes[name] += 1
        return components


def aarq_acn(portion: Any) -> ContextName | None:
    """The application context an AARQ dialogue portion asks for, or None when the portion is
    not a well-formed AARQ (pycrate leaves an undecodable open type as raw bytes)."""
    encoding = portion.get("encoding") if isinstance(portion, dict) else None
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


def parameter_flags(buf: bytes) -> list[bool]:
    """For each component of a Begin (indefinite lengths too): an Invoke with a parameter?
    (pycrate drops an argument of none of the operation's types without a word.)"""
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


# --- the End, encoded without pycrate (tests hold it to pycrate's bytes) -----------------------

_AARE_PORTIONS: dict[ContextName, bytes] = {}
_RESULT_TAGS = {"returnResult": 0xA2, "returnError": 0xA3, "reject": 0xA4}
_PROBLEM_TAGS = {"general": 0x80, "invoke": 0x81, "returnResult": 0x82, "returnError": 0x83}
#: EquipmentStatus (TS 29.002, in pycrate's TCAP_MAP module): ENUMERATED values
_STATUS_CODES = {"whiteListed": 0, "blackListed": 1, "greyListed": 2}
_PROBLEMS = {
    "unrecognizedOperation": 1,
    "mistypedArgument": 2,
    "resourceLimitation": 3,
    "unrecognizedInvocation": 0,
}


def _aare_portion(name: ContextName) -> bytes:
    """The accepted AARE dialogue portion for `name`, encoded once by pycrate."""
    portion = _AARE_PORTIONS.get(name)
    if portion is None:
        whole = encode(("end", {"dtid": b"\x00", "dialoguePortion": aare(name, True)}))
        top = ber.read(whole, 0, len(whole))
        dtid = ber.read(whole, top.start, top.stop)
        part = ber.read(whole, dtid.next, top.stop)
        portion = whole[dtid.next : part.next]
        _AARE_PORTIONS[name] = portion
    return portion


def _int_tlv(value: int) -> bytes:
    size = 1
    while not -(1 << (8 * size - 1)) <= value < (1 << (8 * size - 1)):
        size += 1
    return ber.tlv(0x02, value.to_bytes(size, "big", signed=True))


def _result_bytes(value: dict[str, Any]) -> bytes | None:
    """The returnResult's result (CheckIMEI's EquipmentStatus or CheckIMEI-Res), or None for a
    result this encoder does not know."""
    name, result = value["result"]["result"]
    if name == "EquipmentStatus":
        encoded = ber.tlv(0x0A, bytes([_STATUS_CODES[result]]))
    elif name == "CheckIMEI-Res" and list(result) == ["equipmentStatus"]:
        status = _STATUS_CODES[result["equipmentStatus"]]
        encoded = ber.tlv(0x30, ber.tlv(0x0A, bytes([status])))
    else:
        return None
    return ber.tlv(0x30, _int_tlv(value["result"]["opcode"][1]) + encoded)


def _component_bytes(component: Component) -> bytes | None:
    kind, value = component[1]
    invoke_id = value["invokeId"]
    iid = _int_tlv(invoke_id[1]) if invoke_id[0] == "present" else b"\x05\x00"
    if kind == "returnResult":
        body = _result_bytes(value)
        return None if body is None else ber.tlv(_RESULT_TAGS[kind], iid + body)
    if kind == "returnError":
        return ber.tlv(_RESULT_TAGS[kind], iid + _int_tlv(value["errcode"][1]))
    if kind == "reject":
        family, problem = value["problem"]
        code = _PROBLEMS.get(problem) if isinstance(problem, str) else problem
        if code is None:
            return None
        return ber.tlv(_RESULT_TAGS[kind], iid + ber.tlv(_PROBLEM_TAGS[family], bytes([code])))
    return None


class EndTemplate:
    """Ends of one shape (context, one returnResult, otid length) with the dtid put in."""

    __slots__ = ("_head", "_tail")

    def __init__(self, name: ContextName | None, components: list[Component], size: int) -> None:
        whole = _end_bytes(bytes(size), name, components)
        at = ber.read(whole, ber.read(whole, 0, len(whole)).start, len(whole)).start
        self._head = whole[:at]
        self._tail = whole[at + size :]

    def encode(self, otid: bytes) -> bytes:
        return self._head + otid + self._tail


_TEMPLATES: dict[tuple[Any, ...], EndTemplate] = {}


def encode_end(otid: bytes, name: ContextName | None, components: list[Component]) -> bytes:
    """End with dtid = `otid`, the accepted AARE of the application context `name` (None: no
    dialogue portion, MAP v1) and the components; pycrate encodes any component it does not
    know. The common End (one returnResult) comes from an `EndTemplate` made once per
    (context, result, invokeId, otid length)."""
    if len(components) == 1 and components[0][1][0] == "returnResult":
        value = components[0][1][1]
        result_name, result = value["result"]["result"]
        status = result["equipmentStatus"] if isinstance(result, dict) else result
        key = (name, result_name, status, value["invokeId"], len(otid))
        template = _TEMPLATES.get(key)
        if template is None:
            template = EndTemplate(name, components, len(otid))
            if len(_TEMPLATES) < 65536:
                _TEMPLATES[key] = template
        return template.encode(otid)
    return _end_bytes(otid, name, components)


def _end_bytes(otid: bytes, name: ContextName | None, components: list[Component]) -> bytes:
    """The End by our BER encoder, or by pycrate when a component is not one it knows."""
    parts = [ber.tlv(0x49, otid)]
    if name is not None:
        parts.append(_aare_portion(name))
    if components:
        encoded = [_component_bytes(c) for c in components]
        if any(e is None for e in encoded):
            end: dict[str, Any] = {"dtid": otid, "components": components}
            if name is not None:
                end["dialoguePortion"] = aare(name, True)
            return encode(("end", end))
        parts.append(ber.tlv(0x6C, b"".join(e for e in encoded if e is not None)))
    return ber.tlv(0x64, b"".join(parts))


def encode_end_pycrate(otid: bytes, name: ContextName | None, components: list[Component]) -> bytes:
    """The same End through pycrate (the reference for tests)."""
    end: dict[str, Any] = {"dtid": otid}
    if name is not None:
        end["dialoguePortion"] = aare(name, True)
    if components:
        end["components"] = components
    return encode(("end", end))
