"""Helpers for the MAP tests: Begins as an MSC/VLR sends them, and the decoded answers."""

from __future__ import annotations

from typing import Any

from pycrate_asn1dir import TCAP_MAPv2v3

from eir.config import PolicyConfig
from eir.identity import Imei
from eir.policy import decide
from eir.sigtran.tcap import TcapServer, _dialogue, encode
from tests.diameter_support import demo_store

MSG = TCAP_MAPv2v3.TCAP_MAP_Messages.TCAP_MAP_Message
BLACK = Imei("49015420323751").to_tbcd()
WHITE = Imei("35209900176148").to_tbcd()
OTID = b"\x00\x00\x12\x34"


def invoke(argument: Any, invoke_id: int = 1, opcode: int = 43) -> tuple[str, Any]:
    value: dict[str, Any] = {"invokeId": ("present", invoke_id), "opcode": ("local", opcode)}
    if argument is not None:
        value["argument"] = argument
    return ("basicROS", ("invoke", value))


def argument(version: int, imei: bytes) -> tuple[str, Any]:
    if version == 3:
        return ("CheckIMEI-Arg", {"imei": imei, "requestedEquipmentInfo": (2, 2)})
    return ("IMEI", imei)


def begin(version: int | None, components: list[tuple[str, Any]],
          acn: tuple[int, ...] | None = None) -> bytes:
    body: dict[str, Any] = {"otid": OTID, "components": components}
    if version is not None or acn is not None:
        name = acn or (0, 4, 0, 0, 1, 0, 13, version)
        body["dialoguePortion"] = _dialogue(("dialogueRequest", {
            "protocol-version": (1, 1), "application-context-name": name}))
    if not components:
        del body["components"]
    return encode(("begin", body))


def check_imei(version: int, imei: bytes = BLACK) -> bytes:
    """A Begin with one CheckIMEI of `version` (v1: no dialogue portion)."""
    return begin(None if version == 1 else version, [invoke(argument(version, imei))])


def server(policy: PolicyConfig | None = None) -> TcapServer:
    settings = policy or PolicyConfig()
    store = demo_store()
    return TcapServer(lambda req: decide(req, store.lookup, settings))


def decoded(buf: bytes | None) -> tuple[str, Any]:
    assert buf is not None
    MSG.from_ber(buf, single=True)
    value: tuple[str, Any] = MSG.get_val()
    return value
