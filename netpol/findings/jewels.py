"""NP050: the internet reaches a crown jewel in a few connections.

Crown jewels are the workloads whose pods carry the given labels (``netpol.paths``); the
default is the dashboard's ``netpol-auditor.io/crown-jewel=true``. One finding per jewel
reached from outside within ``ATTACK_HOPS`` connections, naming the shortest path and the
rules that open each hop, so the fix (cut any one hop) is in front of the reader.
"""

from __future__ import annotations

from netpol.engine import ClusterModel
from netpol.paths import INTERNET, attack_paths, crown_jewels, parse_selector

from .finding import Finding, make, workload_ref

# "A few hops": from outside into the cluster, and at most two moves inside it.
ATTACK_HOPS = 3


def findings(model: ClusterModel, selector: str | None) -> list[Finding]:
    if not selector or not selector.strip():
        return []
    jewels = crown_jewels(model, selector=parse_selector(selector))
    if not jewels:
        return []
    # One path per jewel: the shortest, which is what the finding must make the reader cut.
    shortest = {}
    for path in attack_paths(model, jewels, start=INTERNET, max_hops=ATTACK_HOPS, limit=1):
        shortest.setdefault(path.target, path)
    out = []
    for jewel, path in sorted(shortest.items()):
        steps = " → ".join(
            ["the internet"] + [f"{hop.dst} ({hop.protocol}/{hop.port})" for hop in path.hops]
        )
        hops = len(path.hops)
        on_path = [_ref(hop.dst) for hop in path.hops]
        out.append(
            make(
                "NP050",
                f"The internet reaches crown jewel {jewel} in {hops} connection"
                f"{'s' if hops != 1 else ''}: {steps}.",
                [_ref(jewel), *[w for w in on_path if w != _ref(jewel)]],
                identity=(jewel,),
                namespace=jewel.split("/", 1)[0],
                evidence={"crown_jewel": jewel, "hops": hops, "path": path.to_dict()["hops"]},
                workloads=[_ref(jewel)],
            )
        )
    return out


def _ref(key: str) -> str:
    """``Kind/ns/name``, as findings name objects, from the engine's ``ns/Kind/name``."""
    namespace, workload = key.split("/", 1)
    return workload_ref(namespace, workload)
