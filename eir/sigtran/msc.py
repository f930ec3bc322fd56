"""The MSC/VLR side of MAP CheckIMEI (3GPP TS 29.002 op 43): the Begins it sends and the reading
of what comes back. Sans-IO; for clients, the simulator (`eir-sim`) and tests.

Begins are encoded by pycrate (the codec of record). Sending many of them is done from a
`BeginTemplate`: one pycrate encoding per shape, with the transaction id and the IMEI octets
patched in, which tests hold byte for byte to pycrate's encoding of each.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pycrate_asn1dir import TCAP_MAPv2v3 as _asn

from eir.sigtran import checkimei, outcomes
from eir.sigtran.ber import tlv
from eir.sigtran.tcap import aarq, encode

_MSG = _asn.TCAP_MAP_Messages.TCAP_MAP_Message

#: what a template is built with, then patched: the IMEI octets of 13579246801357-9
_PLACEHOLDER_IMEI = bytes.fromhex("3175294608315379")
_PLACEHOLDER_OTID = b"\xa5\x5a\xc3\x3c"


def invoke(argument: Any, invoke_id: int = 1, opcode: int = checkimei.OPCODE) -> tuple[str, Any]:
    """An Invoke component (pycrate value); `argument` None leaves the parameter out."""
    value: dict[str, Any] = {"invokeId": ("present", invoke_id), "opcode": ("local", opcode)}
    if argument is not None:
        value["argument"] = argument
    return ("basicROS", ("invoke", value))


def argument(version: int, imei: bytes) -> tuple[str, Any]:
    """CheckIMEI's argument: IMEI (v1, v2) or CheckIMEI-Arg (v3, asking for the status only)."""
    if version == 3:
        return ("CheckIMEI-Arg", {"imei": imei, "requestedEquipmentInfo": (2, 2)})
    return ("IMEI", imei)


def encode_begin(
    version: int | None,
    components: list[tuple[str, Any]],
    otid: bytes,
    acn: tuple[int, ...] | None = None,
) -> bytes:
    """A TCAP Begin; with a dialogue portion (AARQ) for v2 and v3, without one for v1."""
    body: dict[str, Any] = {"otid": otid}
    if version is not None or acn is not None:
        body["dialoguePortion"] = aarq(acn or checkimei.acn(version or checkimei.HIGHEST))
    if components:
        body["components"] = components
    return encode(("begin", body))


def encode_check_imei(version: int, imei: bytes, otid: bytes, invoke_id: int = 1) -> bytes:
    """A Begin with one CheckIMEI of `version` (v1: no dialogue portion). The usual shape (8
    IMEI octets, a 4-byte otid, invoke id 1) comes from a `BeginTemplate` made once per
    version: pycrate's encoding costs about 1 ms a Begin, and a simulator makes thousands."""
    if len(imei) == 8 and len(otid) == 4 and invoke_id == 1:
        template = _TEMPLATES.get(version)
        if template is None:
            template = _TEMPLATES[version] = BeginTemplate(version)
        return template.encode(otid, imei)
    return encode_check_imei_pycrate(version, imei, otid, invoke_id)


def encode_check_imei_pycrate(version: int, imei: bytes, otid: bytes, invoke_id: int = 1) -> bytes:
    """`encode_check_imei`, always encoded by pycrate (the reference the templates are held to)."""
    return encode_begin(
        None if version == 1 else version, [invoke(argument(version, imei), invoke_id)], otid
    )


def encode_check_imei_with_imsi(
    version: int, imei: bytes, imsi: bytes, otid: bytes, invoke_id: int = 1
) -> bytes:
    """A CheckIMEI whose parameter carries the subscriber's IMSI (TBCD) after the IMEI, as some
    MSCs (Huawei) send it; an EIR with IMEI+IMSI pair entries uses it. v1 and v2 only: there the
    parameter is a bare OCTET STRING, and the IMSI follows it inside the Invoke."""
    if version == 3:
        raise ValueError("the IMSI after the IMEI is sent with MAP v1 and v2 only")
    return encode_with_parameter(version, tlv(0x04, imei) + tlv(0x04, imsi), otid, invoke_id)


def encode_with_parameter(
    version: int, parameter: bytes, otid: bytes, invoke_id: int = 1, opcode: int = checkimei.OPCODE
) -> bytes:
    """A Begin whose one Invoke carries `parameter` as raw BER (anything, even what pycrate
    refuses to encode: a 7-octet IMEI, say); the rest is pycrate's."""
    plain = _plain_begin(version, otid)
    component = tlv(0x02, bytes([invoke_id])) + tlv(0x02, bytes([opcode])) + parameter
    kept = plain[_header_length(plain) :]
    return tlv(0x62, kept + tlv(0x6C, tlv(0xA1, component)))


def _plain_begin(version: int, otid: bytes) -> bytes:
    """A Begin without components, pycrate-encoded once per version and patched with `otid`."""
    if len(otid) != 4:
        return encode_begin(None if version == 1 else version, [], otid)
    model = _PLAIN.get(version)
    if model is None:
        model = _PLAIN[version] = encode_begin(
            None if version == 1 else version, [], _PLACEHOLDER_OTID
        )
    at = model.index(b"\x48\x04" + _PLACEHOLDER_OTID) + 2
    return model[:at] + otid + model[at + 4 :]


def _header_length(buf: bytes) -> int:
    return 2 if buf[1] < 0x80 else 2 + (buf[1] & 0x7F)


class BeginTemplate:
    """Begins of one shape (version, with or without IMSI) with the otid and IMEI patched in."""

    __slots__ = ("_imei_at", "_otid_at", "_parts")

    def __init__(self, version: int, with_imsi: bytes | None = None) -> None:
        if with_imsi is None:
            model = encode_check_imei_pycrate(version, _PLACEHOLDER_IMEI, _PLACEHOLDER_OTID)
        else:
            model = encode_check_imei_with_imsi(
                version, _PLACEHOLDER_IMEI, with_imsi, _PLACEHOLDER_OTID
            )
        self._otid_at = model.index(b"\x48\x04" + _PLACEHOLDER_OTID) + 2
        self._imei_at = model.index(_PLACEHOLDER_IMEI)
        if model.count(_PLACEHOLDER_IMEI) != 1 or self._imei_at < self._otid_at:
            raise AssertionError("template placeholders are not unique")
        o, i = self._otid_at, self._imei_at
        self._parts = (model[:o], model[o + 4 : i], model[i + 8 :])

    def encode(self, otid: bytes, imei: bytes) -> bytes:
        """The Begin with a 4-byte otid and 8 IMEI octets."""
        head, middle, tail = self._parts
        return head + otid + middle + imei + tail


_TEMPLATES: dict[int, BeginTemplate] = {}
_PLAIN: dict[int, bytes] = {}


class MapAnswer(NamedTuple):
    """What came back, reduced to what a client checks.

    `kind` is ``result`` (with `status`: whiteListed, blackListed or greyListed), ``error``
    (`detail`: the MAP error's name), ``reject`` (`detail`: the problem), ``u-abort``,
    ``p-abort`` (`detail`: the cause) or ``other`` (a TCAP message that answers nothing).
    """

    kind: str
    status: str | None = None
    detail: str = ""
    dtid: bytes | None = None

    @property
    def outcome(self) -> str:
        """Its name as eir counts it (`eir.sigtran.outcomes`): ``result`` (the status apart),
        ``error:unknownEquipment``, ``reject:invoke:mistypedArgument``, ``p-abort:...``."""
        kind, detail = self.kind, self.detail
        if kind == "result":
            return outcomes.RESULT
        if kind == "error":
            return outcomes.error(detail)
        if kind == "reject":
            problem_type, _, problem = detail.partition(":")
            return outcomes.reject(problem_type, problem)
        if kind == "p-abort":
            return outcomes.p_abort(detail)
        if kind == "u-abort":
            return outcomes.u_abort(detail)
        return f"{kind}:{detail}" if detail else kind


#: Q.773 P-AbortCause
P_ABORT_CAUSES = (
    "unrecognizedMessageType",
    "unrecognizedTransactionID",
    "badlyFormattedTransactionPortion",
    "incorrectTransactionPortion",
    "resourceLimitation",
)


def dtid_of(buf: bytes) -> tuple[bytes, int] | None:
    """The destination transaction id of an End or Abort and where it ends, without decoding
    the rest (BER tag 0x49 first); None when it is not there."""
    if len(buf) < 4 or buf[0] not in (0x64, 0x67):
        return None
    pos = _header_length(buf)
    if pos + 2 > len(buf) or buf[pos] != 0x49:
        return None
    size = buf[pos + 1]
    end = pos + 2 + size
    if not 1 <= size <= 4 or end > len(buf):
        return None
    return buf[pos + 2 : end], end


def decode_answer(buf: bytes) -> MapAnswer:
    """Decode an End or Abort with pycrate; a message pycrate refuses raises ValueError."""
    try:
        _MSG.from_ber(buf, single=True)
        kind, body = _MSG.get_val()
    except Exception as exc:  # noqa: BLE001  (pycrate raises any type on bad bytes)
        raise ValueError(f"undecodable TCAP: {exc}") from None
    if not isinstance(body, dict):
        return MapAnswer("other", detail=str(kind))
    dtid = body.get("dtid")
    if kind == "abort":
        reason = body.get("reason")
        if reason is not None and reason[0] == "p-abortCause":
            cause = reason[1]
            if isinstance(cause, int) and 0 <= cause < len(P_ABORT_CAUSES):
                cause = P_ABORT_CAUSES[cause]
            return MapAnswer("p-abort", detail=str(cause), dtid=dtid)
        return MapAnswer("u-abort", detail=_u_abort_detail(reason), dtid=dtid)
    if kind != "end":
        return MapAnswer("other", detail=str(kind), dtid=dtid)
    components = body.get("components") or []
    if not components:
        return MapAnswer("other", detail="end without components", dtid=dtid)
    return _component(components[0], dtid)


def _u_abort_detail(reason: Any) -> str:
    try:
        pdu = reason[1]["encoding"][1][1]
        source, value = pdu[1]["result-source-diagnostic"]
    except (TypeError, KeyError, IndexError, ValueError):
        return ""
    if isinstance(value, int):
        names = _DIAGNOSTICS.get(source, ())
        return names[value] if 0 <= value < len(names) else str(value)
    return str(value)


#: Q.773 Associate-source-diagnostic
_DIAGNOSTICS = {
    "dialogue-service-user": ("null", "no-reason-given", "application-context-name-not-supported"),
    "dialogue-service-provider": ("null", "no-reason-given", "no-common-dialogue-portion"),
}


def _component(component: Any, dtid: bytes | None) -> MapAnswer:
    kind, value = component[1]
    if kind in ("returnResult", "returnResultNotLast"):
        result = value.get("result", {}).get("result")
        status = None
        if result is not None:
            _name, inner = result
            status = inner.get("equipmentStatus") if isinstance(inner, dict) else inner
        return MapAnswer("result", status=status, dtid=dtid)
    if kind == "returnError":
        code = value.get("errcode", ("local", -1))[1]
        return MapAnswer(
            "error", detail=checkimei.ERROR_NAMES.get(code, f"error {code}"), dtid=dtid
        )
    if kind == "reject":
        problem = value.get("problem", ("", ""))
        return MapAnswer("reject", detail=f"{problem[0]}:{_problem_name(problem)}", dtid=dtid)
    return MapAnswer("other", detail=str(kind), dtid=dtid)


_PROBLEMS = {
    "general": ("unrecognizedPDU", "mistypedPDU", "badlyStructuredPDU"),
    "invoke": (
        "duplicateInvocation",
        "unrecognizedOperation",
        "mistypedArgument",
        "resourceLimitation",
        "releaseInProgress",
        "unrecognizedLinkedId",
        "linkedResponseUnexpected",
        "unexpectedLinkedOperation",
    ),
    "returnResult": ("unrecognizedInvocation", "resultResponseUnexpected", "mistypedResult"),
}


def _problem_name(problem: tuple[str, Any]) -> str:
    kind, value = problem
    if isinstance(value, int):
        names = _PROBLEMS.get(kind, ())
        return names[value] if 0 <= value < len(names) else str(value)
    return str(value)
