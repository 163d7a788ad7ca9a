"""Interval sets: IP address sets (IPv4 and IPv6 on one number line) and their algebra.

An ipBlock is ``cidr`` minus its ``except`` entries. Representing every address set as
sorted, disjoint, half-open integer intervals makes that subtraction, the unions over
peers and the intersection with "external" space exact and cheap, whatever the family.
"""

from __future__ import annotations

import ipaddress
import socket
from bisect import bisect_right

from netpol.cache import LRU

# IPv6 addresses are 0 .. 2**128-1; IPv4 addresses sit just above, so one integer line
# holds both families and a range never straddles them.
IPV4_BASE = 1 << 128
_V4_END = IPV4_BASE + (1 << 32)


class Intervals:
    """An immutable set of integers stored as sorted, disjoint, non-adjacent [lo, hi) ranges."""

    __slots__ = ("ranges", "_hash")

    def __init__(self, ranges=()):
        self.ranges: tuple[tuple[int, int], ...] = _normalise(ranges)
        self._hash = None

    @classmethod
    def _raw(cls, ranges: tuple[tuple[int, int], ...]):
        obj = cls.__new__(cls)
        obj.ranges = ranges
        obj._hash = None
        return obj

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.ranges == self.ranges

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self.ranges)
        return self._hash

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ranges!r})"

    def __contains__(self, value: int) -> bool:
        ranges = self.ranges
        i = bisect_right(ranges, (value, float("inf"))) - 1
        return i >= 0 and ranges[i][0] <= value < ranges[i][1]

    def __or__(self, other):
        if not other.ranges:
            return self
        if not self.ranges:
            return other
        return type(self)._raw(_normalise(self.ranges + other.ranges))

    def __and__(self, other):
        a, b = self.ranges, other.ranges
        if len(a) > len(b):
            a, b = b, a
        if len(a) * 8 < len(b):
            return type(self)._raw(_intersect_few(a, b))
        out = []
        i = j = 0
        while i < len(a) and j < len(b):
            lo = max(a[i][0], b[j][0])
            hi = min(a[i][1], b[j][1])
            if lo < hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return type(self)._raw(tuple(out))

    def __sub__(self, other):
        if not other.ranges or not self.ranges:
            return self
        out = []
        b = other.ranges
        j = 0
        for lo, hi in self.ranges:
            while j < len(b) and b[j][1] <= lo:
                j += 1
            k = j
            cur = lo
            while k < len(b) and b[k][0] < hi:
                if b[k][0] > cur:
                    out.append((cur, b[k][0]))
                cur = max(cur, b[k][1])
                k += 1
            if cur < hi:
                out.append((cur, hi))
        return type(self)._raw(tuple(out))

    def issubset(self, other) -> bool:
        return not (self - other)

    def boundaries(self):
        for lo, hi in self.ranges:
            yield lo
            yield hi


def _intersect_few(few, many) -> tuple[tuple[int, int], ...]:
    """``few & many`` by bisecting ``many`` once per range of ``few``: an ipBlock against
    the tens of thousands of ranges outside a cluster costs a few lookups, not a merge."""
    out = []
    for lo, hi in few:
        k = max(0, bisect_right(many, (lo, float("inf"))) - 1)
        while k < len(many) and many[k][0] < hi:
            start, end = max(lo, many[k][0]), min(hi, many[k][1])
            if start < end:
                out.append((start, end))
            k += 1
    return tuple(out)


def _normalise(ranges) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if lo >= hi:
            continue
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def ip_to_int(text: str) -> int:
    """An address on the shared number line; raises ValueError when it is not an address.

    inet_pton is strict (dotted quad, no leading-zero forms like "1") and much faster
    than the ipaddress module, which matters for 50,000 pods."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not an IP address")
    text = text.strip()
    try:
        if ":" in text:
            return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
        return IPV4_BASE + int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except OSError:
        raise ValueError(f"{text!r} is not an IP address") from None


def int_to_ip(value: int) -> str:
    if value >= IPV4_BASE:
        return str(ipaddress.IPv4Address(value - IPV4_BASE))
    return str(ipaddress.IPv6Address(value))


class IPSet(Intervals):
    """A set of IPv4 and IPv6 addresses."""

    __slots__ = ()

    @classmethod
    def from_cidr(cls, text: str) -> IPSet:
        """A CIDR (host bits allowed, as the API accepts "192.168.1.1/24"); ValueError if invalid."""
        if not isinstance(text, str) or "/" not in text:
            raise ValueError(f"{text!r} is not a CIDR")
        net = ipaddress.ip_network(text.strip(), strict=False)
        base = IPV4_BASE if net.version == 4 else 0
        lo = int(net.network_address) + base
        return cls._raw(((lo, lo + net.num_addresses),))

    @classmethod
    def from_ips(cls, texts) -> IPSet:
        return cls([(v, v + 1) for v in (ip_to_int(t) for t in texts)])

    def contains_ip(self, text: str) -> bool:
        return ip_to_int(text) in self

    def to_cidrs(self, limit: int | None = None) -> list[str]:
        """The smallest list of CIDRs covering exactly this set, IPv4 first; only the
        first ``limit`` of them when given (a set of 50,000 pod addresses has 50,000)."""
        out: list[str] = []
        # A range may straddle the families (ALL_IPS is one range): split it.
        v4 = [(max(lo, IPV4_BASE), hi) for lo, hi in self.ranges if hi > IPV4_BASE]
        v6 = [(lo, min(hi, IPV4_BASE)) for lo, hi in self.ranges if lo < IPV4_BASE]
        for ranges, base, bits, cls in (
            (v4, IPV4_BASE, 32, ipaddress.IPv4Address),
            (v6, 0, 128, ipaddress.IPv6Address),
        ):
            for lo, hi in ranges:
                start, end = lo - base, hi - base
                while start < end:
                    if limit is not None and len(out) >= limit:
                        return out
                    size = start & -start if start else 1 << bits
                    while size > end - start:
                        size >>= 1
                    out.append(f"{cls(start)}/{bits - size.bit_length() + 1}")
                    start += size
        return out

    def covering(self, v4_prefix: int, v6_prefix: int) -> IPSet:
        """The smallest superset made of whole /v4_prefix (IPv4) and /v6_prefix (IPv6)
        blocks: the blocks around each address, or each range's own size if larger."""
        out = []
        split = [(max(lo, IPV4_BASE), hi) for lo, hi in self.ranges if hi > IPV4_BASE]
        split += [(lo, min(hi, IPV4_BASE)) for lo, hi in self.ranges if lo < IPV4_BASE]
        for lo, hi in split:
            bits = 32 - v4_prefix if lo >= IPV4_BASE else 128 - v6_prefix
            size = 1 << bits
            base = IPV4_BASE if lo >= IPV4_BASE else 0
            start = base + ((lo - base) >> bits << bits)
            end = base + ((hi - base + size - 1) >> bits << bits)
            out.append((start, end))
        return type(self)(out)


# Both families; the two ranges touch, so the set is stored as one range.
ALL_IPS = IPSet([(0, _V4_END)])
NO_IPS = IPSet._raw(())


_CIDR_SETS = LRU(65536)


def cidr_set(cidr: str) -> IPSet:
    """``IPSet.from_cidr``, kept for text seen before (node podCIDRs, pasted CIDRs)."""
    return _CIDR_SETS.get(cidr, lambda: IPSet.from_cidr(cidr))


def peers_union(peer_classes, peer_ips) -> tuple[int, IPSet]:
    """What a rule's peers match together: the OR of their class bitsets and the union of
    their address sets (each distinct set once)."""
    classes = 0
    for c in peer_classes:
        classes |= c
    ips = NO_IPS
    for i in set(peer_ips):
        ips = ips | i
    return classes, ips
