"""``eir-sim replay``: PDUs from .hex files or a pcap sent to an EIR, answers printed decoded.

What is sent:
* S13: every Diameter request of an application (ECRs, and anything else: the EIR's answer is
  the point); base-protocol messages of a capture (CER, DWR, DPR) are left out, since replay
  makes its own capabilities exchange;
* MAP: every TCAP Begin. A .hex file may hold M3UA DATA, an SCCP UDT/XUDT or a bare TCAP
  message; SCCP and TCAP are wrapped in M3UA DATA (and SCCP) as the simulator sends them.
  From a pcap, M3UA DATA carrying a Begin.
"""

from __future__ import annotations

import selectors
import sys
import time
from pathlib import Path
from typing import Any, Final, TextIO

from pycrate_asn1dir import TCAP_MAPv2v3 as _asn

from eir.diameter import codec, wire
from eir.diameter.dictionary import APP_COMMON, FLAG_R, AvpCode, DisconnectCause
from eir.diameter.errors import DiameterError
from eir.diameter.message import Avp, Message
from eir.diameter.node import NodeIdentity
from eir.diameter.peer import AnswerReceived, PeerConnection, PeerDown, PeerSettings, Role, State
from eir.framing import DIAMETER, M3UA
from eir.sigtran import m3ua, sccp
from eir.sigtran.m3ua import M3uaError
from eir.sigtran.m3ua_asp import AspConnection, AspState, Closed, DataReceived, M3uaSettings, Side
from sim import msc_role as map_role
from sim.link import Link, TargetError, connect, parse_target
from sim.pcap import PcapError, pdus

_TCAP = _asn.TCAP_MAP_Messages.TCAP_MAP_Message
_AVP_NAMES = {int(code): code.name.replace("_", "-").title() for code in AvpCode} | {
    AvpCode.IMEI: "IMEI",
    AvpCode.MEID_3GPP2: "3GPP2-MEID",
    AvpCode.DRMP: "DRMP",
    AvpCode.HOST_IP_ADDRESS: "Host-IP-Address",
    AvpCode.INBAND_SECURITY_ID: "Inband-Security-Id",
}


class ReplayError(Exception):
    pass


def read_hex(path: str) -> bytes:
    text = Path(path).read_text()
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    digits = "".join("".join(lines).split())
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise ReplayError(f"{path}: not hexadecimal digits") from None


def guess(pdu: bytes) -> str:
    """s13 or map, from the first bytes."""
    if len(pdu) >= M3UA.header_len and pdu[0] == 1 and pdu[1] == 0 and M3UA.length(pdu) == len(pdu):
        return "map"
    if len(pdu) >= DIAMETER.header_len and pdu[0] == 1 and DIAMETER.length(pdu) == len(pdu):
        return "s13"
    if pdu[:1] in (b"\x62", bytes([sccp.UDT]), bytes([sccp.XUDT])):
        return "map"
    raise ReplayError("neither a Diameter message, M3UA, SCCP nor TCAP")


def _wanted(protocol: str, pdu: bytes) -> bool:
    if protocol == "s13":
        return (
            len(pdu) >= 20
            and bool(pdu[4] & FLAG_R)
            and int.from_bytes(pdu[8:12], "big") != APP_COMMON
        )
    if pdu[:4] != b"\x01\x00\x01\x01":
        return False
    try:
        fast = m3ua.scan_data(pdu)
        return fast is not None and sccp.scan_unitdata(fast[0].data).data[:1] == b"\x62"
    except sccp.SccpError:
        return False


#: the framing of each protocol replay sends
FRAMINGS: Final = {"s13": DIAMETER, "map": M3UA}


def _from_capture(
    path: str, raw: bytes, protocol: str | None
) -> tuple[str, list[tuple[str, bytes]]]:
    """The protocol and the wanted PDUs of a capture: those of `protocol`, or else of the
    first protocol (S13, then MAP) that has any."""
    for kind in (protocol,) if protocol is not None else tuple(FRAMINGS):
        try:
            cut = pdus(raw, FRAMINGS[kind])
        except PcapError as exc:
            raise ReplayError(f"{path}: {exc}") from None
        found = [(f"{path} #{i + 1}", p) for i, (_, p) in enumerate(cut) if _wanted(kind, p)]
        if found:
            return kind, found
    raise ReplayError(f"{path}: no ECR or TCAP Begin found")


def collect(files: list[str], protocol: str | None) -> tuple[str, list[tuple[str, bytes]]]:
    items: list[tuple[str, bytes]] = []
    for path in files:
        raw = Path(path).read_bytes() if Path(path).exists() else None
        if raw is None:
            raise ReplayError(f"{path}: no such file")
        if path.endswith((".pcap", ".cap", ".pcapng")) or raw[:4] in (
            b"\xd4\xc3\xb2\xa1",
            b"\xa1\xb2\xc3\xd4",
            b"\x0a\x0d\x0d\x0a",
        ):
            kind, found = _from_capture(path, raw, protocol)
            protocol = protocol or kind
            items.extend(found)
        else:
            items.append((path, read_hex(path)))
    if not items:
        raise ReplayError("nothing to send")
    chosen = protocol or guess(items[0][1])
    return chosen, items


def _as_data(pdu: bytes) -> bytes:
    """M3UA DATA as is; SCCP or TCAP wrapped as the simulator sends them."""
    if guess(pdu) == "map" and pdu[:1] == b"\x01":
        return pdu
    options = map_role.MapOptions()
    if pdu[:1] == b"\x62":
        return map_role.data_message(options, pdu)
    pd = m3ua.ProtocolData(
        opc=options.opc, dpc=options.dpc, si=3, ni=options.ni, mp=0, sls=0, data=pdu
    )
    return m3ua.encode_data(pd)


def describe_diameter(buf: bytes) -> str:
    try:
        wire.check_message(buf)
        msg = codec.decode_message_pycrate(buf)
    except (DiameterError, ValueError) as exc:
        return f"undecodable Diameter message ({exc}): {buf.hex()}"
    kind = "request" if msg.is_request else "answer"
    lines = [
        f"Diameter {kind} command {msg.code} application {msg.app} flags {msg.flags:#04x} "
        f"hop-by-hop {msg.hbh:#010x} end-to-end {msg.e2e:#010x}"
    ]
    lines.extend(_avp_lines(msg.avps, 1))
    return "\n".join(lines)


def _avp_lines(avps: tuple[Avp, ...], depth: int) -> list[str]:
    out = []
    for avp in avps:
        name = _AVP_NAMES.get(avp.code, f"AVP {avp.code}")
        vendor = f" vendor {avp.vendor}" if avp.vendor else ""
        if avp.group is not None:
            out.append(f"{'  ' * depth}{name}{vendor}:")
            out.extend(_avp_lines(avp.group, depth + 1))
            continue
        data = avp.data
        if len(data) == 4 and avp.code not in (AvpCode.USER_NAME,):
            shown = str(int.from_bytes(data, "big"))
        elif data and all(32 <= b < 127 for b in data):
            shown = repr(data.decode())
        else:
            shown = data.hex()
        out.append(f"{'  ' * depth}{name}{vendor}: {shown}")
    return out


def describe_map(pd: m3ua.ProtocolData) -> str:
    lines = [f"M3UA DATA OPC {pd.opc} DPC {pd.dpc} SI {pd.si} NI {pd.ni} SLS {pd.sls}"]
    try:
        unit = sccp.decode(pd.data)
    except sccp.SccpError as exc:
        return "\n".join([*lines, f"  undecodable SCCP ({exc}): {pd.data.hex()}"])
    names = {sccp.UDT: "UDT", sccp.XUDT: "XUDT", sccp.UDTS: "UDTS", sccp.XUDTS: "XUDTS"}
    cause = "" if unit.cause is None else f" return cause {unit.cause}"
    lines.append(
        f"  SCCP {names.get(unit.kind, unit.kind)}{cause} called "
        f"{_address(unit.called)}, calling {_address(unit.calling)}"
    )
    try:
        _TCAP.from_ber(unit.data, single=True)
        text: str = _TCAP.to_asn1()
    except Exception as exc:  # noqa: BLE001  # pycrate raises many types for bad bytes
        text = f"undecodable TCAP ({exc}): {unit.data.hex()}"
    lines.extend("  " + line for line in text.splitlines())
    return "\n".join(lines)


def _address(address: sccp.Address) -> str:
    parts = []
    if address.pc is not None:
        parts.append(f"PC {address.pc}")
    if address.ssn is not None:
        parts.append(f"SSN {address.ssn}")
    if address.gt is not None:
        parts.append(f"GT {address.gt.digits}")
    return " ".join(parts) or "(empty)"


class _Session:
    def __init__(self, link: Link, protocol: str, timeout: float) -> None:
        self.link = link
        self.protocol = protocol
        self.timeout = timeout
        self.sel = selectors.DefaultSelector()
        self.sel.register(link.sock, selectors.EVENT_READ)
        now = time.monotonic()
        self.peer: PeerConnection | None = None
        self.asp: AspConnection | None = None
        if protocol == "s13":
            local = NodeIdentity("replay.sim.example", "sim.example", product_name="eir-sim")
            self.peer = PeerConnection(PeerSettings(node=local), Role.INITIATOR, now)
        else:
            self.asp = AspConnection(M3uaSettings(), Side.ASP, now)
        self._flush()

    def _flush(self) -> None:
        machine: Any = self.peer or self.asp
        self.link.send(machine.data_to_send())
        self.link.flush()

    def _read(self, deadline: float) -> None:
        if not self.sel.select(max(0.0, deadline - time.monotonic())):
            return
        try:
            data = self.link.recv()
        except BlockingIOError:
            return
        if not data:
            raise ReplayError("the EIR closed the connection")
        machine: Any = self.peer or self.asp
        machine.receive_data(data, time.monotonic())
        self._flush()

    def handshake(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.peer is not None and self.peer.state is State.OPEN:
                return
            if self.asp is not None and self.asp.state is AspState.ACTIVE:
                return
            if (self.peer is not None and self.peer.closed) or (self.asp and self.asp.closed):
                raise ReplayError(f"handshake failed: {self._why()}")
            self._read(deadline)
        raise ReplayError("no answer to the handshake (CER, or ASPUP/ASPAC)")

    def _why(self) -> str:
        machine: Any = self.peer or self.asp
        while (event := machine.next_event()) is not None:
            if isinstance(event, PeerDown | Closed):
                return str(event.reason)
        return "closed"

    def exchange(self, pdu: bytes) -> str | None:
        """Send one PDU; the answer decoded, or None after the timeout."""
        self.link.send(pdu)
        self.link.flush()
        deadline = time.monotonic() + self.timeout
        machine: Any = self.peer or self.asp
        while time.monotonic() < deadline:
            while (event := machine.next_event()) is not None:
                if isinstance(event, AnswerReceived):
                    return describe_diameter(event.message)
                if isinstance(event, DataReceived):
                    return describe_map(event.data)
                if isinstance(event, PeerDown | Closed):
                    raise ReplayError(f"connection closed: {event.reason}")
            self._read(deadline)
        return None

    def close(self) -> None:
        if self.peer is not None:
            self.peer.disconnect(DisconnectCause.DO_NOT_WANT_TO_TALK_TO_YOU, time.monotonic())
        elif self.asp is not None:
            self.asp.shutdown()
        self._flush()
        self.link.close()


def replay(
    files: list[str],
    target_text: str,
    protocol: str | None,
    handshake: bool,
    timeout: float,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Exit 0 when every PDU was answered, 1 when one was not, 2 for bad input."""
    try:
        target = parse_target(target_text)
        chosen, items = collect(files, protocol)
        if chosen == "map":
            items = [(name, _as_data(pdu)) for name, pdu in items]
    except (ReplayError, TargetError, OSError) as exc:
        print(f"eir-sim: {exc}", file=err)
        return 2
    try:
        link = connect(target, FRAMINGS[chosen], timeout=timeout)
    except OSError as exc:
        print(f"eir-sim: {target}: cannot connect: {exc.strerror or exc}", file=err)
        return 1
    unanswered = 0
    try:
        session = _Session(link, chosen, timeout)
        if handshake:
            session.handshake()
        elif session.peer is not None:  # pretend the exchange happened: send as they are
            session.peer.state = State.OPEN
        elif session.asp is not None:
            session.asp.state = AspState.ACTIVE
        for name, pdu in items:
            sent = describe_diameter(pdu) if chosen == "s13" else describe_map(_unpack(pdu))
            print(f"--> {name}\n{sent}", file=out)
            answer = session.exchange(pdu)
            if answer is None:
                unanswered += 1
                print(f"<-- no answer within {timeout:g} s", file=out)
            else:
                print(f"<-- {answer}", file=out)
        session.close()
    except (ReplayError, M3uaError, OSError) as exc:
        print(f"eir-sim: {exc}", file=err)
        return 1
    return 1 if unanswered else 0


def _unpack(pdu: bytes) -> m3ua.ProtocolData:
    fast = m3ua.scan_data(pdu)
    if fast is None:
        raw = m3ua.decode(pdu).get(m3ua.Tag.PROTOCOL_DATA)
        if raw is None:
            raise ReplayError("M3UA DATA without Protocol Data")
        return m3ua.ProtocolData.unpack(raw)
    return fast[0]


__all__ = ["Message", "collect", "describe_diameter", "describe_map", "replay"]
