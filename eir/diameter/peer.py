"""One Diameter peer connection, sans-IO (RFC 6733 section 5, RFC 3539 watchdog).

Bytes go in with `receive_data(data, now)`; bytes to write come out of `data_to_send()`; events
come out of `next_event()`; time is passed in and `get_timer()` says when `handle_timer(now)` is
due. The transport adapter is thin: it only moves bytes and calls these.

States: a responder starts in WAIT_CER, an initiator sends its CER and starts in WAIT_CEA; both
reach OPEN, then CLOSING (DPR sent or received) and CLOSED. Any request before the capabilities
exchange closes the connection. In OPEN, DWR/DWA run both ways every Tw of silence and a DWR
left unanswered for another Tw closes the connection.

Application requests are queued (at most `max_in_flight`; past it they are answered 3004
DIAMETER_TOO_BUSY at once) and answered by `process(limit)`, so that the adapter can share the
event loop fairly between connections. They go to the `Application` the connection was given
(for the EIR: `eir.diameter.s13.server.S13Server`): this module knows of applications only that
interface, and the application id the node advertises (`NodeIdentity.application`).

Who may connect is the `AllowList` of its settings (`eir.diameter.allow_list`). One connection
per peer is kept by a registry of open connections the connection is given: this module knows
of it only the `PeerRegistry` interface; the node's is `eir.diameter.peer_table.PeerTable`.
"""

from __future__ import annotations

import enum
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, NamedTuple, Protocol

from eir.diameter import base, codec, wire
from eir.diameter.allow_list import AllowList
from eir.diameter.dictionary import (
    APP_COMMON,
    BASE_COMMANDS,
    FLAG_R,
    HEADER_LEN,
    AvpCode,
    Command,
    DisconnectCause,
    ResultCode,
)
from eir.diameter.errors import DiameterError
from eir.diameter.message import Message, octets
from eir.diameter.node import NodeIdentity
from eir.diameter.wire import header_only, scan_session_id
from eir.framing import DIAMETER

log = logging.getLogger("eir.diameter.peer")

_APP_COMMON_BYTES = bytes(4)

#: where the Message Length sits in a message (`eir.framing.DIAMETER`): `receive_data` reads it
#: inline, once per message
_LENGTH_AT: Final = DIAMETER.length_offset
_LENGTH_END: Final = DIAMETER.length_end


class Role(enum.Enum):
    RESPONDER = "responder"
    INITIATOR = "initiator"


class State(enum.Enum):
    WAIT_CER = "Wait-CER"
    WAIT_CEA = "Wait-I-CEA"
    OPEN = "Open"
    CLOSING = "Closing"
    CLOSED = "Closed"


class Application(Protocol):
    """What the peer needs of the application it serves: the answer to one request's bytes,
    and the cheap 3004 DIAMETER_TOO_BUSY answer for a request past `max_in_flight`."""

    def answer(self, buf: bytes, peer: str) -> bytes: ...

    def busy(self, buf: bytes) -> bytes: ...


@dataclass(frozen=True)
class PeerSettings:
    node: NodeIdentity = field(default_factory=NodeIdentity)
    watchdog_s: float = 30.0
    #: RFC 3539 3.4.1: each watchdog interval is Tw plus a random jitter of up to this much
    watchdog_jitter_s: float = 0.0
    cer_timeout_s: float = 10.0
    dpa_timeout_s: float = 5.0
    max_message: int = 65536
    max_in_flight: int = 1024
    allow: AllowList = field(default_factory=AllowList)
    #: bounds of the decoder (`eir.diameter.wire.decode_message`): nesting depth, AVPs per message
    limits: wire.Limits = wire.LIMITS
    #: a CER naming an Origin-Host that has an open connection from another address: "keep"
    #: the open one (the newcomer gets CEA 5012) unless its watchdog found it dead, or
    #: "replace" it (DPR BUSY, the newcomer served)
    duplicate_peer: str = "keep"
    #: answer 3010 DIAMETER_UNKNOWN_PEER to application requests whose Origin-Host is not the
    #: one of the peer's CER (for MMEs connected directly, not through a DRA)
    require_origin_match: bool = False


class PeerUp(NamedTuple):
    origin_host: str
    origin_realm: str


class PeerDown(NamedTuple):
    reason: str
    #: we refused the peer's CER (or what it sent instead): a CEA error, then the close
    refused: bool = False


class AnswerReceived(NamedTuple):
    """An application answer (for the initiator role: a client's ECA)."""

    message: bytes


Event = PeerUp | PeerDown | AnswerReceived


class PeerVerdict(enum.Enum):
    """What the registry of open connections says of one whose capabilities were exchanged."""

    ACCEPT = "accept"
    ELECTION_LOST = "election-lost"
    DUPLICATE = "duplicate"


class PeerRegistry(Protocol):
    """What a connection needs of the registry of open connections
    (`eir.diameter.peer_table.PeerTable`): a verdict once the capabilities are exchanged (one
    connection per peer, RFC 6733 5.6.4's election), and to be forgotten when it closes."""

    def admit(self, conn: PeerConnection, now: float) -> PeerVerdict: ...

    def remove(self, conn: PeerConnection) -> None: ...


class PeerConnection:
    """The RFC 6733 peer state machine for one transport connection."""

    def __init__(
        self,
        settings: PeerSettings,
        role: Role,
        now: float,
        remote_address: str = "",
        application: Application | None = None,
        table: PeerRegistry | None = None,
        hbh_seed: int = 1,
    ) -> None:
        self.settings = settings
        self.role = role
        self.remote_address = remote_address
        self.application = application
        self.table = table
        self.peer_host = ""
        self.peer_realm = ""
        self._origin = b""  # peer_host as sent, for require_origin_match
        self.name = remote_address
        self.wakeup: Callable[[], None] | None = None
        self._in = bytearray()
        self._skip = 0
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self.pending: deque[bytes] = deque()
        self._hbh = hbh_seed & 0xFFFFFFFF
        self._e2e = (int(now) & 0xFFF) << 20 | (hbh_seed & 0xFFFFF)
        self._dwr_outstanding: int | None = None
        self._dpr_hbh: int | None = None
        #: when the capabilities exchange completed (the election only settles a simultaneous
        #: open, a race within the CER timeout of it)
        self.opened_at: float | None = None
        self._last_rx = now
        self._rng = random.Random(hbh_seed)
        self._tw = self._next_tw()
        self.answered = 0
        self.refused_busy = 0
        if role is Role.INITIATOR:
            self.state = State.WAIT_CEA
            self._deadline: float | None = now + settings.cer_timeout_s
            self._send(base.cer(settings.node, self._next_hbh(), self._next_e2e()))
        else:
            self.state = State.WAIT_CER
            self._deadline = now + settings.cer_timeout_s

    # --- the sans-IO interface ----------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        if self.state is State.CLOSED:
            return
        self._last_rx = now
        data = self._joined(data)
        n = len(data)
        start = 0
        limit = self.settings.max_message
        pending = self.pending
        busy_at = self.settings.max_in_flight
        at, to = _LENGTH_AT, _LENGTH_END
        while n - start >= to and not self.closed:
            length = int.from_bytes(data[start + at : start + to], "big")
            if length < HEADER_LEN:
                self._close(
                    f"framing lost: message length {length} is shorter than the 20-byte header"
                )
                return
            if length > limit:
                skipped = self._skip_long(data, start, length)
                if skipped == start:  # not even its header yet
                    break
                start = skipped
                continue
            end = start + length
            if end > n:
                break
            message = data[start:end]
            start = end
            # The hot path: an application request on an open connection goes to the queue.
            if (
                self.state is State.OPEN
                and message[4] & FLAG_R
                and message[8:12] != _APP_COMMON_BYTES
                and self.application is not None
            ):
                if len(pending) < busy_at:
                    pending.append(message)
                else:
                    self.refused_busy += 1
                    self._out.append(self.application.busy(message))
                continue
            self._message(message, now)
        if start < n and not self.closed:
            self._in += data[start:]  # at most one message: its length is under the limit

    def data_to_send(self) -> bytes:
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        if self.state is State.CLOSED:
            return None
        if self.state is State.OPEN:
            return self._last_rx + self._tw
        return self._deadline

    def handle_timer(self, now: float) -> None:
        if self.state is State.OPEN:
            if now < self._last_rx + self._tw:
                return
            if self._dwr_outstanding is not None:
                self._close("watchdog: no answer to DWR within Tw")
                return
            self._dwr_outstanding = self._next_hbh()
            self._send(base.dwr(self.settings.node, self._dwr_outstanding, self._next_e2e()))
            self._last_rx = now  # next expiry: another Tw for the DWA
            self._tw = self._next_tw()
            return
        if self._deadline is not None and now >= self._deadline:
            if self.state is State.CLOSING:
                self._close("no DPA within the timeout")
            elif self.state is State.WAIT_CER:
                self._close("no CER within the timeout")
            elif self.state is State.WAIT_CEA:
                self._close("no CEA within the timeout")

    def process(self, limit: int) -> int:
        """Answer up to `limit` queued application requests; returns how many."""
        application = self.application
        pending = self.pending
        done = 0
        if application is None:
            return 0
        out = self._out
        name = self.name
        expected = self._origin if self.settings.require_origin_match else None
        while pending and done < limit:
            buf = pending.popleft()
            done += 1
            if expected is not None and self._foreign(buf, expected):
                continue
            out.append(application.answer(buf, name))
        self.answered += done
        return done

    def note_traffic(self, now: float) -> None:
        """Messages were received that the adapter handled itself (a client reading its own
        answers): they count as traffic for the watchdog (RFC 3539 3.4.1)."""
        self._last_rx = now

    def send_request(self, buf: bytes) -> None:
        """Queue an application request we originate (initiator role)."""
        self._out.append(buf)

    def disconnect(self, cause: DisconnectCause, now: float) -> None:
        """Start RFC 6733's disconnection: DPR, then close on DPA or after the timeout."""
        if self.state is State.OPEN:
            self._dpr_hbh = self._next_hbh()
            self._send(base.dpr(self.settings.node, cause, self._dpr_hbh, self._next_e2e()))
            self.state = State.CLOSING
            self._deadline = now + self.settings.dpa_timeout_s
        elif self.state is not State.CLOSED:
            self._close(f"disconnected ({cause.name}) before the capabilities exchange")

    def connection_lost(self, reason: str = "transport closed") -> None:
        if self.state is not State.CLOSED:
            self._close(reason)

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def buffered(self) -> int:
        """Bytes held of a message not yet complete, or still to skip of an over-long one: 0
        between messages (the adapter's read timeout watches it)."""
        return len(self._in) + self._skip

    # --- internals ----------------------------------------------------------------------------

    def _joined(self, data: bytes) -> bytes:
        """`data` after what is left to skip of an over-long message, behind the rest of a
        message cut by the previous read."""
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        if self._in:
            self._in += data
            data = bytes(self._in)
            self._in.clear()
        return data

    def _skip_long(self, data: bytes, start: int, length: int) -> int:
        """A message over `max_message` at data[start:]: answered 5015 (a request, once its
        header is in), then skipped. Returns where the next message starts: `start` while
        its header is incomplete, len(data) when the rest of it is still to come."""
        n = len(data)
        if n - start < HEADER_LEN:
            return start
        self._too_long(data[start:], length)
        if n - start >= length:
            return start + length
        self._skip = length - (n - start)
        return n

    def _next_tw(self) -> float:
        jitter = self.settings.watchdog_jitter_s
        if not jitter:
            return self.settings.watchdog_s
        return self.settings.watchdog_s + self._rng.uniform(-jitter, jitter)

    def _next_hbh(self) -> int:
        self._hbh = (self._hbh + 1) & 0xFFFFFFFF
        return self._hbh

    def _next_e2e(self) -> int:
        self._e2e = (self._e2e + 1) & 0xFFFFFFFF
        return self._e2e

    def _send(self, msg: Message) -> None:
        self._out.append(codec.encode_message_pycrate(msg))

    def _close(self, reason: str, refused: bool = False) -> None:
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        self.pending.clear()  # the transport is gone: nobody to answer
        if self.table is not None:
            self.table.remove(self)
        # the adapter logs it, once: a peer going down, closes before CER throttled per address
        self._events.append(PeerDown(reason, refused))

    def _too_long(self, head: bytes, length: int) -> None:
        if head[4] & FLAG_R and self.state is State.OPEN:
            err = DiameterError(
                ResultCode.DIAMETER_INVALID_MESSAGE_LENGTH,
                f"message of {length} bytes is over the limit of {self.settings.max_message}",
            )
            self._error(header_only(head), err, scan_session_id(head))

    def _error(self, req: Message, err: DiameterError, session: bytes | None) -> None:
        self._send(
            base.error_answer(
                self.settings.node, req, err.result_code, err.text, err.failed, session
            )
        )

    def _message(self, buf: bytes, now: float) -> None:
        """A message off the hot path: base protocol commands in any state, application
        messages outside OPEN, and what the hot path leaves (answers, CLOSING)."""
        app = int.from_bytes(buf[8:12], "big")
        code = int.from_bytes(buf[5:8], "big")
        is_request = bool(buf[4] & FLAG_R)
        if (self.state is State.OPEN or self.state is State.CLOSING) and (
            app != APP_COMMON or code not in BASE_COMMANDS
        ):
            self._application_message(buf, app, is_request)
            return
        if (
            self.state is State.WAIT_CER
            and is_request
            and app == APP_COMMON
            and code == Command.CAPABILITIES_EXCHANGE
            and self._refused(buf)
        ):
            return
        msg = self._decode(buf)
        if msg is None:
            return
        if self.state is State.WAIT_CER:
            if msg.code == Command.CAPABILITIES_EXCHANGE and msg.is_request:
                self._on_cer(msg, now)
            else:
                self._close(f"command {msg.code} before the capabilities exchange", refused=True)
        elif self.state is State.WAIT_CEA:
            if msg.code == Command.CAPABILITIES_EXCHANGE and not msg.is_request:
                self._on_cea(msg, now)
            else:
                self._close(f"command {msg.code} before the CEA")
        else:
            self._base_command(msg)

    def _application_message(self, buf: bytes, app: int, is_request: bool) -> None:
        """An application message (or a command the base does not know) in OPEN or CLOSING:
        a request is queued for the application, an answer goes out as an event."""
        if not is_request:
            if app == APP_COMMON:
                self._unexpected(buf, "an answer to a command we never send")
            else:
                self._events.append(AnswerReceived(buf))
        elif self.application is None:
            self._error(
                header_only(buf),
                DiameterError(
                    ResultCode.DIAMETER_APPLICATION_UNSUPPORTED,
                    "no application is served on this connection",
                ),
                scan_session_id(buf),
            )
        elif len(self.pending) >= self.settings.max_in_flight:
            self.refused_busy += 1
            self._out.append(self.application.busy(buf))
        else:
            self.pending.append(buf)

    def _base_command(self, msg: Message) -> None:
        """DWR/DWA, DPR/DPA, or a second CER, in OPEN or CLOSING."""
        if msg.code == Command.DEVICE_WATCHDOG:
            if msg.is_request:
                self._send(base.dwa(self.settings.node, msg))
            elif msg.hbh == self._dwr_outstanding:
                self._dwr_outstanding = None
        elif msg.code == Command.DISCONNECT_PEER:
            if msg.is_request:
                self._on_dpr(msg)
            elif msg.hbh == self._dpr_hbh:
                self._close("DPA received")
        elif msg.code == Command.CAPABILITIES_EXCHANGE and msg.is_request:
            self._error(
                msg,
                DiameterError(
                    ResultCode.DIAMETER_UNABLE_TO_COMPLY,
                    "capabilities were already exchanged on this connection",
                ),
                None,
            )

    def _on_dpr(self, msg: Message) -> None:
        """DPR (RFC 6733 5.4): DPA, then close, saying the peer's Disconnect-Cause."""
        self._send(base.dpa(self.settings.node, msg))
        cause = msg.find(AvpCode.DISCONNECT_CAUSE)
        text = "?"
        if cause is not None and len(cause.data) == 4:
            number = int.from_bytes(cause.data, "big")
            try:
                text = DisconnectCause(number).name
            except ValueError:
                text = str(number)
        self._close(f"peer sent DPR ({text})")

    def _unexpected(self, buf: bytes, why: str) -> None:
        log.info("diameter peer %s: ignored %s", self.name, why)

    def _decode(self, buf: bytes) -> Message | None:
        """Decode a base-protocol message; a bad request is answered, a bad answer dropped."""
        header = wire.decode_header(buf)
        try:
            msg = wire.decode_message(buf, self.settings.limits)
            if header.app != APP_COMMON:
                raise DiameterError(
                    ResultCode.DIAMETER_APPLICATION_UNSUPPORTED,
                    f"application {header.app} is not served",
                )
            if header.code not in BASE_COMMANDS:
                raise DiameterError(
                    ResultCode.DIAMETER_COMMAND_UNSUPPORTED,
                    f"command {header.code} is not supported",
                )
            return msg
        except DiameterError as err:
            if buf[4] & FLAG_R:
                if self.state in (State.OPEN, State.CLOSING):
                    self._error(header_only(buf), err, scan_session_id(buf))
                else:
                    if (
                        self.state is State.WAIT_CER
                        and header.app == APP_COMMON
                        and header.code == Command.CAPABILITIES_EXCHANGE
                    ):
                        self._send(
                            base.cea(
                                self.settings.node,
                                header_only(buf),
                                err.result_code,
                                err.text,
                                err.failed,
                            )
                        )
                    self._close(
                        f"bad message before the capabilities exchange: {err}", refused=True
                    )
            else:
                self._unexpected(buf, f"a bad answer: {err}")
            return None
        except Exception:
            log.exception("diameter peer %s: cannot decode a base message", self.name)
            if buf[4] & FLAG_R:
                self._error(
                    header_only(buf),
                    DiameterError(ResultCode.DIAMETER_UNABLE_TO_COMPLY, "internal error"),
                    scan_session_id(buf),
                )
            return None

    def _refused(self, buf: bytes) -> bool:
        """The allow-list, decided on a CER's source address and its top-level Origin-Host and
        Origin-Realm (`wire.scan_origin`) before anything else of it is decoded: a refused
        peer costs a bounded scan, answered CEA 3010 DIAMETER_UNKNOWN_PEER and closed."""
        allow = self.settings.allow
        if not (allow.hosts or allow.realms or allow.networks):
            return False
        raw_host, raw_realm = wire.scan_origin(buf, self.settings.limits)
        host = (raw_host or b"").decode("ascii", "replace")
        realm = (raw_realm or b"").decode("ascii", "replace")
        refusal = allow.refuses(host, realm, self.remote_address)
        if refusal is None:
            return False
        self._send(
            base.cea(
                self.settings.node, header_only(buf), ResultCode.DIAMETER_UNKNOWN_PEER, refusal
            )
        )
        self._close(f"unknown peer {host}: {refusal}", refused=True)
        return True

    def _foreign(self, buf: bytes, expected: bytes) -> bool:
        """With require_origin_match: answer 3010 DIAMETER_UNKNOWN_PEER to a request whose
        Origin-Host is not the peer's (compared without case, as DiameterIdentity FQDNs are).
        A request without a readable Origin-Host is left to the application's checks."""
        host, _realm = wire.scan_origin(buf, self.settings.limits, realm_too=False)
        if host is None or host == expected or host.lower() == expected.lower():
            return False
        self._error(
            header_only(buf),
            DiameterError(
                ResultCode.DIAMETER_UNKNOWN_PEER,
                f"Origin-Host {host.decode('ascii', 'replace')!r} is not this connection's peer "
                f"{self.peer_host!r}",
            ),
            scan_session_id(buf),
        )
        return True

    def alive(self, now: float) -> bool:
        """Open, and not found dead by its watchdog: no DWR of ours outstanding, not silent
        past Tw (RFC 3539 3.4)."""
        return (
            self.state is State.OPEN
            and self._dwr_outstanding is None
            and now < self._last_rx + self._tw
        )

    def _identity(self, msg: Message) -> tuple[str, str] | DiameterError:
        host = msg.find(AvpCode.ORIGIN_HOST)
        realm = msg.find(AvpCode.ORIGIN_REALM)
        for code, avp in ((AvpCode.ORIGIN_HOST, host), (AvpCode.ORIGIN_REALM, realm)):
            if avp is None:
                return DiameterError(
                    ResultCode.DIAMETER_MISSING_AVP,
                    f"{code.name} is missing",
                    octets(code, b""),
                )
            try:
                avp.data.decode("ascii")
            except UnicodeDecodeError:
                return DiameterError(
                    ResultCode.DIAMETER_INVALID_AVP_VALUE, f"{code.name} is not ASCII", avp
                )
        assert host is not None and realm is not None
        return host.data.decode("ascii"), realm.data.decode("ascii")

    def _refuse_cer(self, msg: Message, err: DiameterError, reason: str) -> None:
        self._send(base.cea(self.settings.node, msg, err.result_code, err.text, err.failed))
        self._close(reason, refused=True)

    def _cer_refusal(self, msg: Message, host: str) -> tuple[DiameterError, str] | None:
        """What a CER lacks (RFC 6733 5.3.1: Host-IP-Address, Vendor-Id, Product-Name; an
        application in common, 5.3): the CEA's error and why we close, or None."""
        for code in (AvpCode.HOST_IP_ADDRESS, AvpCode.VENDOR_ID, AvpCode.PRODUCT_NAME):
            if msg.find(code) is None:
                failed = octets(code, bytes(4 if code == AvpCode.VENDOR_ID else 0))
                err = DiameterError(
                    ResultCode.DIAMETER_MISSING_AVP, f"{code.name} is missing", failed
                )
                return err, f"CER from {host} without {code.name}"
        app = self.settings.node.application
        if not base.advertises(msg, app):
            err = DiameterError(
                ResultCode.DIAMETER_NO_COMMON_APPLICATION,
                f"{app.name} ({app.auth_application_id}) is not among the advertised applications",
            )
            return err, f"no common application with {host}"
        return None

    def _on_cer(self, msg: Message, now: float) -> None:
        node = self.settings.node
        ident = self._identity(msg)
        if isinstance(ident, DiameterError):
            self._refuse_cer(msg, ident, f"bad CER: {ident.text}")
            return
        host, realm = ident
        refusal = self._cer_refusal(msg, host)
        if refusal is not None:
            self._refuse_cer(msg, *refusal)
            return
        self.peer_host, self.peer_realm = host, realm
        self._origin = host.encode("ascii")
        self.name = f"{host} ({self.remote_address})" if self.remote_address else host
        admission = PeerVerdict.ACCEPT if self.table is None else self.table.admit(self, now)
        if admission is PeerVerdict.ELECTION_LOST:
            self._send(base.cea(node, msg, ResultCode.DIAMETER_ELECTION_LOST, "election lost"))
            self.peer_host = ""
            self._close(f"election lost against our own connection to {host}")
            return
        if admission is PeerVerdict.DUPLICATE:
            self._send(
                base.cea(
                    node,
                    msg,
                    ResultCode.DIAMETER_UNABLE_TO_COMPLY,
                    f"{host} is connected already, from another address",
                )
            )
            self.peer_host = ""
            self._close(f"{host} is connected already, from another address: refused", refused=True)
            return
        self._send(base.cea(node, msg))
        self.state = State.OPEN
        self.opened_at = now
        self._deadline = None
        self._events.append(PeerUp(host, realm))

    def _on_cea(self, msg: Message, now: float) -> None:
        result = base.result_code(msg)
        ident = self._identity(msg)
        if result != ResultCode.DIAMETER_SUCCESS or isinstance(ident, DiameterError):
            text = base.text_of(msg, AvpCode.ERROR_MESSAGE) or ""
            self._close(f"CEA refused us: Result-Code {result} {text}".rstrip())
            return
        host, realm = ident
        self.peer_host, self.peer_realm = host, realm
        self._origin = host.encode("ascii")
        self.name = f"{host} ({self.remote_address})" if self.remote_address else host
        admission = PeerVerdict.ACCEPT if self.table is None else self.table.admit(self, now)
        if admission is not PeerVerdict.ACCEPT:
            self.peer_host = ""
            self._close(
                f"election: keeping the connection {host} opened to us"
                if admission is PeerVerdict.ELECTION_LOST
                else f"keeping the open connection to {host} from another address"
            )
            return
        self.state = State.OPEN
        self.opened_at = now
        self._deadline = None
        self._last_rx = now
        self._events.append(PeerUp(host, realm))
