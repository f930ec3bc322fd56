"""The M3UA ASP state machine (RFC 4666 section 4.3), sans-IO, for both sides of a link.

`Side.SGP`: the EIR accepts an association and the peer (a lab MSC/VLR, an SGSN, an STP acting
for them) is the ASP: ASPUP/ASPUP-ACK takes it from ASP-DOWN to ASP-INACTIVE, ASPAC/ASPAC-ACK
to ASP-ACTIVE (override or loadshare), ASPIA and ASPDN back. `Side.ASP`: the EIR connects out
to a signalling gateway and drives the same exchange itself, resending ASPUP/ASPAC every T(ack)
until answered. DATA is accepted only in ASP-ACTIVE; otherwise the answer is ERR "Unexpected
Message". BEAT is answered with BEAT-ACK carrying the same Heartbeat Data in every state.

The interface is the one of `eir.diameter.peer`: `receive_data(data, now)`, `data_to_send()`,
`next_event()`, `get_timer()` / `handle_timer(now)`.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from eir.sigtran import m3ua
from eir.sigtran.m3ua import (
    ErrorCode,
    M3uaError,
    Message,
    ProtocolData,
    Tag,
    TrafficMode,
    u32,
)

log = logging.getLogger("eir.m3ua")

T_ACK_S = 2.0


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
    #: when set, DATA must carry this Network Appearance (or none)
    network_appearance: int | None = None
    #: what our ASPAC asks for when we are the ASP
    traffic_mode: TrafficMode = TrafficMode.LOADSHARE
    asp_identifier: int | None = None
    max_message: int = 65536


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

_AS_KEY_ANY = -1


class AspConnection:
    """One association (or TCP connection) carrying M3UA."""

    def __init__(self, settings: M3uaSettings, side: Side, now: float,
                 table: AsTable | None = None, name: str = "") -> None:
        self.settings = settings
        self.side = side
        self.table = table
        self.name = name
        self.state = AspState.DOWN
        self.traffic_mode: TrafficMode | None = None
        self.active_contexts: tuple[int, ...] = ()
        self.closed = False
        self.wakeup: Callable[[], None] | None = None
        self._in = bytearray()
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self._deadline: float | None = None
        if side is Side.ASP:
            self._send_aspup(now)

    @property
    def buffered(self) -> int:
        """Bytes held of a message not yet complete: 0 between messages (the adapter's read
        timeout watches it)."""
        return len(self._in)

    # --- sans-IO interface -----------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        if self.closed:
            return
        if self._in:  # the rest of a message cut by the previous read
            self._in += data
            data = bytes(self._in)
            self._in.clear()
        n = len(data)
        start = 0
        limit = self.settings.max_message
        while n - start >= m3ua.HEADER_LEN and not self.closed:
            length = int.from_bytes(data[start + 4 : start + 8], "big")
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

    def get_timer(self) -> float | None:
        return None if self.closed else self._deadline

    def handle_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline or self.closed:
            return
        if self.side is Side.ASP and self.state is AspState.DOWN:
            self._send_aspup(now)  # T(ack) expired: ASPUP again
        elif self.side is Side.ASP and self.state is AspState.INACTIVE:
            self._send_aspac(now)
        else:
            self._deadline = None

    def send_data(self, pd: ProtocolData, rc: int | None = None, na: int | None = None) -> None:
        self._out.append(m3ua.encode_data_fast(pd, rc, na))

    def send_raw(self, message: bytes) -> None:
        self._out.append(message)

    def connection_lost(self, reason: str = "transport closed") -> None:
        self._close(reason)

    def shutdown(self) -> None:
        """Leave cleanly: ASPDN (we are the ASP) or close (we are the SGP)."""
        if self.side is Side.ASP and self.state is not AspState.DOWN:
            self._send(Message(m3ua.ASPDN))

    # --- internals ---------------------------------------------------------------------------

    def _send(self, message: Message) -> None:
        self._out.append(m3ua.encode(message))

    def _set_state(self, state: AspState) -> None:
        if state is not self.state:
            self.state = state
            self._events.append(StateChanged(state))
            log.info("m3ua %s: %s", self.name, state.value)
            if state is not AspState.ACTIVE and self.table is not None:
                self.table.leave(self)

    def _close(self, reason: str) -> None:
        if self.closed:
            return
        if self.table is not None:
            self.table.leave(self)
        self.closed = True
        self.state = AspState.DOWN
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
            params.append((Tag.ROUTING_CONTEXT,
                           b"".join(u32(rc) for rc in self.settings.routing_contexts)))
        self._send(Message(m3ua.ASPAC, tuple(params)))
        self._deadline = now + T_ACK_S

    def _message(self, buf: bytes, now: float) -> None:
        try:
            if buf[2:4] == b"\x01\x01" and self.state is AspState.ACTIVE:
                fast = m3ua.parse_data_fast(buf)
                if fast is not None:
                    self._data_fields(*fast)
                else:
                    self._data(m3ua.decode(buf))
                return
            msg = m3ua.decode(buf)
            if self.side is Side.SGP:
                self._as_sgp(msg)
            else:
                self._as_asp(msg, now)
        except M3uaError as exc:
            log.info("m3ua %s: ERR %s", self.name, exc)
            self._send(m3ua.err(exc.code, exc.diagnostic))
        except Exception:  # our bug: an ERR, never silence
            log.exception("m3ua %s: cannot handle a message", self.name)
            self._send(m3ua.err(ErrorCode.PROTOCOL_ERROR, buf[:8]))

    def _data(self, msg: Message) -> None:
        pd_raw = msg.get(Tag.PROTOCOL_DATA)
        if pd_raw is None:
            raise M3uaError(ErrorCode.MISSING_PARAMETER, "DATA without Protocol Data")
        self._data_fields(ProtocolData.unpack(pd_raw), msg.u32(Tag.ROUTING_CONTEXT),
                          msg.u32(Tag.NETWORK_APPEARANCE))

    def _data_fields(self, pd: ProtocolData, rc: int | None, na: int | None) -> None:
        want = self.settings.network_appearance
        if na is not None and want is not None and na != want:
            raise M3uaError(ErrorCode.INVALID_NETWORK_APPEARANCE,
                            f"Network Appearance {na}, not {want}")
        if rc is not None and self.active_contexts and rc not in self.active_contexts:
            raise M3uaError(ErrorCode.INVALID_ROUTING_CONTEXT, f"Routing Context {rc}")
        self._events.append(DataReceived(pd, rc, na))

    def _contexts(self, msg: Message) -> tuple[int, ...]:
        contexts = msg.u32_list(Tag.ROUTING_CONTEXT) or ()
        served = self.settings.routing_contexts
        bad = [rc for rc in contexts if served and rc not in served]
        if bad:
            raise M3uaError(ErrorCode.INVALID_ROUTING_CONTEXT, f"Routing Context {bad[0]}",
                            u32(bad[0]))
        return contexts

    def _common(self, msg: Message) -> bool:
        """Messages both sides handle the same way; True when handled."""
        kind = msg.kind
        if kind == m3ua.BEAT:
            self._send(Message(m3ua.BEAT_ACK, tuple(p for p in msg.params
                                                    if p[0] == Tag.HEARTBEAT_DATA)))
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
            self._events.append(ErrorReceived(msg.u32(Tag.ERROR_CODE) or 0))
            return True
        if kind == m3ua.DATA:
            raise M3uaError(ErrorCode.UNEXPECTED_MESSAGE, f"DATA in {self.state.value}")
        return False

    def _as_sgp(self, msg: Message) -> None:
        if self._common(msg):
            return
        kind = msg.kind
        if kind == m3ua.ASPUP:
            if self.state is AspState.ACTIVE and self.table is not None:
                self.table.leave(self)
            echo = tuple(p for p in msg.params if p[0] == Tag.ASP_IDENTIFIER)
            self._send(Message(m3ua.ASPUP_ACK, echo))
            self._set_state(AspState.INACTIVE)
            self._send(m3ua.ntfy(m3ua.STATUS_AS_INACTIVE))
        elif kind == m3ua.ASPDN:
            self._send(Message(m3ua.ASPDN_ACK))
            self._set_state(AspState.DOWN)
        elif kind == m3ua.ASPAC:
            if self.state is AspState.DOWN:
                raise M3uaError(ErrorCode.UNEXPECTED_MESSAGE, "ASPAC before ASPUP")
            mode_value = msg.u32(Tag.TRAFFIC_MODE_TYPE)
            mode = TrafficMode.LOADSHARE if mode_value is None else None
            if mode_value is not None:
                try:
                    mode = TrafficMode(mode_value)
                except ValueError:
                    mode = None
            if mode is None or mode is TrafficMode.BROADCAST:
                raise M3uaError(ErrorCode.UNSUPPORTED_TRAFFIC_MODE_TYPE,
                                f"traffic mode {mode_value}")
            contexts = self._contexts(msg)
            self.traffic_mode = mode
            self.active_contexts = contexts
            echo = tuple(p for p in msg.params
                         if p[0] in (Tag.TRAFFIC_MODE_TYPE, Tag.ROUTING_CONTEXT))
            self._send(Message(m3ua.ASPAC_ACK, echo))
            self._set_state(AspState.ACTIVE)
            if self.table is not None:
                self.table.activate(self)
            self._send(m3ua.ntfy(m3ua.STATUS_AS_ACTIVE, contexts))
        elif kind == m3ua.ASPIA:
            if self.state is AspState.DOWN:
                raise M3uaError(ErrorCode.UNEXPECTED_MESSAGE, "ASPIA before ASPUP")
            self._contexts(msg)
            echo = tuple(p for p in msg.params if p[0] == Tag.ROUTING_CONTEXT)
            self._send(Message(m3ua.ASPIA_ACK, echo))
            self._set_state(AspState.INACTIVE)
            self._send(m3ua.ntfy(m3ua.STATUS_AS_PENDING))
        elif kind == m3ua.DAUD:
            # we are the only destination behind this link: it is available
            self._send(Message(m3ua.DAVA, tuple(p for p in msg.params
                                                if p[0] == Tag.AFFECTED_POINT_CODE)))
        elif kind.cls in (m3ua.MsgClass.RKM, m3ua.MsgClass.SSNM):
            raise M3uaError(ErrorCode.UNSUPPORTED_MESSAGE_CLASS,
                            f"{m3ua.describe(kind)} is not supported here")
        else:
            raise M3uaError(ErrorCode.UNEXPECTED_MESSAGE,
                            f"{m3ua.describe(kind)} is not for an SGP")

    def _as_asp(self, msg: Message, now: float) -> None:
        if self._common(msg):
            return
        kind = msg.kind
        if kind == m3ua.ASPUP_ACK:
            self._set_state(AspState.INACTIVE)
            self._send_aspac(now)
        elif kind == m3ua.ASPAC_ACK:
            self._deadline = None
            self.active_contexts = self.settings.routing_contexts
            self._set_state(AspState.ACTIVE)
        elif kind in (m3ua.ASPIA_ACK, m3ua.ASPDN_ACK):
            self._deadline = None
            self._set_state(AspState.INACTIVE if kind == m3ua.ASPIA_ACK else AspState.DOWN)
        elif kind.cls == m3ua.MsgClass.SSNM:
            pass  # DUNA/DAVA about other destinations: nothing routes through us
        else:
            raise M3uaError(ErrorCode.UNEXPECTED_MESSAGE,
                            f"{m3ua.describe(kind)} is not for an ASP")


class AsTable:
    """Active ASPs per Application Server (one AS per Routing Context; -1: no context).

    In override mode one ASP serves an AS: when another activates, the previous one is sent
    NTFY "Alternate ASP Active" and goes to ASP-INACTIVE (RFC 4666 4.3.4.3). In loadshare mode
    all active ASPs serve.
    """

    def __init__(self) -> None:
        self.active: dict[int, list[AspConnection]] = {}

    def activate(self, conn: AspConnection) -> None:
        for key in conn.active_contexts or (_AS_KEY_ANY,):
            members = self.active.setdefault(key, [])
            if conn.traffic_mode is TrafficMode.OVERRIDE:
                for other in list(members):
                    if other is not conn:
                        members.remove(other)
                        other._send(m3ua.ntfy(m3ua.STATUS_ALTERNATE_ASP_ACTIVE))
                        other._set_state(AspState.INACTIVE)
                        if other.wakeup is not None:
                            other.wakeup()
            if conn not in members:
                members.append(conn)

    def leave(self, conn: AspConnection) -> None:
        for members in self.active.values():
            if conn in members:
                members.remove(conn)
