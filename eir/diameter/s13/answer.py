"""S13 answers (3GPP TS 29.272 clause 7.2.20 ECA) and the error answers of RFC 6733 clause 7.

The common answers (an ECA per Equipment-Status, 5422 unknown equipment, 3004 busy) are
templates encoded once by pycrate, into which each answer copies the request's ids and
Session-Id AVP; the others are built as Message values and encoded by
`eir.diameter.wire.encode_message`.
"""

from __future__ import annotations

import struct
from collections import Counter

from eir.diameter import codec
from eir.diameter.dictionary import (
    APP_S13,
    FLAG_E,
    FLAG_P,
    VENDOR_3GPP,
    AuthSessionState,
    AvpCode,
    ResultCode,
    is_protocol_error,
)
from eir.diameter.errors import DiameterError
from eir.diameter.message import Avp, Message, answer_flags, grouped, octets, unsigned32
from eir.diameter.node import NodeIdentity
from eir.diameter.s13.request import EcrFields
from eir.diameter.wire import encode_message
from eir.model import EquipmentStatus

_HEAD = struct.Struct(">I I I I I")
_VERSION_1 = b"\x01"
# flags + command code + Application-Id of an ECA, with and without the P bit
_ECA_FLAGS_P = bytes([FLAG_P]) + (324).to_bytes(3, "big") + APP_S13.to_bytes(4, "big")
_ECA_FLAGS = b"\x00" + (324).to_bytes(3, "big") + APP_S13.to_bytes(4, "big")


class Answers:
    """Builds ECAs and error answers. The common ones come from templates encoded once by
    pycrate; the rest are built as Messages and encoded by `wire.encode_message`."""

    def __init__(self, local: NodeIdentity) -> None:
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
            self.bodies[status] = b"".join(codec.encode_avp_pycrate(a) for a in avps)
        busy = self.error_avps(ResultCode.DIAMETER_TOO_BUSY, None, None)
        self.busy_body = b"".join(codec.encode_avp_pycrate(a) for a in busy)

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
        return encode_message(msg)

    def encode_eca(
        self, request: Message, fields: EcrFields, status: EquipmentStatus | None
    ) -> bytes:
        msg = self.answer_message(
            request, self.eca_avps(status), fields.session_id, fields.proxy_info, False
        )
        # Not pycrate: it needs about 0.25 ms per AVP, and the Proxy-Info echoed can hold
        # hundreds (up to wire.MAX_AVPS). `encode_message` is held byte for byte to it by tests.
        return encode_message(msg)
