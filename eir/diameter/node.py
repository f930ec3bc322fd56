"""The local Diameter node: who we are on Diameter (RFC 6733 section 5.3, the identity a
CER/CEA carries; section 6.1, the realms we serve) and which application we advertise.

One value, `NodeIdentity`, is read by the capabilities exchange (`eir.diameter.base`), the peer
state machine (`eir.diameter.peer`) and an application's answers (Origin-Host, Origin-Realm,
the realms served).
"""

from __future__ import annotations

from dataclasses import dataclass

from eir.diameter.dictionary import S13, ApplicationId


@dataclass(frozen=True)
class NodeIdentity:
    """Who we are on Diameter, which realms we serve (empty: any), and what a CER/CEA says
    about this node: its addresses, Origin-State-Id and the application it advertises."""

    origin_host: str = "eir.localdomain"
    origin_realm: str = "localdomain"
    realms: frozenset[str] = frozenset()
    vendor_id: int = 0
    product_name: str = "eir"
    firmware_revision: int = 100
    host_ip_addresses: tuple[str, ...] = ("127.0.0.1",)
    origin_state_id: int = 1
    #: the application advertised in CER/CEA and required of a peer's CER
    application: ApplicationId = S13
