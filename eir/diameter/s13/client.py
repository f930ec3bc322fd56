"""The S13 client side, an MME's (3GPP TS 29.272 clause 5.3): the ECR it sends (7.2.19) and
what it reads in the ECA (7.2.20). For `eir-sim`, the tests and the benchmarks."""

from __future__ import annotations

from typing import NamedTuple

from eir.diameter.dictionary import (
    APP_S13,
    FLAG_P,
    FLAG_R,
    VENDOR_3GPP,
    AuthSessionState,
    AvpCode,
    Command,
)
from eir.diameter.message import Avp, Message, as_u32, grouped, octets, unsigned32
from eir.model import EquipmentStatus


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
    return Message(Command.ME_IDENTITY_CHECK, APP_S13, FLAG_R | FLAG_P, hbh, e2e, tuple(avps))


class EcaView(NamedTuple):
    """What a client reads in an ECA."""

    result_code: int | None
    experimental_result: int | None
    equipment_status: EquipmentStatus | None
    session_id: bytes | None


def decode_eca(msg: Message) -> EcaView:
    """What a client reads in an ECA (or an error answer), from its decoded Message."""
    result = msg.find(AvpCode.RESULT_CODE)
    status = msg.find(AvpCode.EQUIPMENT_STATUS, VENDOR_3GPP)
    session = msg.find(AvpCode.SESSION_ID)
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
        None if session is None else session.data,
    )
