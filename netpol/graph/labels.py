"""Short labels and CSS classes for nodes and edges."""

from __future__ import annotations

import ipaddress

from ..engine import (
    ALL_PORTS,
    IPV4_BASE,
    IPSet,
    PortSet,
)

IPV4 = IPSet.from_cidr("0.0.0.0/0")
IPV6 = IPSet.from_cidr("::/0")


# --- Labels ----------------------------------------------------------------------------


def ports_label(ports: PortSet) -> str:
    """Short edge label: "5432, 6379", "53/udp", "all ports", "all TCP"."""
    if ports == ALL_PORTS:
        return "all ports"
    items = []
    for text in ports.describe():
        protocol, value = text.split("/")
        if value == "*":
            items.append(f"all {protocol}")
        else:
            items.append(value if protocol == "TCP" else f"{value}/{protocol.lower()}")
    if len(items) > 4:
        return ", ".join(items[:3]) + f" +{len(items) - 3} more"
    return ", ".join(items)


def address_label(ips: IPSet, outside: IPSet) -> str:
    """An outside address set in a few words: "203.0.113.0/24", "any external IPv4",
    "external IPv4 except 169.254.169.254/32". Sets are cut to the outside, so the
    complement within the outside is often the shorter description."""
    if ips == outside:
        return "any external address"
    parts = []
    for family, name in ((IPV4, "IPv4"), (IPV6, "IPv6")):
        mine, everything = ips & family, outside & family
        if not mine:
            continue
        cidrs = mine.to_cidrs()
        if mine == everything:
            parts.append(f"any external {name}")
        elif len(cidrs) <= 2:
            parts.extend(cidrs)
        else:
            missing = (everything - mine).to_cidrs()
            cover = _cover(mine)
            holes = (IPSet.from_cidr(cover) - mine).to_cidrs()
            if len(missing) <= 2:
                parts.append(f"external {name} except {', '.join(missing)}")
            elif len(holes) <= 2:
                parts.append(f"{cover} except {', '.join(holes)}")
            else:
                parts.append(f"parts of {cover}")
    return ", ".join(parts)


def _cover(ips: IPSet) -> str:
    """The smallest CIDR holding every address of a one-family set."""
    lo, hi = ips.ranges[0][0], ips.ranges[-1][1] - 1
    base, bits = (IPV4_BASE, 32) if lo >= IPV4_BASE else (0, 128)
    lo, hi = lo - base, hi - base
    prefix = bits - (lo ^ hi).bit_length()
    network = lo >> (bits - prefix) << (bits - prefix)
    network_type = ipaddress.IPv4Network if bits == 32 else ipaddress.IPv6Network
    return str(network_type((network, prefix)))


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def fraction(part: int, whole: int) -> str:
    return f"{part} of {whole}"


def coverage_class(pods: int, ingress: int, egress: int) -> str:
    """ "uncovered" when no pod is isolated either way, "partial" when some pod is not
    isolated both ways, "" when every pod is."""
    if not pods:
        return ""
    if ingress == 0 and egress == 0:
        return "uncovered"
    if ingress < pods or egress < pods:
        return "partial"
    return ""
