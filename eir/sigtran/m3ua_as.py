"""The M3UA Application Server table (RFC 4666 section 4.3): the associations active per
Application Server, and the configured ASP Identifiers with the association holding each.

One AS per Routing Context (`AS_KEY_ANY` when none is used). In override mode one ASP serves an
AS: when another activates, the previous one is sent NTFY "Alternate ASP Active" and goes to
ASP-INACTIVE (RFC 4666 4.3.4.3); in loadshare mode all active ASPs serve; an AS active in one
mode refuses an ASP activating in the other (ERR "Unsupported Traffic Mode Type").

A configured ASP Identifier is held by one association at a time (RFC 4666 3.8.1). A newcomer
naming a held identifier takes it over (the holder is closed) when it connects from the
holder's address (the ASP restarted) or when the holder has received nothing for
`beat_interval_s` (`SILENT_HOLDER_S` when there is no BEAT): a silently dead association does
not lock its ASP out. Otherwise it gets ERR "Invalid ASP Identifier" and displaces nobody.

It implements what the ASP state machine asks of it (`eir.sigtran.m3ua_asp.AsRegistry`); the
state machine never imports this module. Sans-IO.
"""

from __future__ import annotations

import logging
from typing import Final

from eir.sigtran.m3ua import ErrorCode, M3uaError, TrafficMode, u32
from eir.sigtran.m3ua_asp import AspConnection

log = logging.getLogger("eir.m3ua")

#: with no BEAT (beat_interval_s = 0), a holder of an ASP Identifier silent this long gives it
#: up to a newcomer naming it
SILENT_HOLDER_S: Final = 30.0

#: the AS of the associations that use no Routing Context
AS_KEY_ANY: Final = -1


class AsTable:
    """Active ASPs per Application Server (one AS per Routing Context; AS_KEY_ANY: none).

    In override mode one ASP serves an AS: when another activates, the previous one is sent
    NTFY "Alternate ASP Active" and goes to ASP-INACTIVE (RFC 4666 4.3.4.3). In loadshare mode
    all active ASPs serve.
    """

    def __init__(self) -> None:
        self.active: dict[int, list[AspConnection]] = {}
        #: configured ASP Identifiers and the association holding each
        self.holders: dict[int, AspConnection] = {}
        self._held: dict[int, int] = {}  # id(connection) -> the ASP Identifier it holds

    def claim(self, conn: AspConnection, asp_id: int | None, now: float = 0.0) -> None:
        """`conn` now holds `asp_id` (None: nothing). When another open association holds it:
        taken over (the holder is closed) if `conn` comes from the holder's address (the ASP
        restarted) or the holder has been silent longer than beat_interval_s (SILENT_HOLDER_S
        without BEAT); else ERR "Invalid ASP Identifier" (RFC 4666 3.8.1: not unique), and a
        second client naming a configured ASP does not displace the one connected."""
        if asp_id is not None:
            holder = self.holders.get(asp_id)
            if holder is not None and holder is not conn and not holder.closed:
                interval = conn.settings.beat_interval_s
                silent_after = interval if interval > 0 else SILENT_HOLDER_S
                if holder.address == conn.address:
                    why = "from the same address"
                elif now - holder.last_rx > silent_after:
                    why = f"the holder silent for {now - holder.last_rx:.0f} s"
                else:
                    raise M3uaError(
                        ErrorCode.INVALID_ASP_IDENTIFIER,
                        f"ASP Identifier {asp_id} is in use by {holder.name or '?'}",
                        u32(asp_id),
                    )
                log.info(
                    "m3ua %s: takes ASP Identifier %d over from %s (%s)",
                    conn.name,
                    asp_id,
                    holder.name or "?",
                    why,
                )
                holder.retire(f"ASP Identifier {asp_id} taken over by {conn.name or '?'} ({why})")
        previous = self._held.pop(id(conn), None)
        if previous is not None and self.holders.get(previous) is conn:
            del self.holders[previous]
        if asp_id is not None:
            self.holders[asp_id] = conn
            self._held[id(conn)] = asp_id

    def check_mode(self, conn: AspConnection, mode: TrafficMode, contexts: tuple[int, ...]) -> None:
        """ERR "Unsupported Traffic Mode Type" when an AS is active in another mode: an
        override ASP never displaces loadsharing ones, nor the reverse (RFC 4666 4.3.4.3)."""
        for key in contexts or (AS_KEY_ANY,):
            for other in self.active.get(key, ()):
                if other is not conn and other.traffic_mode is not mode:
                    held = other.traffic_mode.name.lower() if other.traffic_mode else "another"
                    raise M3uaError(
                        ErrorCode.UNSUPPORTED_TRAFFIC_MODE_TYPE,
                        f"the AS is active in {held} mode",
                        u32(mode),
                    )

    def activate(self, conn: AspConnection) -> None:
        for key in conn.active_contexts or (AS_KEY_ANY,):
            members = self.active.setdefault(key, [])
            if conn.traffic_mode is TrafficMode.OVERRIDE:
                for other in list(members):
                    if other is not conn:
                        members.remove(other)
                        other.displace()
            if conn not in members:
                members.append(conn)

    def leave(self, conn: AspConnection) -> None:
        for members in self.active.values():
            if conn in members:
                members.remove(conn)
