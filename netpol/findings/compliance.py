"""Compliance evidence per namespace: CIS 5.3.2 and the NSA/CISA default deny.

Existence of a policy is never enough (see ``catalogue.CONTROLS``):

* CIS 5.3.2 passes when the namespace has policies and every running pod in it is
  isolated for ingress and for egress. A namespace without running pods passes when it
  has a default deny both ways, so that pods created there later are covered.
* NSA/CISA passes when the namespace has a default-deny policy for ingress and for
  egress and no allow-all rule (no peers, no ports) re-opens one of its pods.

Each result says why in a sentence, e.g. "default-deny egress present; 3 pods still
egress-open through allow-egress-all".
"""

from __future__ import annotations

from netpol.engine import EGRESS, INGRESS

from .catalogue import CIS_532, NSA_DEFAULT_DENY
from .facts import Facts
from .finding import plural, short_list

PASS = "pass"
FAIL = "fail"


def _allow_all_open(facts: Facts) -> dict[tuple[str, str], dict[str, int]]:
    """{(namespace, direction): {policy name: running pods it re-opens}} for allow-all rules."""
    ev = facts.ev
    out: dict[tuple[str, str], dict[str, int]] = {}
    for cls in ev.classes:
        for direction in (INGRESS, EGRESS):
            for compiled in ev.rules_of(cls.id, direction):
                rule = compiled.rule
                if rule.valid and rule.peers is None and rule.ports is None:
                    by_policy = out.setdefault((cls.namespace, direction), {})
                    name = compiled.policy.name
                    by_policy[name] = by_policy.get(name, 0) + len(cls.pods)
    return out


def compute(facts: Facts, coverage) -> list[dict]:
    reopened = _allow_all_open(facts)
    out = []
    for name in sorted(coverage.namespaces):
        nc = coverage.namespaces[name]
        counts = nc.counts
        deny = {INGRESS: nc.default_deny_ingress, EGRESS: nc.default_deny_egress}
        # CIS 5.3.2
        if not nc.policies:
            status, evidence = FAIL, "no NetworkPolicy in the namespace"
            if counts.pods:
                evidence += f"; its {plural(counts.pods, 'running pod')} are open both ways"
        elif not counts.pods:
            both = deny[INGRESS] and deny[EGRESS]
            status = PASS if both else FAIL
            evidence = f"{plural(len(nc.policies), 'policy', 'policies')} and no running pods; " + (
                "default deny both ways covers pods created later"
                if both
                else "no default deny both ways, so pods created later would be open"
            )
        else:
            ok = counts.ingress_pods == counts.pods and counts.egress_pods == counts.pods
            status = PASS if ok else FAIL
            evidence = (
                f"{plural(len(nc.policies), 'policy', 'policies')}; "
                f"{counts.ingress_pods} of {plural(counts.pods, 'running pod')} isolated for "
                f"ingress, {counts.egress_pods} of {counts.pods} for egress"
            )
            open_workloads = sorted(
                {w for _, w in nc.open_ingress} | {w for _, w in nc.open_egress}
            )
            if open_workloads:
                evidence += f" (open: {short_list(open_workloads)})"
        out.append(_result(CIS_532, name, status, evidence))
        # NSA/CISA default deny
        parts = []
        ok = True
        for direction in (INGRESS, EGRESS):
            if deny[direction]:
                named = ", ".join(_named(k) for k in deny[direction])
                parts.append(f"default-deny {direction} present ({named})")
            else:
                parts.append(f"no default-deny {direction}")
                ok = False
            for policy, pods in sorted(reopened.get((name, direction), {}).items()):
                parts.append(f"{plural(pods, 'pod')} still {direction}-open through {policy}")
                ok = False
        out.append(_result(NSA_DEFAULT_DENY, name, PASS if ok else FAIL, "; ".join(parts)))
    return out


# Coverage lists a NetworkPolicy by name and a policy of another kind by its engine key.
_KEY_KINDS = {
    "calico/": "Calico NetworkPolicy ",
    "gnp/": "Calico GlobalNetworkPolicy ",
    "cilium/": "CiliumNetworkPolicy ",
    "ccnp/": "CiliumClusterwideNetworkPolicy ",
}


def _named(key: str) -> str:
    """A default deny as evidence names it: "Calico NetworkPolicy ns/x", a NetworkPolicy
    by its bare name (no NetworkPolicy name holds a slash)."""
    for prefix, kind in _KEY_KINDS.items():
        if key.startswith(prefix):
            return kind + key.removeprefix(prefix)
    return key


def _result(control: str, namespace: str, status: str, evidence: str) -> dict:
    return {"control": control, "namespace": namespace, "status": status, "evidence": evidence}
