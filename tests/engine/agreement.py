"""The fast path against a per-pod reference, for the property tests of each policy kind:
``expected(src, dst, port, protocol)`` is the reference's answer, ``probes`` the
(protocol, port) pairs worth asking."""

from __future__ import annotations

from netpol.engine.ipsets import ip_to_int
from netpol.engine.model import ACTIVE


def pod_pairs_agree(model, probes, expected) -> None:
    """The allowed set and ``reach`` answer as the reference for every pair of active pods."""
    pods = [p for p in model.pods if p.state == ACTIVE]
    allowed = model.allowed_connections()
    for src in pods:
        for dst in pods:
            if src is dst:
                continue
            for protocol, port in probes:
                want = expected(src, dst, port, protocol)
                got = allowed.allows(src.key, dst.key, port, protocol)
                assert got == want, (src.key, dst.key, protocol, port)
                assert model.reach(src.key, dst.key, port, protocol).allowed == want


def address_traffic_agrees(model, addresses, probes, expected) -> None:
    """Traffic between each active pod and each address, both ways, as the reference says."""
    ev = model.evaluation
    allowed = model.allowed_connections()
    egress = {c: g for g in ev.egress_ips() for c in g.classes}
    for pod in (p for p in model.pods if p.state == ACTIVE):
        c = ev.class_of[pod.key]
        entries = allowed.groups[allowed.group_of[c]].entries
        for text in addresses:
            address = ip_to_int(text)
            for protocol, port in probes:
                got_in = any(e.ports.has(port, protocol) and address in e.ips for e in entries)
                want_in = expected(address, pod, port, protocol)
                assert got_in == want_in, ("ingress", pod.key, text, protocol, port)
                got_out = any(
                    ports.has(port, protocol) and address in ips for ports, ips in egress[c].entries
                )
                want_out = expected(pod, address, port, protocol)
                assert got_out == want_out, ("egress", pod.key, text, protocol, port)
