"""The S13 client role (an MME, or a DRA relaying for MMEs): CER/CEA, DWR answered, ECRs sent,
ECAs checked, DPR on exit.

The peer state machine is the daemon's own `eir.diameter.peer.PeerConnection` in the initiator
role. Requests are built with `eir.diameter.s13.client.ecr` and encoded once per distinct
request (see `eir.diameter.wire.encode_message`, held to pycrate by tests); each send patches in the
hop-by-hop and end-to-end ids and a unique Session-Id. Answers are read by a cache keyed on the
bytes after the Session-Id (an EIR's answers of one kind differ only in ids and Session-Id); a
new shape is decoded by pycrate once.

Wire layout of each ECR: header, Session-Id ``<Origin-Host>;<pid>;<seq>``, Origin-Host,
Origin-Realm, Destination-Realm, Vendor-Specific-Application-Id, Auth-Session-State (the part
fixed per connection), then Terminal-Information and User-Name (per request).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from eir.config import PolicyConfig
from eir.devices.record import DeviceIndex
from eir.diameter import codec, results, wire
from eir.diameter.dictionary import (
    APP_S13,
    FLAG_P,
    FLAG_R,
    VENDOR_3GPP,
    AuthSessionState,
    AvpCode,
    Command,
    DisconnectCause,
    ResultCode,
)
from eir.diameter.errors import DiameterError
from eir.diameter.message import Avp, grouped, octets, unsigned32
from eir.diameter.node import NodeIdentity
from eir.diameter.peer import PeerConnection, PeerDown, PeerSettings, PeerUp, Role, State
from eir.diameter.s13.client import decode_eca
from eir.diameter.wire import encode_avp
from eir.framing import DIAMETER
from eir.identity import Imei, Imsi
from eir.model import STATUS_WORDS, CheckRequest
from eir.policy import Lookup, Seen
from sim import expect
from sim.probes import Outcome, Probe, intern
from sim.versions import from_cea
from sim.workload import Draw

#: malformed ECRs and what TS 29.272 / RFC 6733 make an EIR answer
_INVALID = results.label(ResultCode.DIAMETER_INVALID_AVP_VALUE)
_MISSING = results.label(ResultCode.DIAMETER_MISSING_AVP)
MALFORMED: Final = {
    "bad-imei": _INVALID,  # IMEI with a letter
    "short-imei": _INVALID,  # 10 digits
    "bad-imsi": _INVALID,  # User-Name that is no IMSI
    "no-imei": _MISSING,  # Terminal-Information without IMEI
    "no-terminal-information": _MISSING,
}
SOFTWARE_VERSION: Final = "01"
_APP: Final = APP_S13.to_bytes(4, "big")
_HEADER: Final = struct.Struct(">IIIII")
#: the Message Length within the header's first 32-bit word (`eir.framing.DIAMETER`: octets
#: 1 to 3, after the Version), and the shortest message
_LENGTH_SHIFT: Final = 8 * (4 - DIAMETER.length_end)
_LENGTH_MASK: Final = (1 << 8 * DIAMETER.length_size) - 1
_HEADER_LEN: Final = DIAMETER.header_len
_IDS: Final = struct.Struct(">II")
#: an answer whose Session-Id is not the request's
WRONG_SESSION: Final = Outcome("wrong-session-id")


def expected(result_status: int | None) -> Outcome:
    if result_status is None:
        return intern(Outcome(results.EQUIPMENT_UNKNOWN))
    return intern(Outcome(results.SUCCESS, STATUS_WORDS[result_status]))


def probe(
    draw: Draw,
    policy: PolicyConfig,
    lookup: Lookup,
    devices: DeviceIndex | None = None,
    seen: Seen | None = None,
) -> tuple[Probe, bytes]:
    """The probe and its per-request AVPs (Terminal-Information, User-Name) as bytes."""
    imei_text: str | None = draw.imei14
    sv: str | None = SOFTWARE_VERSION
    imsi: str | None = draw.imsi
    terminal = True
    if draw.kind == "anomaly" and draw.variant == "check-digit":
        good = Imei(draw.imei14).luhn
        imei_text = draw.imei14 + str((int(good) + 1) % 10)
        sv = None
    if draw.kind == "malformed":
        result = MALFORMED[draw.variant]
        imei_text, imsi, terminal = _malformed(draw)
        shown = imei_text or "(none)"
        made = Probe(draw.kind, shown, imsi, intern(Outcome(result)), draw.variant)
    else:
        assert imei_text is not None
        imei = (
            Imei.trusted(imei_text, None, sv)
            if len(imei_text) == 14
            else Imei.trusted(imei_text[:14], imei_text[14])
        )
        request = CheckRequest(imei, None if imsi is None else Imsi.trusted(imsi), results.PROTOCOL)
        decided = expect.decided(request, lookup, policy, devices, seen)
        status = None if decided.status is None else int(decided.status)
        made = Probe(draw.kind, imei_text, imsi, expected(status), draw.variant)
    avps: list[Avp] = []
    if terminal:
        inner = []
        if imei_text is not None:
            inner.append(octets(AvpCode.IMEI, imei_text, VENDOR_3GPP))
        if sv is not None:
            inner.append(octets(AvpCode.SOFTWARE_VERSION, sv, VENDOR_3GPP))
        avps.append(grouped(AvpCode.TERMINAL_INFORMATION, tuple(inner), VENDOR_3GPP))
    if imsi is not None:
        avps.append(octets(AvpCode.USER_NAME, imsi))
    return made, b"".join(encode_avp(a) for a in avps)


def _malformed(draw: Draw) -> tuple[str | None, str | None, bool]:
    """IMEI, IMSI and whether Terminal-Information is there, for a malformed variant."""
    if draw.variant == "bad-imei":
        return draw.imei14[:13] + "A", draw.imsi, True
    if draw.variant == "short-imei":
        return draw.imei14[:10], draw.imsi, True
    if draw.variant == "bad-imsi":
        return draw.imei14, "00101x", True
    if draw.variant == "no-imei":
        return None, draw.imsi, True
    return draw.imei14, draw.imsi, False


class Identity(NamedTuple):
    origin_host: str
    origin_realm: str
    destination_realm: str


def identity(process: int, connection: int, realm: str, destination_realm: str) -> Identity:
    """Each connection is a peer of its own (an EIR drops a second connection of one
    Origin-Host): fixed-width names keep every connection's ECRs the same length."""
    return Identity(f"mme-p{process:03d}-c{connection:04d}.sim.{realm}", realm, destination_realm)


class S13Client:
    """One connection's client side: the peer state machine plus the ECR hot path."""

    framing: Final = DIAMETER

    def __init__(
        self,
        ident: Identity,
        bodies: list[bytes],
        now: float,
        watchdog_s: float = 30.0,
        local_address: str = "127.0.0.1",
    ) -> None:
        local = NodeIdentity(
            ident.origin_host,
            ident.origin_realm,
            product_name="eir-sim",
            host_ip_addresses=(local_address,),
        )
        settings = PeerSettings(node=local, watchdog_s=watchdog_s)
        self.peer = PeerConnection(settings, Role.INITIATOR, now, hbh_seed=0x7FFF0000)
        self.failure = ""
        #: what the EIR's CEA says of its software (`sim.versions.from_cea`)
        self.peer_says: dict[str, Any] = {}
        self._in = b""
        session = f"{ident.origin_host};{os.getpid() & 0xFFFFFFFF:08x};".encode()
        self._session_value = session
        self._value_len = len(session)
        fixed = (
            encode_avp(octets(AvpCode.ORIGIN_HOST, ident.origin_host))
            + encode_avp(octets(AvpCode.ORIGIN_REALM, ident.origin_realm))
            + encode_avp(octets(AvpCode.DESTINATION_REALM, ident.destination_realm))
            + encode_avp(
                grouped(
                    AvpCode.VENDOR_SPECIFIC_APPLICATION_ID,
                    (
                        unsigned32(AvpCode.VENDOR_ID, VENDOR_3GPP),
                        unsigned32(AvpCode.AUTH_APPLICATION_ID, APP_S13),
                    ),
                )
            )
            + encode_avp(
                unsigned32(AvpCode.AUTH_SESSION_STATE, AuthSessionState.NO_STATE_MAINTAINED)
            )
        )
        value_len = len(session) + 8
        pad = -value_len % 4
        self._session_head = (
            AvpCode.SESSION_ID.to_bytes(4, "big")
            + b"\x40"
            + (8 + value_len).to_bytes(3, "big")
            + session
        )
        self._after_seq = bytes(pad) + fixed
        self._session_span = 8 + value_len + pad
        fixed_len = 20 + len(self._session_head) + 8 + len(self._after_seq)
        flags = bytes([FLAG_R | FLAG_P]) + Command.ME_IDENTITY_CHECK.to_bytes(3, "big") + _APP
        self.heads = [b"\x01" + (fixed_len + len(b)).to_bytes(3, "big") + flags for b in bodies]
        after = self._after_seq
        self.tails = [after + b for b in bodies]
        self.cache: dict[bytes, Outcome] = {}
        self._buf: bytes = b""
        self._at = self._end = 0

    # --- state -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.peer.state is State.OPEN

    @property
    def closed(self) -> bool:
        return self.peer.closed

    def poll_events(self) -> None:
        while (event := self.peer.next_event()) is not None:
            if isinstance(event, PeerDown):
                self.failure = event.reason
            elif isinstance(event, PeerUp):
                self.failure = ""

    def data_to_send(self) -> bytes:
        return self.peer.data_to_send()

    def get_timer(self) -> float | None:
        return self.peer.get_timer()

    def handle_timer(self, now: float) -> None:
        self.peer.handle_timer(now)

    def close(self, now: float) -> None:
        self.peer.disconnect(DisconnectCause.DO_NOT_WANT_TO_TALK_TO_YOU, now)

    def connection_lost(self) -> None:
        self.peer.connection_lost()

    # --- the hot path ------------------------------------------------------------------------

    def request(self, index: int, seq: int) -> bytes:
        """ECR number `seq` (hop-by-hop = end-to-end = seq) for probe `index`."""
        return b"".join(
            (
                self.heads[index],
                _IDS.pack(seq, seq),
                self._session_head,
                b"%08x" % seq,
                self.tails[index],
            )
        )

    def receive(
        self, data: bytes, now: float, answer: Callable[[int, Outcome | None], None]
    ) -> None:
        """Frame `data`; each answer to an ECR goes to ``answer(hop_by_hop, outcome)`` (outcome
        None: undecodable; `message()` then has its bytes), everything else to the peer state
        machine."""
        buf = self._in + data if self._in else data
        self._buf = buf
        n = len(buf)
        pos = 0
        peer = self.peer
        open_ = peer.state is State.OPEN
        cache = self.cache
        unpack = _HEADER.unpack_from
        tail_at = 20 + self._session_span
        seq_at = 28 + self._value_len
        shift, mask, least = _LENGTH_SHIFT, _LENGTH_MASK, _HEADER_LEN
        while n - pos >= least:  # the header, as `unpack` reads it
            word, flags_code, app, hbh, _e2e = unpack(buf, pos)
            length = word >> shift & mask
            if length < least:
                peer.receive_data(buf[pos:], now)  # the state machine closes and says why
                self._in = b""
                self.poll_events()
                return
            end = pos + length
            if end > n:
                break
            # an answer (R clear, E may be set) to an ECR on S13
            if app == APP_S13 and flags_code & 0x80FFFFFF == 324 and open_:
                self._at = pos
                self._end = end
                outcome = cache.get(buf[pos + tail_at : end])
                if outcome is None:
                    outcome = self._slow(buf[pos:end], buf[pos + tail_at : end])
                if buf[pos + seq_at : pos + seq_at + 8] != b"%08x" % hbh:
                    outcome = WRONG_SESSION
                answer(hbh, outcome)
            else:
                if peer.state is State.WAIT_CEA:
                    self.peer_says = from_cea(bytes(buf[pos:end])) or self.peer_says
                peer.receive_data(buf[pos:end], now)
                open_ = peer.state is State.OPEN
            pos = end
        self._in = buf[pos:] if pos < n else b""
        if open_:
            peer.note_traffic(now)
        self.poll_events()

    def message(self) -> bytes:
        """The answer last given to `answer` (for reports)."""
        return bytes(self._buf[self._at : self._end])

    def _slow(self, msg: bytes, tail: bytes) -> Outcome | None:
        """Decode with pycrate; remember the outcome of this shape of answer when its
        Session-Id is ours and where we put it (so that only the sequence number varies)."""
        outcome, repeatable = scan_answer(msg)
        head = (
            AvpCode.SESSION_ID.to_bytes(4, "big")
            + b"\x40"
            + self._session_head[5:8]
            + self._session_value
        )
        if outcome is None:
            return None
        if msg[20 : 28 + self._value_len] != head:
            return WRONG_SESSION
        if repeatable and len(self.cache) < 4096:
            self.cache[tail] = outcome
        return outcome


_AVP: Final = struct.Struct(">II")


def scan_answer(msg: bytes) -> tuple[Outcome | None, bool]:
    """An answer's Result-Code (or Experimental-Result-Code) and Equipment-Status, after the
    framing checks of `eir.diameter.wire`; None when it is malformed. Also says whether answers
    of this shape repeat (no Failed-AVP or Error-Message, which echo each request). Tests hold
    it to `decode_answer_pycrate` (pycrate)."""
    try:
        wire.check_message(msg)
    except DiameterError:
        return None, False
    code = experimental = status = None
    repeatable = True
    pos, end = 20, len(msg)
    while pos < end:
        avp, word = _AVP.unpack_from(msg, pos)
        flags, length = word >> 24, word & 0xFFFFFF
        start = pos + (12 if flags & 0x80 else 8)
        vendor = int.from_bytes(msg[pos + 8 : pos + 12], "big") if flags & 0x80 else 0
        data = msg[start : pos + length]
        if avp == AvpCode.RESULT_CODE and not vendor and len(data) == 4 and code is None:
            code = int.from_bytes(data, "big")
        elif avp == AvpCode.EXPERIMENTAL_RESULT and not vendor and experimental is None:
            inner = 0
            while inner + 8 <= len(data):
                child, child_word = _AVP.unpack_from(data, inner)
                child_len = child_word & 0xFFFFFF
                child_start = inner + (12 if child_word >> 31 else 8)
                if (
                    child == AvpCode.EXPERIMENTAL_RESULT_CODE
                    and child_len - (child_start - inner) == 4
                    and not child_word >> 31
                ):
                    experimental = int.from_bytes(data[child_start : child_start + 4], "big")
                    break
                inner += (child_len + 3) & ~3
        elif (
            avp == AvpCode.EQUIPMENT_STATUS
            and vendor == VENDOR_3GPP
            and len(data) == 4
            and (status is None)
        ):
            status = int.from_bytes(data, "big")
        elif avp in (AvpCode.FAILED_AVP, AvpCode.ERROR_MESSAGE):
            repeatable = False
        pos += (length + 3) & ~3
    result = code if code is not None else experimental
    if result is None:
        return intern(Outcome("no-result-code")), repeatable
    shown = None if status is None else STATUS_WORDS.get(status, str(status))
    return intern(Outcome(results.label(result), shown)), repeatable


def decode_answer_pycrate(msg: bytes) -> Outcome | None:
    """An ECA (or error answer) checked and decoded by pycrate; None when it is malformed."""
    try:
        wire.check_message(msg)
        view = decode_eca(codec.decode_message_pycrate(msg))
    # DiameterError from our checks, and pycrate raises anything on broken bytes: blind on purpose
    except Exception:  # noqa: BLE001
        return None
    code = view.result_code if view.result_code is not None else view.experimental_result
    if code is None:
        return Outcome("no-result-code")
    status = None if view.equipment_status is None else STATUS_WORDS[int(view.equipment_status)]
    return Outcome(results.label(code), status)
