"""External exposure: per pod, the outside addresses it can receive from and send to.

"Outside" is everything but the cluster's own ranges: the declared pod and service CIDRs,
plus what the objects show (node podCIDRs, node addresses, service cluster IPs, pod IPs).
Exposure is the allowed address set (ingress from addresses; egress to addresses, where a
port name never matches because it only resolves against a destination pod) intersected
with the outside.
"""

from __future__ import annotations

from .evaluate import DestinationGroup, EgressGroup, Evaluation
from .gcpause import gc_paused
from .ipsets import ALL_IPS, IPSet
from .ports import PortSet


def _by_ipset(entries) -> list[tuple[PortSet, IPSet]]:
    merged: dict[IPSet, PortSet] = {}
    for ports, ips in entries:
        if ips:
            merged[ips] = merged.get(ips, PortSet()) | ports
    return [(ports, ips) for ips, ports in merged.items()]


class ExternalExposure:
    def __init__(
        self,
        ev: Evaluation,
        inside: IPSet,
        allowed_groups: list[DestinationGroup],
        egress_groups: list[EgressGroup],
    ):
        self.ev = ev
        self.outside = ALL_IPS - inside
        outside = self.outside
        self._cidrs: dict[IPSet, list[str]] = {}
        n = len(ev.classes)
        ingress_of: list[int] = [0] * n
        egress_of: list[int] = [0] * n
        self.ingress: list[list[tuple[PortSet, IPSet]]] = []
        self.egress: list[list[tuple[PortSet, IPSet]]] = []
        cut: dict[IPSet, IPSet] = {}

        def external(ips: IPSet) -> IPSet:
            hit = cut.get(ips)
            if hit is None:
                hit = cut[ips] = ips & outside
            return hit

        for group in allowed_groups:
            self.ingress.append(_by_ipset((e.ports, external(e.ips)) for e in group.entries))
            for c in group.classes:
                ingress_of[c] = len(self.ingress) - 1
        for group in egress_groups:
            self.egress.append(_by_ipset((ports, external(ips)) for ports, ips in group.entries))
            for c in group.classes:
                egress_of[c] = len(self.egress) - 1
        # Classes with the same exposure both ways are reported together.
        self.groups: dict[tuple[int, int], list[int]] = {}
        for c in range(n):
            self.groups.setdefault((ingress_of[c], egress_of[c]), []).append(c)
        self._of_class = (ingress_of, egress_of)

    def cidrs(self, ips: IPSet) -> list[str]:
        hit = self._cidrs.get(ips)
        if hit is None:
            hit = self._cidrs[ips] = ips.to_cidrs()
        return hit

    def _describe(self, items) -> list[dict]:
        return [{"ports": ports.describe(), "cidrs": self.cidrs(ips)} for ports, ips in items]

    def of_pod(self, key: str) -> dict:
        """``{"ingress": [{"ports", "cidrs"}], "egress": [...]}`` for one active pod."""
        c = self.ev.class_of[key]
        return {
            "ingress": self._describe(self.ingress[self._of_class[0][c]]),
            "egress": self._describe(self.egress[self._of_class[1][c]]),
        }

    def ingress_of(self, c: int) -> list[tuple[PortSet, IPSet]]:
        """The outside addresses class ``c`` may receive from, per port set."""
        return self.ingress[self._of_class[0][c]]

    def exposed_classes(self) -> list[int]:
        """The ids of the classes some outside address may open a connection to."""
        ingress_of = self._of_class[0]
        return [c for c in range(len(ingress_of)) if self.ingress[ingress_of[c]]]

    def of_classes(self):
        """``(pods, ingress, egress)`` per group of classes with the same exposure, where
        ingress and egress are lists of (PortSet, IPSet) outside the cluster."""
        for (i, e), classes in self.groups.items():
            pods = [p for c in classes for p in self.ev.classes[c].pods]
            yield pods, self.ingress[i], self.egress[e]

    @gc_paused()
    def to_dict(self) -> dict:
        """Groups of pods with the same exposure; pods with none both ways are left out."""
        out = []
        for (i, e), classes in self.groups.items():
            if not self.ingress[i] and not self.egress[e]:
                continue
            out.append(
                {
                    "pods": sorted(p.key for c in classes for p in self.ev.classes[c].pods),
                    "ingress": self._describe(self.ingress[i]),
                    "egress": self._describe(self.egress[e]),
                }
            )
        return {"outside": self.cidrs(self.outside), "groups": out}
