"""Who may be an ASP of this node (RFC 4666 section 4.3.4.1, the SGP's side of ASP Up): the
configured ASPs (`[[m3ua.asps]]`), by source network and ASP Identifier, and the source networks
allowed to connect at all.

`refused_source` is asked before an association takes a pending slot and when its state machine
starts; `bind` when its ASPUP arrives: the configured ASP it is, or the ERR that refuses it
("Refused - Management Blocking", "ASP Identifier Required", "Invalid ASP Identifier").
Sans-IO, and it imports no other module of the ASP: `eir.sigtran.m3ua_asp` uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from eir.networks import in_networks
from eir.sigtran.m3ua import ErrorCode, M3uaError, u32


@dataclass(frozen=True)
class AspBinding:
    """A configured ASP (`[[m3ua.asps]]`): who it is and what it may do."""

    name: str
    #: the ASP Identifier its ASPUP must carry; None: any, or none
    asp_identifier: int | None = None
    #: source networks it connects from (CIDR); empty: any
    networks: tuple[str, ...] = ()
    #: Routing Contexts it may activate; empty: the node's `routing_contexts`
    routing_contexts: tuple[int, ...] = ()
    #: whether it may activate in override mode (and so displace another override ASP)
    override: bool = False


def refused_source(
    allowed_networks: tuple[str, ...], asps: tuple[AspBinding, ...], address: str
) -> str:
    """Why an association from `address` may not even start ("" when it may): outside
    `allowed_networks`, or outside the networks of every configured ASP."""
    if not in_networks(address, allowed_networks):
        return f"source {address or '?'} is not in m3ua.allowed_networks"
    if asps and not any(in_networks(address, b.networks) for b in asps):
        return f"source {address or '?'} matches no configured ASP"
    return ""


def bind(asps: tuple[AspBinding, ...], address: str, asp_id: int | None) -> AspBinding | None:
    """The configured ASP an ASPUP from `address` carrying `asp_id` is (None when no ASPs are
    configured); M3uaError with the ERR to send when it is none of them."""
    if not asps:
        return None
    here = [b for b in asps if in_networks(address, b.networks)]
    if not here:
        raise M3uaError(
            ErrorCode.REFUSED_MANAGEMENT_BLOCKING,
            f"source {address or '?'} matches no configured ASP",
        )
    if asp_id is not None:
        for binding in here:
            if binding.asp_identifier == asp_id:
                return binding
    for binding in here:
        if binding.asp_identifier is None:
            return binding
    if asp_id is None:
        raise M3uaError(
            ErrorCode.ASP_IDENTIFIER_REQUIRED,
            "the configured ASPs of this source need an ASP Identifier",
        )
    raise M3uaError(
        ErrorCode.INVALID_ASP_IDENTIFIER,
        f"ASP Identifier {asp_id} is not configured for this source",
        u32(asp_id),
    )
