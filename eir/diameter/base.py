"""Base protocol messages of RFC 6733 section 5: CER/CEA, DWR/DWA, DPR/DPA and the generic
answer-message of section 7.2, as Message values (encoded by `eir.diameter.codec`). The
application advertised is the node's (`NodeIdentity.application`)."""

from __future__ import annotations

from eir.diameter.dictionary import (
    APP_COMMON,
    APP_RELAY,
    FLAG_R,
    ApplicationId,
    AvpCode,
    Command,
    ResultCode,
    is_protocol_error,
)
from eir.diameter.message import (
    Avp,
    Message,
    address,
    answer_flags,
    grouped,
    octets,
    unsigned32,
)
from eir.diameter.node import NodeIdentity


def _origin(node: NodeIdentity) -> tuple[Avp, Avp]:
    return (
        octets(AvpCode.ORIGIN_HOST, node.origin_host),
        octets(AvpCode.ORIGIN_REALM, node.origin_realm),
    )


def _capabilities(node: NodeIdentity) -> tuple[Avp, ...]:
    app = node.application
    return (
        *(address(AvpCode.HOST_IP_ADDRESS, ip) for ip in node.host_ip_addresses),
        unsigned32(AvpCode.VENDOR_ID, node.vendor_id),
        octets(AvpCode.PRODUCT_NAME, node.product_name, mandatory=False),
        unsigned32(AvpCode.ORIGIN_STATE_ID, node.origin_state_id),
        unsigned32(AvpCode.SUPPORTED_VENDOR_ID, app.vendor_id),
        unsigned32(AvpCode.AUTH_APPLICATION_ID, app.auth_application_id),
        grouped(
            AvpCode.VENDOR_SPECIFIC_APPLICATION_ID,
            (
                unsigned32(AvpCode.VENDOR_ID, app.vendor_id),
                unsigned32(AvpCode.AUTH_APPLICATION_ID, app.auth_application_id),
            ),
        ),
        unsigned32(AvpCode.FIRMWARE_REVISION, node.firmware_revision, mandatory=False),
    )


def request(code: Command, avps: tuple[Avp, ...], hbh: int, e2e: int) -> Message:
    return Message(code, APP_COMMON, FLAG_R, hbh, e2e, avps)


def cer(node: NodeIdentity, hbh: int, e2e: int) -> Message:
    return request(Command.CAPABILITIES_EXCHANGE, (*_origin(node), *_capabilities(node)), hbh, e2e)


def cea(
    node: NodeIdentity,
    req: Message,
    result: ResultCode = ResultCode.DIAMETER_SUCCESS,
    text: str | None = None,
    failed: Avp | None = None,
) -> Message:
    """CEA (RFC 6733 5.3.2): Result-Code first, then who we are, then what we support."""
    caps = _capabilities(node)
    extra = _diagnostics(text, failed)
    # Origin-State-Id comes before Error-Message / Failed-AVP in the CEA's ABNF.
    body = (caps[: len(node.host_ip_addresses) + 3], extra, caps[len(node.host_ip_addresses) + 3 :])
    avps = (unsigned32(AvpCode.RESULT_CODE, result), *_origin(node), *body[0], *body[1], *body[2])
    return _answer(req, avps, is_protocol_error(result))


def dwr(node: NodeIdentity, hbh: int, e2e: int) -> Message:
    return request(
        Command.DEVICE_WATCHDOG,
        (*_origin(node), unsigned32(AvpCode.ORIGIN_STATE_ID, node.origin_state_id)),
        hbh,
        e2e,
    )


def dwa(node: NodeIdentity, req: Message) -> Message:
    return _answer(
        req,
        (
            unsigned32(AvpCode.RESULT_CODE, ResultCode.DIAMETER_SUCCESS),
            *_origin(node),
            unsigned32(AvpCode.ORIGIN_STATE_ID, node.origin_state_id),
        ),
        False,
    )


def dpr(node: NodeIdentity, cause: int, hbh: int, e2e: int) -> Message:
    return request(
        Command.DISCONNECT_PEER,
        (*_origin(node), unsigned32(AvpCode.DISCONNECT_CAUSE, cause)),
        hbh,
        e2e,
    )


def dpa(node: NodeIdentity, req: Message) -> Message:
    return _answer(
        req, (unsigned32(AvpCode.RESULT_CODE, ResultCode.DIAMETER_SUCCESS), *_origin(node)), False
    )


def error_answer(
    node: NodeIdentity,
    req: Message,
    result: ResultCode,
    text: str | None = None,
    failed: Avp | None = None,
    session_id: bytes | None = None,
) -> Message:
    """RFC 6733 7.2 answer-message: [Session-Id] Origin-Host, Origin-Realm, Result-Code, ...
    with the E bit for protocol errors (3xxx)."""
    session = () if session_id is None else (octets(AvpCode.SESSION_ID, session_id),)
    avps = (
        *session,
        *_origin(node),
        unsigned32(AvpCode.RESULT_CODE, result),
        *_diagnostics(text, failed),
        *req.find_all(AvpCode.PROXY_INFO),
    )
    return _answer(req, avps, is_protocol_error(result))


def _diagnostics(text: str | None, failed: Avp | None) -> tuple[Avp, ...]:
    out: list[Avp] = []
    if text:
        out.append(octets(AvpCode.ERROR_MESSAGE, text[:200], mandatory=False))
    if failed is not None:
        out.append(grouped(AvpCode.FAILED_AVP, (failed,)))
    return tuple(out)


def _answer(req: Message, avps: tuple[Avp, ...], error: bool) -> Message:
    return Message(req.code, req.app, answer_flags(req.flags, error), req.hbh, req.e2e, avps)


def advertises(msg: Message, app: ApplicationId) -> bool:
    """Does a CER/CEA name `app` (or the relay application) among its applications?"""
    auth = (app.auth_application_id, APP_RELAY)
    for avp in msg.avps:
        if avp.vendor != 0:
            continue
        if avp.code == AvpCode.AUTH_APPLICATION_ID and _app_in(avp, auth):
            return True
        if avp.code == AvpCode.ACCT_APPLICATION_ID and _app_in(avp, (APP_RELAY,)):
            return True
        if avp.code == AvpCode.VENDOR_SPECIFIC_APPLICATION_ID and any(
            c.code == AvpCode.AUTH_APPLICATION_ID and _app_in(c, auth) for c in avp.group or ()
        ):
            return True
    return False


def _app_in(avp: Avp, apps: tuple[int, ...]) -> bool:
    return len(avp.data) == 4 and int.from_bytes(avp.data, "big") in apps


def result_code(msg: Message) -> int | None:
    avp = msg.find(AvpCode.RESULT_CODE)
    if avp is None or len(avp.data) != 4:
        return None
    return int.from_bytes(avp.data, "big")


def text_of(msg: Message, code: int) -> str | None:
    avp = msg.find(code)
    return None if avp is None else avp.data.decode("utf-8", "replace")
