"""Who may connect as a Diameter peer: the allow-list of Origin-Host patterns, Origin-Realms
and source networks (`[diameter] allowed_hosts`, `allowed_realms`, `allowed_networks`).

The peer state machine (`eir.diameter.peer`) asks it twice: the source address alone before a
connection takes a pending slot, then the CER's Origin-Host and Origin-Realm; a refused peer is
answered CEA 3010 DIAMETER_UNKNOWN_PEER (RFC 6733 section 5.3) and closed. Sans-IO.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from eir.networks import in_networks


@dataclass(frozen=True)
class AllowList:
    """Who may connect: Origin-Host patterns (fnmatch), realms, source networks. Empty = any."""

    hosts: tuple[str, ...] = ()
    realms: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()

    def refuses(self, host: str, realm: str, address: str) -> str | None:
        if self.hosts and not any(fnmatch.fnmatch(host.lower(), p.lower()) for p in self.hosts):
            return f"Origin-Host {host!r} is not allowed"
        if self.realms and realm.lower() not in {r.lower() for r in self.realms}:
            return f"Origin-Realm {realm!r} is not allowed"
        return self.refuses_address(address)

    def refuses_address(self, address: str) -> str | None:
        """The source networks alone: checked before a connection takes a pending slot."""
        if not in_networks(address, self.networks):
            return f"source address {address or '?'} is not allowed"
        return None
