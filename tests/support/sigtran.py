"""Helpers for the MAP tests: Begins as an MSC/VLR sends them, and the decoded answers."""

from __future__ import annotations

import socket
import time
from typing import Any

from pycrate_asn1dir import TCAP_MAPv2v3

from eir.config import PolicyConfig
from eir.identity import Imei
from eir.policy import decide
from eir.sigtran import m3ua, msc, sccp
from eir.sigtran.checkimei import CheckImei
from eir.sigtran.m3ua import ProtocolData
from eir.sigtran.m3ua_asp import AspConnection, AspState, DataReceived, M3uaSettings, Side
from eir.sigtran.tcap import TcapServer
from tests.support.diameter import demo_store

MSG = TCAP_MAPv2v3.TCAP_MAP_Messages.TCAP_MAP_Message
BLACK = Imei("49015420323751").to_tbcd()
WHITE = Imei("35209900176148").to_tbcd()
OTID = b"\x00\x00\x12\x34"


def invoke(argument: Any, invoke_id: int = 1, opcode: int = 43) -> tuple[str, Any]:
    return msc.invoke(argument, invoke_id, opcode)


def argument(version: int, imei: bytes) -> tuple[str, Any]:
    return msc.argument(version, imei)


def begin(
    version: int | None, components: list[tuple[str, Any]], acn: tuple[int, ...] | None = None
) -> bytes:
    return msc.encode_begin(version, components, OTID, acn)


def check_imei(version: int, imei: bytes = BLACK) -> bytes:
    """A Begin with one CheckIMEI of `version` (v1: no dialogue portion)."""
    return msc.encode_check_imei(version, imei, OTID)


def server(policy: PolicyConfig | None = None) -> TcapServer:
    settings = policy or PolicyConfig()
    store = demo_store()
    return TcapServer(CheckImei(lambda req: decide(req, store.lookup, settings)))


def decoded(buf: bytes | None) -> tuple[str, Any]:
    assert buf is not None
    MSG.from_ber(buf, single=True)
    value: tuple[str, Any] = MSG.get_val()
    return value


# --- an MSC/VLR over a real socket -------------------------------------------------------------


EIR_ADDRESS = sccp.Address(True, 9, None, sccp.GlobalTitle(4, "491720000009"))
MSC_ADDRESS = sccp.Address(True, 8, None, sccp.GlobalTitle(4, "491720000008"))


def over_sccp(
    tcap: bytes,
    kind: int = sccp.UDT,
    called: sccp.Address = EIR_ADDRESS,
    return_on_error: bool = True,
) -> ProtocolData:
    data = sccp.encode(
        kind,
        called.encode(),
        MSC_ADDRESS.encode(),
        tcap,
        protocol_class=1,
        return_on_error=return_on_error,
    )
    return ProtocolData(opc=100, dpc=200, si=3, ni=2, mp=0, sls=3, data=data)


class Msc:
    """An MSC/VLR ASP over a plain TCP socket, driving our own ASP state machine."""

    def __init__(self, port: int, host: str = "127.0.0.1", source: str | None = None) -> None:
        self.sock = socket.create_connection(
            (host, port), timeout=10, source_address=None if source is None else (source, 0)
        )
        self.conn = AspConnection(M3uaSettings(), Side.ASP, time.monotonic())
        self._flush()
        while self.conn.state is not AspState.ACTIVE:
            self._read()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _read(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.conn.receive_data(data, time.monotonic())
        self._flush()

    def exchange(self, pd: ProtocolData) -> ProtocolData:
        self.sock.sendall(m3ua.encode_data(pd))
        while True:
            event = self.conn.next_event()
            if isinstance(event, DataReceived):
                return event.data
            if event is None:
                self._read()

    def check(self, version: int, imei: bytes) -> Any:
        answer = self.exchange(over_sccp(check_imei(version, imei)))
        unitdata = sccp.decode(answer.data)
        assert unitdata.called == MSC_ADDRESS and answer.dpc == 100 and answer.opc == 200
        return decoded(unitdata.data)

    def close(self) -> None:
        self.conn.shutdown()
        self._flush()
        self.sock.close()


class Gateway:
    """The SG side, on a blocking socket read in a thread: our own SGP state machine."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.settimeout(10.0)
        self.sgp = AspConnection(M3uaSettings(), Side.SGP, time.monotonic())
        self.kinds: list[m3ua.MsgType] = []
        self._buf = b""

    def read_message(self) -> bytes | None:
        """The next whole M3UA message; None at the end of the stream (a reset raises)."""
        while len(self._buf) < 8 or len(self._buf) < int.from_bytes(self._buf[4:8], "big"):
            data = self.sock.recv(65536)
            if not data:
                return None
            self._buf += data
        length = int.from_bytes(self._buf[4:8], "big")
        message, self._buf = self._buf[:length], self._buf[length:]
        self.kinds.append(m3ua.decode(message).kind)
        return message

    def handshake(self) -> None:
        while self.sgp.state is not AspState.ACTIVE:
            message = self.read_message()
            assert message is not None
            self.sgp.receive_data(message, time.monotonic())
            self.sock.sendall(self.sgp.data_to_send())
        while self.sgp.next_event() is not None:
            pass
