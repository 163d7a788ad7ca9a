"""Ports: rule port entries, named-port resolution, and port sets over all protocols.

A ``PortSet`` lays the three protocols end to end on one number line
(``protocol_index * 65536 + port``) so the interval algebra of ``ipsets`` serves for ports
too: "TCP 8000-8080 or any UDP port" is two ranges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .ipsets import Intervals

PROTOCOLS = ("TCP", "UDP", "SCTP")
_SPAN = 1 << 16
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class PortSet(Intervals):
    """A set of (protocol, port) pairs, ports 1..65535."""

    __slots__ = ()

    @classmethod
    def of(cls, protocol: str, lo: int | None = None, hi: int | None = None) -> PortSet:
        """One protocol's ports lo..hi inclusive (all of them when lo is None)."""
        base = PROTOCOLS.index(protocol) * _SPAN
        if lo is None:
            lo, hi = 1, 65535
        return cls._raw(((base + lo, base + (hi if hi is not None else lo) + 1),))

    def has(self, port: int, protocol: str) -> bool:
        return PROTOCOLS.index(protocol) * _SPAN + port in self

    def describe(self) -> list[str]:
        """["TCP/80", "TCP/8000-8080", "UDP/*"]: a protocol's full range shows as "*"."""
        out = []
        for lo, hi in self.ranges:
            proto = PROTOCOLS[lo // _SPAN]
            a, b = lo % _SPAN, (hi - 1) % _SPAN
            if a == 1 and b == 65535:
                out.append(f"{proto}/*")
            elif a == b:
                out.append(f"{proto}/{a}")
            else:
                out.append(f"{proto}/{a}-{b}")
        return out

    @classmethod
    def parse(cls, described) -> PortSet:
        """The inverse of ``describe()``: from "TCP/80", "TCP/8000-8080", "UDP/*"."""
        out = cls()
        for text in described:
            protocol, _, ports = text.partition("/")
            if ports == "*":
                out = out | cls.of(protocol)
            else:
                lo, _, hi = ports.partition("-")
                out = out | cls.of(protocol, int(lo), int(hi or lo))
        return out

    def samples(self) -> list[tuple[str, int]]:
        """One (protocol, port) per range: enough to probe each range."""
        return [(PROTOCOLS[lo // _SPAN], lo % _SPAN) for lo, _ in self.ranges]


def _all_ports() -> PortSet:
    out = PortSet()
    for proto in PROTOCOLS:
        out = out | PortSet.of(proto)
    return out


ALL_PORTS = _all_ports()
NO_PORTS = PortSet()


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One entry of a rule's ``ports``. ``port`` is None (every port of the protocol), a
    number, or a container-port name; an invalid entry matches nothing."""

    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None
    valid: bool = True

    @property
    def named(self) -> bool:
        return isinstance(self.port, str)

    def resolve(self, named_ports: frozenset[tuple[str, str, int]]) -> PortSet:
        """The ports this entry allows towards a destination with these named ports.

        A name matches only destination pods that declare a container port of that name and
        the entry's protocol, and means that pod's number: one name can mean 8080 on one pod
        and 9090 on another, so it is resolved per destination pod, never once per policy.
        """
        if not self.valid:
            return NO_PORTS
        if self.port is None:
            return PortSet.of(self.protocol)
        if isinstance(self.port, int):
            return PortSet.of(self.protocol, self.port, self.end_port or self.port)
        out = NO_PORTS
        for name, proto, number in named_ports:
            if name == self.port and proto == self.protocol:
                out = out | PortSet.of(proto, number)
        return out

    @property
    def text(self) -> str:
        """The entry as written: "TCP/80", "TCP/8000-8080", "UDP/dns", "SCTP/*"."""
        if self.port is None:
            return f"{self.protocol}/*"
        return f"{self.protocol}/{self.port}" + (f"-{self.end_port}" if self.end_port else "")

    def to_dict(self) -> dict:
        out: dict = {"protocol": self.protocol}
        if self.port is not None:
            out["port"] = self.port
        if self.end_port is not None:
            out["endPort"] = self.end_port
        return out


def parse_port(obj, path: str, errors: list[tuple[str, str]]) -> PortSpec:
    """One NetworkPolicyPort; problems go to ``errors`` and give an entry matching nothing."""
    if not isinstance(obj, dict):
        errors.append((path, "must be a mapping"))
        return PortSpec(valid=False)
    protocol = obj.get("protocol") or "TCP"
    port = obj.get("port")
    end_port = obj.get("endPort")
    bad = PortSpec(protocol=protocol if protocol in PROTOCOLS else "TCP", valid=False)
    if protocol not in PROTOCOLS:
        errors.append((f"{path}.protocol", f"{protocol!r} is not one of {', '.join(PROTOCOLS)}"))
        return bad
    if isinstance(port, bool) or (port is not None and not isinstance(port, int | str)):
        errors.append((f"{path}.port", "must be a number or a port name"))
        return bad
    if isinstance(port, int) and not 1 <= port <= 65535:
        errors.append((f"{path}.port", f"{port} is outside 1-65535"))
        return bad
    if isinstance(port, str) and not (
        len(port) <= 15 and _NAME.match(port) and re.search("[a-z]", port)
    ):
        errors.append((f"{path}.port", f"{port!r} is not a valid port name"))
        return bad
    if end_port is not None:
        if not isinstance(port, int):
            errors.append((f"{path}.endPort", "needs a numeric port"))
            return bad
        if (
            isinstance(end_port, bool)
            or not isinstance(end_port, int)
            or not port <= end_port <= 65535
        ):
            errors.append(
                (f"{path}.endPort", f"{end_port!r} must be a number from port ({port}) to 65535")
            )
            return bad
    return PortSpec(protocol=protocol, port=port, end_port=end_port)
