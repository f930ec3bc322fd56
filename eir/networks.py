"""Source-address allow-lists: is this peer's address in one of these networks?

Layer 0: standard library only. One definition for the Diameter allow-list, the M3UA
`allowed_networks` and `[[m3ua.asps]]` networks, and the transport's check before a connection
takes a slot in a pool.
"""

from __future__ import annotations

import ipaddress


def in_networks(address: str, networks: tuple[str, ...]) -> bool:
    """True when `address` lies in one of `networks` (addresses or CIDR; an empty tuple admits
    everyone). An IPv6 scope (`%eth0`) is ignored; an IPv4-mapped IPv6 address matches the IPv4
    networks; an address that does not parse matches nothing."""
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    except ValueError:
        return False
    for net in networks:
        network = ipaddress.ip_network(net, strict=False)
        if ip.version == network.version and ip in network:
            return True
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None and network.version == 4 and mapped in network:
            return True
    return False
