"""The registry of open Diameter peer connections: one connection per peer (by Origin-Host),
never a silent zombie, and RFC 6733 section 5.6.4's election when both sides connect at once.

It implements what the peer state machine asks of it (`eir.diameter.peer.PeerRegistry`): a
connection calls `admit` once its capabilities are exchanged and `remove` when it closes. The
state machine never imports this module; the node wiring (`eir.service`) hands a `PeerTable`
to each connection. Sans-IO: time comes in as a callable.
"""

from __future__ import annotations

from collections.abc import Callable

from eir.diameter.dictionary import DisconnectCause
from eir.diameter.peer import PeerConnection, PeerVerdict, Role, State


class PeerTable:
    """Open connections by the peer's Origin-Host: one per peer, never a silent zombie.

    A peer that connects again from the same address while its older connection is open (it
    restarted) keeps the new connection; the old one is sent DPR and closed. From another
    address, with `duplicate_peer = "keep"` (the default), the newcomer is refused with CEA 5012
    DIAMETER_UNABLE_TO_COMPLY (as freeDiameter answers a CER for a peer already open) while the
    old connection is alive by its watchdog (`PeerConnection.alive`): any allowed peer could
    otherwise evict another by claiming its Origin-Host; once the old one is found dead, or with
    "replace", the old one is retired as above. When both sides opened a connection to each
    other at once (the other connection, of the other role and the same address, opened within
    the CER timeout), RFC 6733 5.6.4's election keeps the connection opened by the side whose
    Origin-Host is lower: the higher one wins and keeps the connection on which it is the
    responder. Outside that race an open connection is never elected away: a CER naming the
    Origin-Host of a peer we dialled follows the duplicate rule above.
    """

    def __init__(self, local_host: str, now: Callable[[], float]) -> None:
        self.local_host = local_host.lower()
        self._now = now
        self.by_host: dict[str, PeerConnection] = {}

    def admit(self, conn: PeerConnection, now: float) -> PeerVerdict:
        key = conn.peer_host.lower()
        old = self.by_host.get(key)
        if old is not None and old is not conn and not old.closed:
            racing = (
                old.role is not conn.role
                and old.remote_address == conn.remote_address
                and old.opened_at is not None
                and now - old.opened_at < conn.settings.cer_timeout_s
            )
            if racing:  # both sides opened a connection at once: RFC 6733 5.6.4's election
                we_win = self.local_host > key
                keep_responder = we_win
                keep_new = (conn.role is Role.RESPONDER) == keep_responder
                if not keep_new:
                    return PeerVerdict.ELECTION_LOST
            elif (
                conn.settings.duplicate_peer == "keep"
                and old.remote_address != conn.remote_address
                and old.alive(now)
            ):
                return PeerVerdict.DUPLICATE
            self._retire(old)
        self.by_host[key] = conn
        return PeerVerdict.ACCEPT

    def _retire(self, old: PeerConnection) -> None:
        old.disconnect(DisconnectCause.BUSY, self._now())
        if self.table_of(old):
            del self.by_host[old.peer_host.lower()]
        if old.wakeup is not None:
            old.wakeup()

    def table_of(self, conn: PeerConnection) -> bool:
        return self.by_host.get(conn.peer_host.lower()) is conn

    def remove(self, conn: PeerConnection) -> None:
        if conn.peer_host and self.table_of(conn):
            del self.by_host[conn.peer_host.lower()]

    def is_open(self, host: str) -> bool:
        conn = self.by_host.get(host.lower())
        return conn is not None and conn.state is State.OPEN
