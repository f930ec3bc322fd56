"""The M3UA ASP state machine (RFC 4666 section 4.3), sans-IO, for both sides of a link.

`Side.SGP`: the EIR accepts an association and the peer (a lab MSC/VLR, an SGSN, an STP acting
for them) is the ASP: ASPUP/ASPUP-ACK takes it from ASP-DOWN to ASP-INACTIVE, ASPAC/ASPAC-ACK
to ASP-ACTIVE (override or loadshare), ASPIA and ASPDN back. `Side.ASP`: the EIR connects out
to a signalling gateway and drives the same exchange itself, resending ASPUP/ASPAC every T(ack)
until answered. DATA is accepted only in ASP-ACTIVE; otherwise the answer is ERR "Unexpected
Message". BEAT is answered with BEAT-ACK carrying the same Heartbeat Data in every state.

Access control, on the SGP side: a source outside `allowed_networks`, or outside every
configured ASP's networks, is closed at once; when ASPs are configured (`asps`), ASPUP must
match one by source address and ASP Identifier (`eir.sigtran.m3ua_access` says which, or which
ERR); override mode is for configured ASPs
that allow it, and never displaces ASPs of another traffic mode (ERR "Unsupported Traffic Mode
Type"); when Routing Contexts are configured an ASPAC must name them (ERR "No Configured AS for
ASP" without one, "Invalid Routing Context" for another), and DATA must carry one of the active
contexts (ERR "Missing Parameter" / "Invalid Routing Context"). Every parameter echoed in an
answer is checked first and rebuilt from its decoded value.

A configured ASP Identifier is held by one association at a time, and override mode keeps one
active ASP per Application Server: the connections share a registry of them (`AsRegistry`,
implemented by `eir.sigtran.m3ua_as.AsTable`, which says how a held identifier is taken over
and how an override ASP displaces another). This module does not import it.

Errors are bounded per association: `ERROR_BURST` ERRs back to back, then `ERROR_RATE_PER_S`;
the message past the budget gets a last ERR "Protocol Error" and the association is closed. A
peer flooding rejected messages costs a few ERRs, not one per message.

Liveness, on both sides: an association not ASP-ACTIVE `handshake_timeout_s` after it connected
is closed; after `beat_interval_s` without a byte received a BEAT is sent, and when nothing
arrives for another interval the association is closed (RFC 4666 4.3.4.6).

The interface is the one of `eir.diameter.peer`: `receive_data(data, now)`, `data_to_send()`,
`next_event()`, `get_timer()` / `handle_timer(now)`.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

from eir.framing import M3UA
from eir.sigtran import m3ua, m3ua_access
from eir.sigtran.m3ua import (
    ErrorCode,
    M3uaError,
    Message,
    ProtocolData,
    Tag,
    TrafficMode,
    u32,
)
from eir.sigtran.m3ua_access import AspBinding

log = logging.getLogger("eir.m3ua")

T_ACK_S = 2.0
#: how long a leaving ASP waits for ASPDN-ACK (RFC 4666 4.3.4.2) before it closes anyway
ASPDN_ACK_WAIT_S: Final = 1.0

#: ERRs an association may cause back to back, and per second after that (a token bucket); the
#: next one closes it after a last ERR "Protocol Error"
ERROR_BURST = 16
ERROR_RATE_PER_S = 16.0

#: where the Message Length sits in a message (`eir.framing.M3UA`): `receive_data` reads it
#: inline, once per message
_LENGTH_AT: Final = M3UA.length_offset
_LENGTH_END: Final = M3UA.length_end


class Side(enum.Enum):
    SGP = "sgp"
    ASP = "asp"


class AspState(enum.Enum):
    DOWN = "ASP-DOWN"
    INACTIVE = "ASP-INACTIVE"
    ACTIVE = "ASP-ACTIVE"


@dataclass(frozen=True)
class M3uaSettings:
    #: Routing Contexts served; empty accepts any (and none)
    routing_contexts: tuple[int, ...] = ()
    #: source networks allowed to connect (SGP side); empty: any
    allowed_networks: tuple[str, ...] = ()
    #: configured ASPs (SGP side); when any, an ASP must match one
    asps: tuple[AspBinding, ...] = ()
    #: close an association not ASP-ACTIVE this long after connecting; 0: never
    handshake_timeout_s: float = 0.0
    #: BEAT after this much silence, close after as much again; 0: no BEAT
    beat_interval_s: float = 0.0
    #: when set, DATA must carry this Network Appearance (or none)
    network_appearance: int | None = None
    #: what our ASPAC asks for when we are the ASP
    traffic_mode: TrafficMode = TrafficMode.LOADSHARE
    asp_identifier: int | None = None
    max_message: int = 65536

    def refused_source(self, address: str) -> str:
        """Why an association from `address` may not even start ("" when it may): the
        transport asks before the connection takes a pending slot, the state machine again
        when it starts (`eir.sigtran.m3ua_access.refused_source`)."""
        return m3ua_access.refused_source(self.allowed_networks, self.asps, address)


class StateChanged(NamedTuple):
    state: AspState


class DataReceived(NamedTuple):
    data: ProtocolData
    routing_context: int | None
    network_appearance: int | None


class Notified(NamedTuple):
    status_type: int
    status_info: int


class ErrorReceived(NamedTuple):
    code: int


class Closed(NamedTuple):
    reason: str


Event = StateChanged | DataReceived | Notified | ErrorReceived | Closed


class AsRegistry(Protocol):
    """What an association needs of the registry of Application Servers it shares with the
    others (`eir.sigtran.m3ua_as.AsTable`): at ASPUP, to hold its ASP Identifier (None: to let
    go of any); at ASPAC, a check of the traffic mode, then to join the AS; and to leave it."""

    def claim(self, conn: AspConnection, asp_id: int | None, now: float = 0.0) -> None: ...

    def check_mode(
        self, conn: AspConnection, mode: TrafficMode, contexts: tuple[int, ...]
    ) -> None: ...

    def activate(self, conn: AspConnection) -> None: ...

    def leave(self, conn: AspConnection) -> None: ...


class AspConnection:
    """One association (or TCP connection) carrying M3UA."""

    def __init__(
        self,
        settings: M3uaSettings,
        side: Side,
        now: float,
        table: AsRegistry | None = None,
        name: str = "",
        address: str = "",
    ) -> None:
        self.settings = settings
        self.side = side
        self.table = table
        self.name = name
        #: the peer's IP address (the adapter's), for access control on the SGP side
        self.address = address
        #: the configured ASP this association matched at ASPUP (SGP side, `asps` set)
        self.binding: AspBinding | None = None
        self.state = AspState.DOWN
        self.traffic_mode: TrafficMode | None = None
        self.active_contexts: tuple[int, ...] = ()
        self.closed = False
        self.wakeup: Callable[[], None] | None = None
        self._in = bytearray()
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self._deadline: float | None = None  # T(ack), when we are the ASP
        hs = settings.handshake_timeout_s
        self._handshake_at: float | None = now + hs if hs > 0 else None
        self._last_rx = now
        self._beat_sent: float | None = None
        self._beats = 0
        self._err_tokens = float(ERROR_BURST)
        self._err_at = now
        #: closed at once because its source may not connect (the adapter throttles their logs)
        self.refused = False
        #: `shutdown` was called; then whether ASPDN went out and its ASPDN-ACK came back
        self.leaving = False
        self.aspdn_sent = False
        self.aspdn_acked = False
        self._leave_by: float | None = None
        if side is Side.SGP:
            refused = self._refused_source()
            if refused:
                self.refused = True
                self._close(refused)
                return
        if side is Side.ASP:
            self._send_aspup(now)

    def _refused_source(self) -> str:
        """Why this source may not connect at all ("" when it may)."""
        return self.settings.refused_source(self.address)

    @property
    def last_rx(self) -> float:
        """When the peer last sent a byte."""
        return self._last_rx

    @property
    def buffered(self) -> int:
        """Bytes held of a message not yet complete: 0 between messages (the adapter's read
        timeout watches it)."""
        return len(self._in)

    # --- sans-IO interface -----------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        if self.closed:
            return
        self._last_rx = now
        self._beat_sent = None  # any traffic proves the peer alive
        if self._in:  # the rest of a message cut by the previous read
            self._in += data
            data = bytes(self._in)
            self._in.clear()
        n = len(data)
        start = 0
        limit = self.settings.max_message
        at, to = _LENGTH_AT, _LENGTH_END
        while n - start >= m3ua.HEADER_LEN and not self.closed:
            length = int.from_bytes(data[start + at : start + to], "big")
            if length < m3ua.HEADER_LEN or length > limit:
                self._send(m3ua.err(ErrorCode.PROTOCOL_ERROR, data[start : start + 8]))
                self._close(f"message length {length} cannot be framed (limit {limit})")
                return
            end = start + length
            if end > n:
                break
            self._message(data[start:end], now)
            start = end
        if start < n and not self.closed:
            self._in += data[start:]  # less than one message: bounded by the limit

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    @property
    def left(self) -> bool:
        """Leaving is done: nothing was owed (no ASPDN sent), the ASPDN-ACK came back, or the
        association closed. The adapter closes the transport then."""
        return self.closed or not self.aspdn_sent or self.aspdn_acked

    def get_timer(self) -> float | None:
        if self.closed:
            return None
        times = [
            t
            for t in (self._deadline, self._handshake_at, self._beat_at(), self._leave_by)
            if t is not None
        ]
        return min(times) if times else None

    def _beat_at(self) -> float | None:
        interval = self.settings.beat_interval_s
        if interval <= 0:
            return None
        return (self._last_rx if self._beat_sent is None else self._beat_sent) + interval

    def handle_timer(self, now: float) -> None:
        if self.closed:
            return
        if self._leave_by is not None and now >= self._leave_by:
            self._close(f"no ASPDN-ACK {ASPDN_ACK_WAIT_S:g} s after ASPDN")
            return
        if self._handshake_at is not None and now >= self._handshake_at:
            self._close(f"not ASP-ACTIVE {self.settings.handshake_timeout_s:g} s after connecting")
            return
        beat_at = self._beat_at()
        if beat_at is not None and now >= beat_at:
            if self._beat_sent is not None:
                self._close(f"no answer to BEAT in {self.settings.beat_interval_s:g} s")
                return
            self._beat_sent = now
            self._beats += 1
            self._send(Message(m3ua.BEAT, ((Tag.HEARTBEAT_DATA, u32(self._beats)),)))
        if self._deadline is None or now < self._deadline:
            return
        if self.side is Side.ASP and self.state is AspState.DOWN:
            self._send_aspup(now)  # T(ack) expired: ASPUP again
        elif self.side is Side.ASP and self.state is AspState.INACTIVE:
            self._send_aspac(now)
        else:
            self._deadline = None

    def send_data(self, pd: ProtocolData, rc: int | None = None, na: int | None = None) -> None:
        self._out.append(m3ua.encode_data(pd, rc, na))

    def send_raw(self, message: bytes) -> None:
        self._out.append(message)

    def connection_lost(self, reason: str = "transport closed") -> None:
        self._close(reason)

    def retire(self, reason: str) -> None:
        """Closed by the AS registry (another association took its ASP Identifier over); the
        adapter is woken to drop the transport."""
        self._close(reason)
        if self.wakeup is not None:
            self.wakeup()

    def displace(self) -> None:
        """Another ASP of its AS went active in override mode (RFC 4666 4.3.4.3): NTFY
        "Alternate ASP Active", ASP-INACTIVE, and the adapter woken to send it."""
        self._send(m3ua.ntfy(m3ua.STATUS_ALTERNATE_ASP_ACTIVE))
        self._set_state(AspState.INACTIVE)
        if self.wakeup is not None:
            self.wakeup()

    def shutdown(self, now: float | None = None) -> None:
        """Leave cleanly (RFC 4666 4.3.4.2). As an ASP that is up: ASPDN, after every answer
        already queued, then `left` once ASPDN-ACK comes back, or, given `now`, closed
        `ASPDN_ACK_WAIT_S` later without it. Otherwise (the SGP side, an ASP still down)
        nothing is owed: `left` at once. No ASPUP or ASPAC is sent after this."""
        if self.closed or self.leaving:
            return
        self.leaving = True
        self._deadline = self._handshake_at = None
        if self.side is Side.ASP and self.state is not AspState.DOWN:
            self._send(Message(m3ua.ASPDN))
            self.aspdn_sent = True
            if now is not None:
                self._leave_by = now + ASPDN_ACK_WAIT_S

    # --- internals ---------------------------------------------------------------------------

    def _send(self, message: Message) -> None:
        self._out.append(m3ua.encode(message))

    def _set_state(self, state: AspState) -> None:
        if state is not self.state:
            self.state = state
            if state is AspState.ACTIVE:
                self._handshake_at = None
            self._events.append(StateChanged(state))  # the adapter logs it, once
            if state is not AspState.ACTIVE and self.table is not None:
                self.table.leave(self)

    def _close(self, reason: str) -> None:
        if self.closed:
            return
        if self.table is not None:
            self.table.leave(self)
            self.table.claim(self, None)
        self.closed = True
        self.state = AspState.DOWN
        self._deadline = self._handshake_at = self._leave_by = None
        self._events.append(Closed(reason))

    def _send_aspup(self, now: float) -> None:
        params: tuple[tuple[int, bytes], ...] = ()
        if self.settings.asp_identifier is not None:
            params = ((Tag.ASP_IDENTIFIER, u32(self.settings.asp_identifier)),)
        self._send(Message(m3ua.ASPUP, params))
        self._deadline = now + T_ACK_S

    def _send_aspac(self, now: float) -> None:
        params: list[tuple[int, bytes]] = [(Tag.TRAFFIC_MODE_TYPE, u32(self.settings.traffic_mode))]
        if self.settings.routing_contexts:
            params.append(
                (Tag.ROUTING_CONTEXT, b"".join(u32(rc) for rc in self.settings.routing_contexts))
            )
        self._send(Message(m3ua.ASPAC, tuple(params)))
        self._deadline = now + T_ACK_S

    def _message(self, buf: bytes, now: float) -> None:
        try:
            if buf[2:4] == b"\x01\x01" and self.state is AspState.ACTIVE:
                fast = m3ua.scan_data(buf)
                if fast is not None:
                    self._data_fields(*fast)
                else:
                    self._data(m3ua.decode(buf))
                return
            msg = m3ua.decode(buf)
            if self.side is Side.SGP:
                self._as_sgp(msg, now)
            else:
                self._as_asp(msg, now)
        except M3uaError as exc:
            if self._error_allowed(buf, now):
                log.info("m3ua %s: ERR %s", self.name, exc)
                self._send(m3ua.err(exc.code, exc.diagnostic, exc.rc, exc.na))
        except Exception:  # our bug: an ERR, never silence
            log.exception("m3ua %s: cannot handle a message", self.name)
            if self._error_allowed(buf, now):
                self._send(m3ua.err(ErrorCode.PROTOCOL_ERROR, buf[:8]))

    def _error_allowed(self, buf: bytes, now: float) -> bool:
        """Take one ERR from the budget; past it, a last ERR "Protocol Error" and close."""
        tokens = min(
            float(ERROR_BURST), self._err_tokens + max(0.0, now - self._err_at) * ERROR_RATE_PER_S
        )
        self._err_at = now
        if tokens < 1.0:
            self._err_tokens = tokens
            self._send(m3ua.err(ErrorCode.PROTOCOL_ERROR, buf[:8]))
            self._close(
                f"too many errors (more than {ERROR_BURST} in a row, then "
                f"{ERROR_RATE_PER_S:g} per s)"
            )
            return False
        self._err_tokens = tokens - 1.0
        return True

    def _data(self, msg: Message) -> None:
        pd_raw = msg.get(Tag.PROTOCOL_DATA)
        if pd_raw is None:
            raise M3uaError(ErrorCode.MISSING_PARAMETER, "DATA without Protocol Data")
        self._data_fields(
            ProtocolData.unpack(pd_raw),
            msg.u32(Tag.ROUTING_CONTEXT),
            msg.u32(Tag.NETWORK_APPEARANCE),
        )

    def _data_fields(self, pd: ProtocolData, rc: int | None, na: int | None) -> None:
        want = self.settings.network_appearance
        if na is not None and want is not None and na != want:
            raise M3uaError(
                ErrorCode.INVALID_NETWORK_APPEARANCE, f"Network Appearance {na}, not {want}", na=na
            )
        active = self.active_contexts
        if self.side is Side.SGP:
            served = self._served()
            if rc is None and served:
                raise M3uaError(
                    ErrorCode.MISSING_PARAMETER,
                    "DATA without a Routing Context, and Routing Contexts are configured",
                )
            active = active or served
        if rc is not None and active and rc not in active:
            raise M3uaError(ErrorCode.INVALID_ROUTING_CONTEXT, f"Routing Context {rc}", rc=(rc,))
        self._events.append(DataReceived(pd, rc, na))

    def _served(self) -> tuple[int, ...]:
        """The Routing Contexts this ASP may use: its binding's, else the node's."""
        if self.binding is not None and self.binding.routing_contexts:
            return self.binding.routing_contexts
        return self.settings.routing_contexts

    def _contexts(self, msg: Message) -> tuple[int, ...]:
        contexts = msg.u32_list(Tag.ROUTING_CONTEXT) or ()
        served = self._served()
        bad = [rc for rc in contexts if served and rc not in served]
        if bad:
            raise M3uaError(
                ErrorCode.INVALID_ROUTING_CONTEXT,
                "Routing Context " + ", ".join(str(rc) for rc in bad),
                rc=tuple(bad),
            )
        return contexts

    def _common(self, msg: Message) -> bool:
        """Messages both sides handle the same way; True when handled."""
        kind = msg.kind
        if kind == m3ua.BEAT:
            self._send(
                Message(m3ua.BEAT_ACK, tuple(p for p in msg.params if p[0] == Tag.HEARTBEAT_DATA))
            )
            return True
        if kind == m3ua.BEAT_ACK:
            return True
        if kind == m3ua.NTFY:
            status = msg.get(Tag.STATUS)
            if status is None or len(status) != 4:
                raise M3uaError(ErrorCode.MISSING_PARAMETER, "NTFY without a 4-byte Status")
            kind_, info = int.from_bytes(status[:2], "big"), int.from_bytes(status[2:], "big")
            self._events.append(Notified(kind_, info))
            if (kind_, info) == m3ua.STATUS_ALTERNATE_ASP_ACTIVE and self.side is Side.ASP:
                self._set_state(AspState.INACTIVE)
            return True
        if kind == m3ua.ERR:
            code = msg.get(Tag.ERROR_CODE)  # never answered: an ERR about an ERR could loop
            self._events.append(
                ErrorReceived(
                    int.from_bytes(code, "big") if code is not None and len(code) == 4 else 0
                )
            )
            return True
        if kind == m3ua.DATA:
            raise M3uaError(ErrorCode.UNEXPECTED_MESSAGE, f"DATA in {self.state.value}")
        return False

    def _as_sgp(self, msg: Message, now: float) -> None:
        if self._common(msg):
            return
        kind = msg.kind
        if kind == m3ua.ASPUP:
            self._aspup(msg, now)
        elif kind == m3ua.ASPDN:
            self._send(Message(m3ua.ASPDN_ACK))
            self._set_state(AspState.DOWN)
        elif kind == m3ua.ASPAC:
            self._aspac(msg)
        elif kind == m3ua.ASPIA:
            self._aspia(msg)
        elif kind == m3ua.DAUD:
            if self.state is AspState.DOWN:  # an ASP that is not up (or not allowed) learns nothing
                raise M3uaError(ErrorCode.UNEXPECTED_MESSAGE, "DAUD before ASPUP")
            # we are the only destination behind this link: it is available
            self._send(Message(m3ua.DAVA, ((Tag.AFFECTED_POINT_CODE, _point_codes(msg)),)))
        elif kind.cls in (m3ua.MsgClass.RKM, m3ua.MsgClass.SSNM):
            raise M3uaError(
                ErrorCode.UNSUPPORTED_MESSAGE_CLASS, f"{m3ua.describe(kind)} is not supported here"
            )
        else:
            raise M3uaError(
                ErrorCode.UNEXPECTED_MESSAGE, f"{m3ua.describe(kind)} is not for an SGP"
            )

    def _aspup(self, msg: Message, now: float) -> None:
        """ASPUP (RFC 4666 4.3.4.1): bind the configured ASP, ASPUP-ACK, ASP-INACTIVE."""
        asp_id = msg.u32(Tag.ASP_IDENTIFIER)  # exactly 4 bytes, or ERR
        binding = m3ua_access.bind(self.settings.asps, self.address, asp_id)
        if self.table is not None:
            # a configured ASP Identifier names one ASP: one association at a time
            self.table.claim(
                self,
                asp_id if binding is not None and binding.asp_identifier is not None else None,
                now,
            )
        self.binding = binding
        if self.state is AspState.ACTIVE and self.table is not None:
            self.table.leave(self)
        self._send(
            Message(m3ua.ASPUP_ACK, () if asp_id is None else ((Tag.ASP_IDENTIFIER, u32(asp_id)),))
        )
        self._set_state(AspState.INACTIVE)
        self._send(m3ua.ntfy(m3ua.STATUS_AS_INACTIVE))

    def _traffic_mode(self, msg: Message) -> tuple[TrafficMode, int | None]:
        """The traffic mode an ASPAC asks for (loadshare when absent) and the value sent; ERR
        "Unsupported Traffic Mode Type" for broadcast, an unknown one, or override from an
        ASP not configured for it."""
        mode_value = msg.u32(Tag.TRAFFIC_MODE_TYPE)
        mode = TrafficMode.LOADSHARE if mode_value is None else None
        if mode_value is not None:
            try:
                mode = TrafficMode(mode_value)
            except ValueError:
                mode = None
        if mode is None or mode is TrafficMode.BROADCAST:
            raise M3uaError(
                ErrorCode.UNSUPPORTED_TRAFFIC_MODE_TYPE,
                f"traffic mode {mode_value}",
                u32(mode_value or 0),
            )
        if mode is TrafficMode.OVERRIDE and not (self.binding and self.binding.override):
            raise M3uaError(
                ErrorCode.UNSUPPORTED_TRAFFIC_MODE_TYPE,
                "override mode is only for configured ASPs that allow it",
                u32(mode),
            )
        return mode, mode_value

    def _aspac(self, msg: Message) -> None:
        """ASPAC (RFC 4666 4.3.4.3): check mode and contexts, ASPAC-ACK, ASP-ACTIVE, NTFY."""
        if self.state is AspState.DOWN:
            raise M3uaError(ErrorCode.UNEXPECTED_MESSAGE, "ASPAC before ASPUP")
        mode, mode_value = self._traffic_mode(msg)
        contexts = self._contexts(msg)
        if not contexts and self._served():
            raise M3uaError(
                ErrorCode.NO_CONFIGURED_AS_FOR_ASP,
                "ASPAC without a Routing Context, and Routing Contexts are configured",
            )
        if self.table is not None:
            self.table.check_mode(self, mode, contexts)
        self.traffic_mode = mode
        self.active_contexts = contexts
        echo: list[tuple[int, bytes]] = []
        if mode_value is not None:
            echo.append((Tag.TRAFFIC_MODE_TYPE, u32(mode)))
        if contexts:
            echo.append((Tag.ROUTING_CONTEXT, b"".join(u32(rc) for rc in contexts)))
        self._send(Message(m3ua.ASPAC_ACK, tuple(echo)))
        self._set_state(AspState.ACTIVE)
        if self.table is not None:
            self.table.activate(self)
        self._send(m3ua.ntfy(m3ua.STATUS_AS_ACTIVE, contexts))

    def _aspia(self, msg: Message) -> None:
        """ASPIA (RFC 4666 4.3.4.4): ASPIA-ACK, ASP-INACTIVE, NTFY "AS-PENDING"."""
        if self.state is AspState.DOWN:
            raise M3uaError(ErrorCode.UNEXPECTED_MESSAGE, "ASPIA before ASPUP")
        contexts = self._contexts(msg)
        echo_rc = ((Tag.ROUTING_CONTEXT, b"".join(u32(rc) for rc in contexts)),) if contexts else ()
        self._send(Message(m3ua.ASPIA_ACK, echo_rc))
        self._set_state(AspState.INACTIVE)
        self._send(m3ua.ntfy(m3ua.STATUS_AS_PENDING))

    def _as_asp(self, msg: Message, now: float) -> None:
        if self._common(msg):
            return
        kind = msg.kind
        if kind == m3ua.ASPUP_ACK:
            self._set_state(AspState.INACTIVE)
            if not self.leaving:
                self._send_aspac(now)
        elif kind == m3ua.ASPAC_ACK:
            self._deadline = None
            self.active_contexts = self.settings.routing_contexts
            self._set_state(AspState.ACTIVE)
        elif kind in (m3ua.ASPIA_ACK, m3ua.ASPDN_ACK):
            self._deadline = None
            if kind == m3ua.ASPDN_ACK and self.aspdn_sent:
                self.aspdn_acked = True
                self._leave_by = None
            self._set_state(AspState.INACTIVE if kind == m3ua.ASPIA_ACK else AspState.DOWN)
        elif kind.cls == m3ua.MsgClass.SSNM:
            pass  # DUNA/DAVA about other destinations: nothing routes through us
        else:
            raise M3uaError(
                ErrorCode.UNEXPECTED_MESSAGE, f"{m3ua.describe(kind)} is not for an ASP"
            )


def _point_codes(msg: Message) -> bytes:
    """The Affected Point Code of an SSNM message (RFC 4666 3.4.1): 4-byte entries, rebuilt."""
    value = msg.get(Tag.AFFECTED_POINT_CODE)
    if value is None:
        raise M3uaError(
            ErrorCode.MISSING_PARAMETER, f"{m3ua.describe(msg.kind)} without an Affected Point Code"
        )
    codes = msg.u32_list(Tag.AFFECTED_POINT_CODE) or ()
    return b"".join(u32(code) for code in codes)
