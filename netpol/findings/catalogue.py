"""The findings catalogue: every rule the audit knows, in one place.

Each rule has a stable ID (``NP001``...), a title, one severity, a category, why it
matters, the remediation, and the compliance controls it answers. Findings copy their
title, severity, ``why`` and ``remediation`` from here; ``docs/findings.md`` is rendered
from here by ``render_markdown()`` (a test checks the committed file is current) and the
UI reads ``to_dict()``.

IDs are never reused or renumbered: waivers and stored findings refer to them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SEVERITIES = ("critical", "high", "medium", "low", "info")
CATEGORIES = ("coverage", "permissive", "exposure", "mistake")
CATEGORY_TITLES = {
    "coverage": "Coverage",
    "permissive": "Overly permissive rules",
    "exposure": "External exposure",
    "mistake": "Mistakes",
}

CIS_532 = "CIS 5.3.2"
NSA_DEFAULT_DENY = "NSA/CISA default deny"
CONTROLS = {
    CIS_532: "CIS Kubernetes Benchmark 5.3.2: ensure that all namespaces have network "
    "policies defined. Passes when the namespace has policies and every running pod in it "
    "is isolated for ingress and for egress (a policy that selects nothing is no pass).",
    NSA_DEFAULT_DENY: "NSA/CISA Kubernetes Hardening Guidance: use a default policy that "
    "denies all ingress and egress traffic. Passes when the namespace has a default-deny "
    "policy for ingress and for egress (empty podSelector, no rules for that direction) "
    "and no allow-all rule re-opens any of its pods.",
}

# Thresholds the rules use; named here so the docs state them.
WIDE_PREFIX_V4 = 8  # an IPv4 ipBlock with a prefix shorter than this is "very wide"
WIDE_PREFIX_V6 = 32
WIDE_PORT_RANGE = 100  # an endPort range covering this many ports or more is "very wide"
METADATA_IPS = ("169.254.169.254", "fd00:ec2::254")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    severity: str
    category: str
    why: str
    remediation: str
    compliance: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out = asdict(self)
        out["compliance"] = list(self.compliance)
        return out


_RULES = [
    # --- Coverage -----------------------------------------------------------------------
    Rule(
        "NP001",
        "Pods selected by no ingress policy",
        "medium",
        "coverage",
        "A pod that no policy isolates for ingress accepts connections from every pod in the "
        "cluster and from outside it. A compromised neighbour can reach it freely.",
        "Add a default-deny ingress policy to the namespace, then allow what each workload "
        "needs. One finding per namespace, listing its open workloads; it stands for NP004 "
        "too. Namespaces with no policy at all are reported once by NP003 instead.",
        (CIS_532,),
    ),
    Rule(
        "NP002",
        "Pods selected by no egress policy",
        "low",
        "coverage",
        "A pod that no policy isolates for egress can open connections anywhere: other pods, "
        "the cloud metadata endpoint, the internet. That is what an attacker uses to move on "
        "or to exfiltrate data.",
        "Add a default-deny egress policy to the namespace with a DNS egress rule, then allow "
        "what each workload needs. One finding per namespace, listing its open workloads; it "
        "stands for NP005 too. Namespaces with no policy at all are reported once by NP003 "
        "instead.",
        (CIS_532,),
    ),
    Rule(
        "NP003",
        "Namespace with no NetworkPolicy",
        "high",
        "coverage",
        "Every pod in the namespace is open both ways, and so is every pod created there later.",
        "Apply a default-deny policy for ingress and egress, then one policy per workload "
        "allowing only the traffic it needs (with DNS egress).",
        (CIS_532, NSA_DEFAULT_DENY),
    ),
    Rule(
        "NP004",
        "Namespace without a default-deny for ingress",
        "medium",
        "coverage",
        "Without a policy that selects every pod for ingress, a pod whose labels no policy "
        "selects (a new workload, a debug pod) is open to the whole cluster.",
        "Apply a default-deny ingress policy (podSelector: {}, policyTypes: [Ingress], no "
        "rules). Reported when every pod is isolated today; when some are not, NP001 says so.",
        (NSA_DEFAULT_DENY,),
    ),
    Rule(
        "NP005",
        "Namespace without a default-deny for egress",
        "low",
        "coverage",
        "Without a policy that selects every pod for egress, a pod whose labels no policy "
        "selects can connect anywhere.",
        "Apply a default-deny egress policy (podSelector: {}, policyTypes: [Egress], no "
        "rules) together with a DNS egress rule. Reported when every pod is isolated today; "
        "when some are not, NP002 says so.",
        (NSA_DEFAULT_DENY,),
    ),
    # --- Overly permissive rules ----------------------------------------------------------
    Rule(
        "NP010",
        "Rule allowing every source or destination",
        "high",
        "permissive",
        "A rule with a missing or empty from/to (`- {}` or only `ports`) matches every pod in "
        "every namespace and every address outside the cluster. It overrides the isolation "
        "of the pods it applies to.",
        "List the peers that need the traffic (podSelector, namespaceSelector with "
        "kubernetes.io/metadata.name, or a narrow ipBlock) and the ports.",
        (NSA_DEFAULT_DENY,),
    ),
    Rule(
        "NP011",
        "namespaceSelector: {} (all namespaces)",
        "medium",
        "permissive",
        "An empty namespaceSelector matches every namespace, including ones created later and "
        "ones that tenants or attackers control.",
        "Select the namespaces by name (kubernetes.io/metadata.name) and add a podSelector "
        "for the client pods.",
    ),
    Rule(
        "NP012",
        "namespaceSelector without a podSelector",
        "medium",
        "permissive",
        "A namespaceSelector alone (or with an empty podSelector) admits every pod of the "
        "selected namespaces, not just the client that needs access.",
        "Put a podSelector in the same peer entry (no leading dash: both must match) to name "
        "the client pods.",
    ),
    Rule(
        "NP013",
        "ipBlock with 0.0.0.0/0, ::/0 or a very short prefix",
        "medium",
        "permissive",
        f"An ipBlock of /0, or shorter than /{WIDE_PREFIX_V4} (IPv4) or /{WIDE_PREFIX_V6} "
        "(IPv6), covers a large share of all addresses, the cluster's own included, unless "
        "excepted.",
        "Allow the specific ranges the workload talks to; when the internet is really needed, "
        "except the cluster ranges and the cloud metadata endpoint and restrict the ports.",
    ),
    Rule(
        "NP014",
        "Rule with no ports (all ports)",
        "low",
        "permissive",
        "A rule without ports allows every TCP, UDP and SCTP port of its peers: admin, debug "
        "and metrics ports included.",
        "List the ports (and protocols) the traffic uses.",
    ),
    Rule(
        "NP015",
        "Very wide endPort range",
        "low",
        "permissive",
        f"A port range of {WIDE_PORT_RANGE} ports or more opens far more than a service "
        "listens on.",
        "Allow the ports the destination listens on, or a range no wider than it uses.",
    ),
    Rule(
        "NP016",
        "Allow-all rule on a policy selecting the whole namespace",
        "critical",
        "permissive",
        "An allow-all rule (`- {}`) on a policy with an empty podSelector re-opens every pod "
        "of the namespace in that direction, whatever the other policies say: it cancels the "
        "default deny.",
        "Remove the rule, or replace it with rules naming peers and ports on policies that "
        "select the workloads needing them.",
        (NSA_DEFAULT_DENY,),
    ),
    # --- External exposure ----------------------------------------------------------------
    Rule(
        "NP020",
        "Pods reachable from public addresses through an ipBlock",
        "high",
        "exposure",
        "Traffic from the internet reaches these pods directly, bypassing an ingress "
        "controller's TLS, authentication and rate limits.",
        "Route external traffic through the ingress controller and allow only it; if direct "
        "access is intended, narrow the CIDR and ports and record a waiver.",
    ),
    Rule(
        "NP021",
        "Pods reachable from private addresses outside the cluster",
        "info",
        "exposure",
        "Private ranges outside the cluster (VPN, peered networks, on-premises) can reach "
        "these pods. Usually intended; listed so the ranges are reviewed.",
        "Keep the ranges as narrow as the clients that need them.",
    ),
    Rule(
        "NP022",
        "Pods that can reach the cloud metadata endpoint",
        "high",
        "exposure",
        "The metadata endpoint (169.254.169.254, fd00:ec2::254) hands out the node's cloud "
        "credentials. A compromised pod that reaches it can act as the node.",
        "Add 169.254.169.254/32 to the ipBlock's except list (and block it at the node).",
    ),
    Rule(
        "NP023",
        "ipBlock containing the cluster's pod or service ranges",
        "medium",
        "exposure",
        "Most CNIs apply ipBlocks to pod IPs too, so an ipBlock covering the pod or service "
        "ranges admits pods by address, bypassing the pod and namespace selectors. Node "
        "addresses alone are not reported: an ipBlock is the only way to reach hostNetwork "
        "pods.",
        "Except the pod and service CIDRs from the ipBlock, and use selectors for in-cluster "
        "peers.",
    ),
    Rule(
        "NP024",
        "Unrestricted egress to the internet",
        "medium",
        "exposure",
        "An ipBlock covering every public address lets the pods send data anywhere, the "
        "classic exfiltration and command-and-control path.",
        "Allow the specific destinations (partner CIDRs, an egress proxy) instead of the "
        "whole internet.",
    ),
    # --- Mistakes ---------------------------------------------------------------------------
    Rule(
        "NP030",
        "Selector that matches no namespace or pod",
        "medium",
        "mistake",
        "A peer that matches nothing allows nothing: the traffic it was written for is "
        "denied. The classic case is a namespaceSelector on a `name` label nobody set; the "
        "API server labels every namespace with kubernetes.io/metadata.name.",
        "Fix the labels in the selector; select namespaces by kubernetes.io/metadata.name.",
    ),
    Rule(
        "NP031",
        "Policy that selects no pods",
        "low",
        "mistake",
        "A policy whose podSelector matches no running pod protects nothing; often a typo in "
        "a label or a leftover from a removed workload.",
        "Fix the podSelector, or delete the policy.",
    ),
    Rule(
        "NP032",
        "Egress-isolated pods that cannot reach DNS",
        "high",
        "mistake",
        "Pods whose egress is restricted, and which are allowed some egress, cannot resolve "
        "names when no rule lets them reach the cluster DNS on 53: every call by name fails. "
        "Pods allowed no egress at all are not reported.",
        "Add an egress rule to kube-system / k8s-app: kube-dns on UDP and TCP 53. One "
        "finding per namespace: one policy allowing DNS fixes every workload it lists.",
    ),
    Rule(
        "NP033",
        "DNS allowed over UDP only",
        "low",
        "mistake",
        "DNS falls back to TCP 53 for large answers (DNSSEC, many records); with UDP alone "
        "those lookups fail intermittently.",
        "Allow TCP 53 next to UDP 53 in the DNS egress rule.",
    ),
    Rule(
        "NP034",
        "Named port that no destination pod defines",
        "medium",
        "mistake",
        "A port name resolves against the destination pod's container ports; when no "
        "destination declares that name (with that protocol), the entry matches nothing. "
        "Towards an ipBlock a name never matches.",
        "Use the name a container port declares, or a number.",
    ),
    Rule(
        "NP035",
        "Invalid policy content",
        "high",
        "mistake",
        "The API server would reject this content (a bad CIDR, an except outside its cidr, a "
        "bad selector or port). The audit gives it the narrowest meaning, which may not be "
        "what the author meant, and the object may not be applied at all.",
        "Fix the field the finding names.",
    ),
    Rule(
        "NP036",
        "Rule fully shadowed by another rule",
        "low",
        "mistake",
        "With the pods in this snapshot, every connection the rule allows is already allowed "
        "by another rule for the same pods; the rule is dead weight that hides intent and "
        "drifts unnoticed.",
        "Delete the shadowed rule, or narrow the wider one.",
    ),
    Rule(
        "NP037",
        "hostNetwork pods",
        "low",
        "mistake",
        "Pods in the host network share their node's addresses; NetworkPolicy behaviour for "
        "them is undefined and most CNIs do not enforce it.",
        "Avoid hostNetwork where possible; protect these pods with host firewalling.",
    ),
    Rule(
        "NP038",
        "CNI does not enforce NetworkPolicy",
        "critical",
        "mistake",
        "The cluster's network plugin does not implement NetworkPolicy (flannel alone, for "
        "example): every policy is ignored and all traffic is allowed.",
        "Install a plugin that enforces NetworkPolicy (Calico, Cilium, Antrea, kube-router, "
        "or the cloud provider's policy agent), or run Calico with flannel (Canal).",
    ),
    Rule(
        "NP039",
        "CNI not identified",
        "info",
        "mistake",
        "No known network plugin was found among the kube-system pods, so the audit cannot "
        "tell whether the policies are enforced.",
        "Check that the cluster's network plugin enforces NetworkPolicy.",
    ),
    Rule(
        "NP040",
        "Cluster policies at one priority select the same pods",
        "medium",
        "mistake",
        "Two ClusterNetworkPolicies (or AdminNetworkPolicies) of one tier have the same "
        "priority and select a same pod for a same direction. The API leaves their order "
        "undefined: which one decides may differ between implementations and versions (the "
        "audit evaluates them by name).",
        "Give each policy its own priority, in the order you mean them to apply.",
    ),
    Rule(
        "NP041",
        "Admin tier Pass with nothing below to decide",
        "medium",
        "mistake",
        "An Admin-tier rule passes traffic to the NetworkPolicy and Baseline tiers, but no "
        "NetworkPolicy isolates the pods it is about for that direction and no Baseline rule "
        "is about them: nothing decides, so the traffic is allowed. A Pass usually means "
        "that namespace owners or a baseline should decide.",
        "Add the NetworkPolicy (or Baseline rule) that should decide for these pods, or "
        "replace the Pass with the Accept or Deny you mean.",
    ),
    Rule(
        "NP042",
        "Policies of a kind the network plugin does not enforce",
        "high",
        "mistake",
        "The cluster holds policies of a kind its network plugin does not read (a "
        "CiliumNetworkPolicy on Calico, a Calico GlobalNetworkPolicy on Cilium, an "
        "AdminNetworkPolicy on Cilium, any of them on kube-router). The API server accepts "
        "them, since their CRDs are installed, so they look in force; nothing applies them, "
        "and the pods their authors meant to isolate stay open. Which plugin enforces which "
        "kind, with the documentation of each: docs/semantics-enforcement.md.",
        "Rewrite them as a kind the plugin enforces (a NetworkPolicy is read by every "
        "plugin that enforces policies), or run the plugin they were written for, then "
        "delete them so nobody relies on them. If the audit identified the plugin wrongly, "
        "name it: netaudit --cni PLUGIN (or --cni any to apply every kind).",
    ),
    Rule(
        "NP048",
        "Rule no observed flow used",
        "low",
        "permissive",
        "A NetworkPolicy rule allows traffic that none of the flows observed in the "
        "cluster's unused-rule window (30 days by default) used: an allowance nobody "
        "needs, open to whoever takes over a pod it admits. The finding appears once the "
        "imported flows cover the whole window, and ranks the rule by what it opens "
        "(selected pods × peer pods × ports). Importing or removing flows, or changing the "
        "window, analyses the current snapshot again at once.",
        "Check the rule is not for traffic rarer than the window (a monthly job, a "
        "failover path); if not, remove it or narrow it to the peers and ports the flows "
        "show. The Flows page lists the flows that each remaining rule allows.",
    ),
    Rule(
        "NP050",
        "The internet reaches a crown jewel in a few connections",
        "high",
        "exposure",
        "A workload marked as a crown jewel (by default, pods labelled "
        "netpol-auditor.io/crown-jewel=true) can be reached from outside the cluster through at "
        "most three allowed connections: an attacker who takes the first exposed workload "
        "is one or two moves from it.",
        "Cut one hop of the path the finding names: stop exposing its first workload to "
        "outside addresses, or narrow the rule that opens a later hop so that only the "
        "workloads that need the crown jewel reach it.",
    ),
    # --- Mistakes the other policy APIs invite (issue 13; netpol/findings/kinds.py) -------
    Rule(
        "NP043",
        "Cilium rule open to every pod and the whole internet",
        "high",
        "permissive",
        "The rule's peers hold every pod of the cluster, its nodes and every address outside "
        'it: the entity `all` (Cilium: "the combination of all known clusters as well world '
        'and whitelists all communication"), or `world` together with `cluster` ("all '
        'network endpoints inside of the local cluster", host and remote nodes included). '
        "Written to open the internet, it also opens the pods to every compromised "
        "neighbour. Rules listing only `toPorts` (every peer by definition) are not reported.",
        "Keep `world` (or the CIDRs really needed) for the outside, and name in-cluster peers "
        "with `fromEndpoints`/`toEndpoints`; restrict the ports.",
    ),
    Rule(
        "NP044",
        "Calico policy without order",
        "low",
        "mistake",
        "Calico: \"If the order is omitted, it may be considered to be 'infinite' - i.e. the "
        'policy will be applied last" in its tier. The policy shares pods with ordered '
        "policies of its tier (Kubernetes NetworkPolicies count as order 1000 in `default`), "
        "so their rules decide first: a Deny written to override them does not.",
        "Set `spec.order` to where the policy belongs among the others of its tier (lower "
        "is earlier; below 1000 comes before the Kubernetes NetworkPolicies).",
    ),
    Rule(
        "NP045",
        "Deny rule shadowed by an earlier allow",
        "medium",
        "mistake",
        "Rules of a Calico tier, and of a ClusterNetworkPolicy tier, are walked in order and "
        "the first match decides. Every connection this Deny matches, on every pod it is "
        "about, is matched first by earlier rules of its tier, an Allow (Accept) among "
        "them: the Deny never applies and traffic it was written to refuse is allowed. "
        "Computed on what the rules match in this snapshot (pods, addresses, ports), so "
        "selectors written differently but matching the same pods count.",
        "Move the Deny before the Allow (a lower Calico `order`, a lower priority, or an "
        "earlier place in the rule list), or narrow the Allow so it leaves out what the "
        "Deny is for.",
    ),
    Rule(
        "NP046",
        "Rules the audit cannot decide",
        "info",
        "mistake",
        "Some rules depend on what a snapshot cannot show: Cilium L7 `rules` and TLS, "
        "`toFQDNs`, `toServices`, `toGroups`/`fromGroups`; ClusterNetworkPolicy "
        "`domainNames`; Calico `http` matches, `services` and source ports. The finding "
        "names each field and what the audit assumed (L7 and HTTP rules allow every "
        "request at L3/L4; names, services and groups match nothing), so answers about "
        "these pods may differ from the cluster's.",
        "Check these rules by hand or with the CNI's own tools (`cilium policy`, Hubble, "
        "Calico's flow logs); where an L3/L4 rule can say the same, prefer it.",
    ),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}  # 0 = critical


def to_dict() -> dict:
    """The catalogue for the UI: rules, severities, categories and controls."""
    return {
        "rules": [rule.to_dict() for rule in _RULES],
        "severities": list(SEVERITIES),
        "categories": dict(CATEGORY_TITLES),
        "controls": dict(CONTROLS),
    }


def render_markdown() -> str:
    """``docs/findings.md``: the catalogue as a document (regenerate with
    ``python -m netpol.findings > docs/findings.md``)."""
    from .score import FORMULA

    lines = [
        "# Findings catalogue",
        "",
        "<!-- Generated by `python -m netpol.findings > docs/findings.md`; do not edit. -->",
        "",
        "Every finding of `netaudit audit` and of the snapshot audit has a rule ID from this "
        "list, a severity, the objects it concerns, the evidence, why it matters and a "
        "remediation. Objects are named `Kind/namespace/name` (`Pod/shop/web-0`, "
        "`NetworkPolicy/shop/allow-all`, `Deployment/shop/web`); cluster-scoped objects are "
        "`Kind/name` (`Namespace/shop`).",
        "",
        "A finding is one cause: the policy and rule, the namespace or the workload that "
        "creates the problem, never one row per affected pod or workload. It lists every "
        "workload the cause affects (`workloads`, with counts in the evidence). Its "
        "fingerprint is made from the cause alone, so it follows the finding across "
        "snapshots (see `netpol/findings/finding.py`); where earlier versions reported one "
        "finding per workload (NP001, NP002, NP032, NP033), `aliases` keeps those "
        "fingerprints and a waiver made on all of them still applies; where a rule was "
        "named by its place in its policy (NP041, NP043, NP045), now by its content, "
        "`aliases` keeps the fingerprint by place, and a waiver made on it still applies.",
        "",
        "| ID | Title | Severity | Category |",
        "| --- | --- | --- | --- |",
    ]
    for rule in _RULES:
        lines.append(f"| {rule.id} | {rule.title} | {rule.severity} | {rule.category} |")
    for category in CATEGORIES:
        lines += ["", f"## {CATEGORY_TITLES[category]}"]
        for rule in _RULES:
            if rule.category != category:
                continue
            lines += [
                "",
                f"### {rule.id}: {rule.title}",
                "",
                f"Severity: **{rule.severity}**."
                + (f" Compliance: {', '.join(rule.compliance)}." if rule.compliance else ""),
                "",
                f"Why it matters: {rule.why}",
                "",
                f"Remediation: {rule.remediation}",
            ]
    lines += ["", "## Score", "", FORMULA, "", "## Compliance controls", ""]
    for control, text in CONTROLS.items():
        lines.append(f"- **{control}**: {text}")
    return "\n".join(lines) + "\n"
