"""The MAP client role: an MSC/VLR as an M3UA ASP (ASPUP, ASPAC, ASPDN on exit) sending TCAP
Begins with CheckIMEI v1, v2 or v3 in SCCP UDT or XUDT, and checking each End.

The ASP state machine is the daemon's own `eir.sigtran.m3ua_asp.AspConnection` on the ASP side, the
Begins come from `eir.sigtran.msc`, SCCP from `eir.sigtran.sccp` and M3UA DATA from
`eir.sigtran.m3ua`. Each distinct request is encoded once; a send patches in the TCAP otid
(the sequence number), which the End's dtid echoes. Answers are read by a cache keyed on the
bytes after the dtid; a new shape is decoded by pycrate once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from eir.config import PolicyConfig
from eir.devices.record import DeviceIndex
from eir.errors import IdentityError
from eir.framing import M3UA
from eir.identity import Imei, Imsi, luhn_digit, tbcd_encode
from eir.model import CheckRequest
from eir.policy import Lookup, Seen
from eir.sigtran import m3ua, msc, outcomes, sccp
from eir.sigtran.ber import tlv
from eir.sigtran.m3ua import M3uaError, ProtocolData, TrafficMode
from eir.sigtran.m3ua_asp import (
    AspConnection,
    AspState,
    Closed,
    ErrorReceived,
    M3uaSettings,
    Side,
)
from eir.sigtran.tcap import otid_of
from sim import expect
from sim.groups import GROUPS
from sim.probes import MAP_STATUS, Outcome, Probe, intern
from sim.workload import Draw

#: malformed Begins and what TS 29.002 / Q.773 make an EIR answer
MALFORMED: Final = {
    "bad-imei": outcomes.error("unexpectedDataValue"),  # a TBCD digit that is not decimal
    "wrong-size-imei": outcomes.reject("invoke", "mistypedArgument"),  # 7 octets
    "unknown-operation": outcomes.reject("invoke", "unrecognizedOperation"),  # opcode 99
    "no-argument": outcomes.error("dataMissing"),
    # truncated component portion
    "broken-tcap": outcomes.p_abort("badlyFormattedTransactionPortion"),
}
_OTID: Final = b"\x00\x00\x00\x00"
#: kinds sent with their IMSI in MAP v1 and v2 (the IMSI after the IMEI): pair entries and the
#: pairs of an identities scenario
WITH_IMSI: Final = frozenset(("pair", *GROUPS))
#: where the Message Length sits in a message, and the shortest one (`eir.framing.M3UA`)
_LENGTH_AT: Final = M3UA.length_offset
_LENGTH_END: Final = M3UA.length_end
_HEADER_LEN: Final = M3UA.header_len
WRONG_PARTY: Final = Outcome("sccp-called-party-mismatch")
WRONG_TYPE: Final = Outcome("sccp-type-mismatch")
EIR_ADDRESS: Final = sccp.Address(True, sccp.SSN_EIR, None, sccp.GlobalTitle(4, "491720000009"))
MSC_ADDRESS: Final = sccp.Address(True, sccp.SSN_MSC, None, sccp.GlobalTitle(4, "491720000008"))


@dataclass(frozen=True)
class MapOptions:
    version: int = 3
    sccp_type: str = "udt"  # or "xudt"
    opc: int = 100  # our (the MSC's) point code
    dpc: int = 200  # the EIR's
    ni: int = 2
    routing_context: int | None = None
    network_appearance: int | None = None
    traffic_mode: TrafficMode = TrafficMode.LOADSHARE
    called: sccp.Address = EIR_ADDRESS
    calling: sccp.Address = MSC_ADDRESS

    @property
    def kind(self) -> int:
        return sccp.XUDT if self.sccp_type == "xudt" else sccp.UDT


def expected(status: int | None) -> Outcome:
    if status is None:
        return intern(Outcome(outcomes.UNKNOWN_EQUIPMENT))
    return intern(Outcome(outcomes.RESULT, ("white", "black", "grey")[status]))


def _imei_octets(draw: Draw) -> bytes:
    if draw.kind == "anomaly" and draw.variant == "check-digit":
        wrong = str((int(luhn_digit(draw.imei14)) + 1) % 10)
        if wrong == "0":  # 0 is the spare digit a handset sends: not a check digit
            wrong = str((int(luhn_digit(draw.imei14)) + 2) % 10)
        return tbcd_encode(draw.imei14 + wrong)
    return Imei(draw.imei14).to_tbcd()


def tcap_of(draw: Draw, version: int, otid: bytes = _OTID) -> tuple[Probe, bytes]:
    """The probe (expected outcome left to `probe`) and its Begin."""
    octets = _imei_octets(draw)
    pair = draw.kind in WITH_IMSI and version < 3
    if draw.kind == "malformed":
        variant = draw.variant
        if variant == "bad-imei":
            begin = msc.encode_check_imei(version, b"\xab" + octets[1:], otid)
        elif variant == "wrong-size-imei":
            begin = msc.encode_with_parameter(version, tlv(0x04, octets[:7]), otid)
        elif variant == "unknown-operation":
            begin = msc.encode_begin(
                None if version == 1 else version,
                [msc.invoke(msc.argument(version, octets), opcode=99)],
                otid,
            )
        elif variant == "no-argument":
            begin = msc.encode_begin(None if version == 1 else version, [msc.invoke(None)], otid)
        else:
            whole = msc.encode_check_imei(version, octets, otid)
            begin = whole[:1] + bytes([whole[1] - 3]) + whole[2:-3]
        shown = f"tbcd {octets.hex()}"
        return Probe(draw.kind, shown, None, intern(Outcome(MALFORMED[variant])), variant), begin
    if pair:
        begin = msc.encode_check_imei_with_imsi(version, octets, tbcd_encode(draw.imsi, 8), otid)
    else:
        begin = msc.encode_check_imei(version, octets, otid)
    note = draw.variant if draw.kind in GROUPS else ""
    return Probe(draw.kind, octets.hex(), draw.imsi if pair else None, Outcome(""), note), begin


def probe(
    draw: Draw,
    options: MapOptions,
    policy: PolicyConfig,
    lookup: Lookup,
    devices: DeviceIndex | None = None,
    seen: Seen | None = None,
) -> tuple[Probe, bytes]:
    """The probe with its expected outcome, and the whole M3UA DATA (otid 0)."""
    made, begin = tcap_of(draw, options.version)
    if draw.kind != "malformed":
        try:
            imei = Imei.from_tbcd(bytes.fromhex(made.imei))
            imsi = Imsi.trusted(made.imsi) if made.imsi else None
            request = CheckRequest(imei, imsi, outcomes.PROTOCOL, version=options.version)
            decided = expect.decided(request, lookup, policy, devices, seen)
            status = None if decided.status is None else int(decided.status)
            made = made._replace(expected=expected(status), imei=_shown(imei))
        except IdentityError:
            made = made._replace(expected=intern(Outcome("error:unexpectedDataValue")))
    return made, data_message(options, begin)


def _shown(imei: Imei) -> str:
    return imei.key + (imei.check_digit or "")


def data_message(options: MapOptions, tcap: bytes) -> bytes:
    unitdata = sccp.encode(
        options.kind,
        options.called.encode(),
        options.calling.encode(),
        tcap,
        protocol_class=1,
        return_on_error=True,
    )
    pd = ProtocolData(
        opc=options.opc, dpc=options.dpc, si=3, ni=options.ni, mp=0, sls=0, data=unitdata
    )
    return m3ua.encode_data(pd, options.routing_context, options.network_appearance)


class Parts(list[tuple[bytes, bytes]]):
    """Each DATA message split around its TCAP otid, once for all connections."""

    def __init__(self, messages: list[bytes]) -> None:
        super().__init__()
        for message in messages:
            at = _otid_offset(message)
            self.append((message[:at], message[at + 4 :]))


class MapClient:
    """One association's client side: the ASP state machine plus the Begin/End hot path."""

    framing: Final = M3UA

    def __init__(self, options: MapOptions, messages: list[bytes] | Parts, now: float) -> None:
        rcs = () if options.routing_context is None else (options.routing_context,)
        self.asp = AspConnection(
            M3uaSettings(routing_contexts=rcs, traffic_mode=options.traffic_mode), Side.ASP, now
        )
        self.options = options
        self.failure = ""
        self._in = b""
        self._calling = options.calling.encode()
        self._kind = options.kind
        self.parts = messages if isinstance(messages, Parts) else Parts(messages)
        self.cache: dict[bytes, Outcome] = {}
        self._layouts: dict[int, tuple[int, bytes]] = {}
        self._shapes: dict[bytes, Outcome] = {}
        self._message = b""

    @property
    def ready(self) -> bool:
        return self.asp.state is AspState.ACTIVE

    @property
    def closed(self) -> bool:
        return self.asp.closed

    def poll_events(self) -> None:
        while (event := self.asp.next_event()) is not None:
            if isinstance(event, Closed):
                self.failure = event.reason
            elif isinstance(event, ErrorReceived):
                self.failure = f"the SG sent ERR {event.code}"

    def data_to_send(self) -> bytes:
        return self.asp.data_to_send()

    def get_timer(self) -> float | None:
        return self.asp.get_timer()

    def handle_timer(self, now: float) -> None:
        self.asp.handle_timer(now)

    def close(self, now: float) -> None:
        self.asp.shutdown()

    @property
    def done(self) -> bool:
        return self.asp.closed or self.asp.state is AspState.DOWN

    def connection_lost(self) -> None:
        self.asp.connection_lost()

    def request(self, index: int, seq: int) -> bytes:
        head, tail = self.parts[index]
        return head + seq.to_bytes(4, "big") + tail

    def receive(
        self, data: bytes, now: float, answer: Callable[[int, Outcome | None], None]
    ) -> None:
        buf = self._in + data if self._in else data
        n = len(buf)
        pos = 0
        asp = self.asp
        active = asp.state is AspState.ACTIVE
        at, to, least = _LENGTH_AT, _LENGTH_END, _HEADER_LEN
        while n - pos >= least:
            length = int.from_bytes(buf[pos + at : pos + to], "big")
            if length < least:
                asp.receive_data(buf[pos:], now)
                self._in = b""
                self.poll_events()
                return
            end = pos + length
            if end > n:
                break
            msg = buf[pos:end]
            if active and msg[2:4] == b"\x01\x01":
                self._message = msg
                self._data(msg, answer)
            else:
                asp.receive_data(msg, now)
                active = asp.state is AspState.ACTIVE
            pos = end
        self._in = buf[pos:] if pos < n else b""
        self.poll_events()

    def _data(self, msg: bytes, answer: Callable[[int, Outcome | None], None]) -> None:
        """An End seen before in all but its dtid is recognised by its bytes: the same length,
        the same bytes up to the dtid (M3UA, SCCP parties, TCAP head) and a known rest."""
        layout = self._layouts.get(len(msg))
        if layout is not None:
            at, prefix = layout
            outcome = self._shapes.get(msg[at + 4 :])
            if outcome is not None and msg[:at] == prefix:
                answer(int.from_bytes(msg[at : at + 4], "big"), outcome)
                return
        self._data_slow(msg, answer)

    def _data_slow(self, msg: bytes, answer: Callable[[int, Outcome | None], None]) -> None:
        fast = m3ua.scan_data(msg)
        try:
            pd = fast[0] if fast is not None else _decode_data(msg)
            raw = sccp.scan_unitdata(pd.data)
        except (M3uaError, sccp.SccpError, ValueError):
            answer(-1, None)
            return
        if raw.kind in (sccp.UDTS, sccp.XUDTS):  # our Begin came back undelivered
            answer(*_returned(raw))
            return
        found = msc.dtid_of(raw.data)
        if found is None or len(found[0]) != 4:
            answer(-1, None)
            return
        dtid, end = found
        tail = raw.data[end:]
        outcome = self.cache.get(tail)
        if outcome is None:
            outcome = _read(raw.data)
            if outcome is not None and len(self.cache) < 4096:
                self.cache[tail] = outcome
        if raw.called_raw != self._calling:
            outcome = WRONG_PARTY
        elif raw.kind != self._kind:
            outcome = WRONG_TYPE
        elif outcome is not None and len(self._shapes) < 4096:
            self._learn(msg, raw.data, end, dtid, outcome)
        answer(int.from_bytes(dtid, "big"), outcome)

    def _learn(self, msg: bytes, tcap: bytes, end: int, dtid: bytes, outcome: Outcome) -> None:
        """Remember the End's shape (see `_data`): its layout by length, its rest after the
        dtid."""
        start = msg.find(tcap)
        at = start + end - 4
        if start >= 0 and msg[at : at + 4] == dtid:
            self._layouts.setdefault(len(msg), (at, msg[:at]))
            if self._layouts[len(msg)] == (at, msg[:at]):
                self._shapes[msg[at + 4 :]] = outcome

    def message(self) -> bytes:
        """The DATA last given to `answer` (for reports)."""
        return self._message


def _returned(raw: sccp.UnitdataScan) -> tuple[int, Outcome]:
    """The sequence number (-1 when unreadable) and outcome of a Begin returned in a UDTS."""
    otid = otid_of(raw.data)
    number = raw.cause or 0
    known = number in sccp.ReturnCause.__members__.values()
    cause = sccp.ReturnCause(number).name.lower() if known else str(number)
    key = -1 if otid is None or len(otid) != 4 else int.from_bytes(otid, "big")
    return key, intern(Outcome(f"sccp-service:{cause}"))


def _decode_data(msg: bytes) -> ProtocolData:
    message = m3ua.decode(msg)
    raw = message.get(m3ua.Tag.PROTOCOL_DATA)
    if raw is None:
        raise ValueError("DATA without Protocol Data")
    return ProtocolData.unpack(raw)


def _read(tcap: bytes) -> Outcome | None:
    try:
        got = msc.decode_answer(tcap)
    except ValueError:
        return None
    if got.kind == "result":
        return intern(Outcome(outcomes.RESULT, MAP_STATUS.get(got.status or "", got.status)))
    return intern(Outcome(got.outcome))


def _otid_offset(message: bytes) -> int:
    """Where the otid sits in a DATA built by `data_message` (M3UA, SCCP, then 62 LL 48 04)."""
    fast = m3ua.scan_data(message)
    assert fast is not None
    raw = sccp.scan_unitdata(fast[0].data)
    tcap = raw.data
    head = 2 if tcap[1] < 0x80 else 2 + (tcap[1] & 0x7F)
    assert tcap[head : head + 2] == b"\x48\x04"
    at = message.index(tcap) + head + 2
    return at
