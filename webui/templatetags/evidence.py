"""A finding's evidence in words: each key a labelled row a reviewer reads, the policy
named and linked, the rule's (or peer's) YAML excerpt from the stored policy, the
demonstration probe as a sentence with a link to explain it, and unknown keys as a plain
key: value list (never a JSON blob)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import yaml
from django import template
from django.urls import reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from netpol.summaries import ref_parts

register = template.Library()

# Lists longer than this are cut, with how many more there are.
LIST_SHOWN = 12

_TICKS = re.compile(r"`([^`\n]+)`")


@register.filter
def ticks(text) -> SafeString:
    """Text whose `backticked` parts become <code> (the catalogue writes Markdown)."""
    return mark_safe(_TICKS.sub(r"<code>\1</code>", escape("" if text is None else str(text))))


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _flow(obj) -> str:
    """A selector or peer on one line, as YAML writes it (``{namespaceSelector: {}}``)."""
    return yaml.safe_dump(obj, default_flow_style=True, sort_keys=False, width=10_000).strip()


def _block(obj) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _items(values, shown: int = LIST_SHOWN) -> SafeString:
    """A list as comma-separated <code> items, cut at ``shown`` with how many more."""
    values = [v for v in values if not (isinstance(v, str) and v.startswith("... and more"))]
    head = format_html_join(", ", "<code>{}</code>", ((_text(v),) for v in values[:shown]))
    if len(values) > shown:
        return format_html("{} and {} more", head, len(values) - shown)
    return head or mark_safe('<span class="muted">none</span>')


def _text(value) -> str:
    if isinstance(value, dict):
        return _flow(value)
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return "" if value is None else str(value)


# The engine's key prefix of a namespaced policy of another kind ("cilium/ns/name") -> the
# kind its page names. A NetworkPolicy's key has two parts, so three parts are another kind.
_NAMESPACED_KIND_PREFIXES = {"cilium": "CiliumNetworkPolicy", "calico": "CalicoNetworkPolicy"}


def _policy_url(cluster: str, snapshot_id: int, key: str, query: dict | None = None) -> str:
    parts = key.split("/")
    if len(parts) == 3 and parts[0] in _NAMESPACED_KIND_PREFIXES:
        kind = _NAMESPACED_KIND_PREFIXES[parts[0]]
        url = reverse("webui:kind_policy", args=[cluster, kind, parts[1], parts[2]])
        return f"{url}?{urlencode({'snapshot': snapshot_id})}"
    namespace, _, name = key.partition("/")
    url = reverse("webui:policy", args=[cluster, namespace, name])
    return f"{url}?{urlencode({'snapshot': snapshot_id, **(query or {})})}"


def _endpoint(cluster: str, snapshot_id: int, value: str) -> SafeString:
    """A probe's end: ``ns/pod`` links to the pod, an address stays an address."""
    namespace, slash, pod = str(value).partition("/")
    if slash and ":" not in value:
        url = reverse("webui:pod", args=[cluster, namespace, pod])
        return format_html('<a href="{}?snapshot={}"><code>{}</code></a>', url, snapshot_id, value)
    return format_html("<code>{}</code>", value)


def _rule_of(spec: dict | None, direction: str, index) -> dict | None:
    rules = (spec or {}).get(direction)
    if isinstance(rules, list) and isinstance(index, int) and 0 <= index < len(rules):
        return rules[index] if isinstance(rules[index], dict) else {}
    return None


def _rule_summary(rule: dict, direction: str) -> str:
    """``ingress from 0.0.0.0/0 on TCP/80, TCP/443`` from the rule as stored."""
    peers_key = "from" if direction == "ingress" else "to"
    peers = rule.get(peers_key)
    if not peers:
        who = "every pod and every address"
    else:
        who = "; ".join(
            p["ipBlock"].get("cidr", "?") + (f" except {', '.join(p['ipBlock']['except'])}" if p["ipBlock"].get("except") else "")
            if isinstance(p, dict) and "ipBlock" in p else _flow(p)
            for p in peers
        )
    ports = rule.get("ports")
    if not ports:
        on = "every port"
    else:
        on = ", ".join(
            f"{p.get('protocol', 'TCP')}/{p.get('port', '*')}" + (f"-{p['endPort']}" if p.get("endPort") else "")
            for p in ports if isinstance(p, dict)
        )
    return f"{direction} {'from' if direction == 'ingress' else 'to'} {who} on {on}"


def _probe(cluster: str, snapshot_id: int, probe: dict) -> SafeString:
    verdict = probe.get("expect", "")
    via = probe.get("via") or {}
    by = " by this rule" if via.get("policy") and verdict == "allowed" else ""
    query = urlencode({"from": probe.get("src", ""), "to": probe.get("dst", ""), "port": probe.get("port", ""),
                       "protocol": probe.get("protocol", "TCP"), "snapshot": snapshot_id})
    url = f"{reverse('webui:reach', args=[cluster])}?{query}"
    return format_html(
        'A connection from {} to {} on {} {} is <strong>{}</strong>{}. <a href="{}">Explain this connection</a>',
        _endpoint(cluster, snapshot_id, probe.get("src", "?")), _endpoint(cluster, snapshot_id, probe.get("dst", "?")),
        probe.get("protocol", "TCP"), probe.get("port", "?"), verdict or "as shown", by, url,
    )


# Keys whose value reads well as-is under a label; the order is the order shown.
LABELS = {
    "message": "Problem",
    "address": "Address",
    "cidr": "ipBlock",
    "except": "Except",
    "cidrs": "Address ranges",
    "families": "Address families",
    "public_cidrs": "Public ranges it lets in",
    "external_cidrs": "Ranges outside the cluster",
    "cluster_cidrs": "Cluster ranges it contains",
    "pod_cidrs": "Pod ranges it contains",
    "declared_cidrs": "Declared cluster ranges it contains",
    "service_ips": "Service addresses it contains",
    "pods_matched": "Running pods whose address it contains",
    "namespaces": "Namespaces it matches today",
    "suggested_namespace": "Namespace probably meant",
    "egress_policies": "Policies restricting its egress",
    "dns_pods": "DNS pods",
    "policies": "Policies",
    "ingress_isolated_pods": "Ingress-isolated pods",
    "egress_isolated_pods": "Egress-isolated pods",
    "pods": "Running pods",
    "nodes": "Nodes",
    "plugins": "CNI plugins seen",
    "evidence": "Workloads per plugin",
    "workload": "Workload",
}
# Keys whose empty value still says something (an empty list reads "none").
_SAID_WHEN_EMPTY = {"plugins"}
# Shown elsewhere on the row of the rule, or as the affected workloads.
_FOLDED = {"policy", "direction", "rule", "field", "peer", "port_index", "selector", "ports", "peers", "probe",
           "workloads", "shadowed_by"}


def evidence_rows(evidence: dict, *, cluster: str, snapshot_id: int, policy_spec: dict | None,
                  namespace: str = "") -> list[dict]:
    """``[{"label", "html", "yaml"}]``: the evidence as rows of words; ``yaml`` is the
    excerpt of the stored policy (the rule, or the peer) when there is one. ``namespace``:
    the finding's, for policies the evidence names without one."""
    rows: list[dict] = []
    ev = evidence or {}
    policy = ev.get("policy")
    direction = ev.get("direction")
    rule_index = ev.get("rule")
    if isinstance(policy, str) and "/" in policy:
        query = {}
        if direction in ("ingress", "egress") and isinstance(rule_index, int):
            query["rule"] = f"{direction}-{rule_index}"
            if isinstance(ev.get("peer"), int):
                query["peer"] = ev["peer"]
            if isinstance(ev.get("port_index"), int):
                query["port"] = ev["port_index"]
        url = _policy_url(cluster, snapshot_id, policy, query)
        note = "" if policy_spec is not None else " (not stored in this snapshot)"
        parts = policy.split("/")
        kind = _NAMESPACED_KIND_PREFIXES.get(parts[0], "NetworkPolicy") if len(parts) == 3 else "NetworkPolicy"
        rows.append({"label": "Policy", "html": format_html('{} <a href="{}"><code>{}</code></a>{}',
                                                           kind, url, policy, note), "yaml": None})
    if direction in ("ingress", "egress") and isinstance(rule_index, int):
        rule = _rule_of(policy_spec, direction, rule_index)
        summary = f" ({_rule_summary(rule, direction)})" if rule is not None else ""
        html = format_html("The {} {} rule, <code>spec.{}[{}]</code>{}", ordinal(rule_index + 1), direction,
                           direction, rule_index, summary)
        excerpt = None
        if rule is not None:
            excerpt = _block({"spec": {direction: [rule]}})
        rows.append({"label": "Rule", "html": html, "yaml": excerpt})
        peer_index = ev.get("peer")
        if isinstance(peer_index, int):
            peers_key = "from" if direction == "ingress" else "to"
            peers = (rule or {}).get(peers_key) or []
            peer = peers[peer_index] if 0 <= peer_index < len(peers) else None
            text = format_html(" <code>{}</code>", _flow(peer)) if peer is not None else ""
            rows.append({"label": "Peer", "html": format_html(
                "The {} entry of its {} list, <code>spec.{}[{}].{}[{}]</code>:{}", ordinal(peer_index + 1), peers_key,
                direction, rule_index, peers_key, peer_index, text), "yaml": None})
        if isinstance(ev.get("port_index"), int):
            k = ev["port_index"]
            rows.append({"label": "Port entry", "html": format_html(
                "<code>spec.{}[{}].ports[{}]</code>", direction, rule_index, k), "yaml": None})
    elif direction in ("ingress", "egress"):
        rows.append({"label": "Direction", "html": format_html("{}", direction.capitalize()), "yaml": None})
    if isinstance(ev.get("field"), str) and not (direction in ("ingress", "egress") and isinstance(rule_index, int)):
        rows.append({"label": "Field", "html": format_html("<code>{}</code>", ev["field"]), "yaml": None})
    if "selector" in ev:
        label = "Peer selector" if isinstance(ev.get("peer"), int) else "Pod selector"
        rows.append({"label": label, "html": format_html("<code>{}</code>", _flow(ev["selector"])), "yaml": None})
    if "ports" in ev:
        ports = ev["ports"]
        html = (mark_safe('every port <span class="muted">(the rule lists none)</span>') if ports is None
                else _items(ports if isinstance(ports, list) else [ports]))
        rows.append({"label": "Ports", "html": html, "yaml": None})
    if isinstance(ev.get("peers"), list):
        rows.append({"label": "Peers", "html": _items([_flow(p) for p in ev["peers"]]), "yaml": None})
    if isinstance(ev.get("shadowed_by"), dict):
        other = ev["shadowed_by"]
        other_policy, other_rule = str(other.get("policy", "")), other.get("rule")
        query = {"rule": f"{direction}-{other_rule}"} if isinstance(other_rule, int) and direction else {}
        rows.append({"label": "Shadowed by", "html": format_html(
            'the {} {} rule of <a href="{}"><code>{}</code></a>',
            ordinal(other_rule + 1) if isinstance(other_rule, int) else "a", direction or "",
            _policy_url(cluster, snapshot_id, other_policy, query), other_policy), "yaml": None})
    if isinstance(ev.get("probe"), dict):
        rows.append({"label": "Demonstration", "html": _probe(cluster, snapshot_id, ev["probe"]), "yaml": None})
    for key, label in LABELS.items():
        if key in ev and (key in _SAID_WHEN_EMPTY or ev[key] not in (None, [], {}, "")):
            html = (_policy_links(cluster, snapshot_id, ev[key], namespace) if key in _POLICY_LISTS
                    else _value(ev[key]))
            rows.append({"label": label, "html": html, "yaml": None})
    for key, value in ev.items():
        if key not in LABELS and key not in _FOLDED:
            rows.append({"label": key.replace("_", " ").capitalize(), "html": _value(value), "yaml": None})
    return rows


# Lists of policies: ``ns/name`` keys, or names in the finding's namespace.
_POLICY_LISTS = {"policies", "egress_policies"}


def _policy_links(cluster: str, snapshot_id: int, names, namespace: str) -> SafeString:
    if not isinstance(names, list):
        return _value(names)
    keys = [n if "/" in str(n) or not namespace else f"{namespace}/{n}" for n in names]
    shown = format_html_join(", ", '<a href="{}"><code>{}</code></a>', (
        (_policy_url(cluster, snapshot_id, k), k) for k in keys[:LIST_SHOWN] if "/" in k))
    if len(keys) > LIST_SHOWN:
        return format_html("{} and {} more", shown, len(keys) - LIST_SHOWN)
    return shown


def _value(value) -> SafeString:
    if isinstance(value, list | tuple):
        return _items(value)
    if isinstance(value, dict):
        if not value:
            return mark_safe('<span class="muted">none</span>')
        return format_html_join("; ", "{}: {}", ((k.replace("_", " "), _value(v)) for k, v in value.items()))
    if isinstance(value, bool):
        return mark_safe("yes" if value else "no")
    return format_html("{}", value)


def affected_workloads(finding, shown: int) -> list[dict]:
    """The finding's workloads with their namespace, kind and name (for a link), and the
    open and running pod counts the evidence records for them."""
    counts = {}
    recorded = (finding.evidence or {}).get("workloads")
    for w in recorded if isinstance(recorded, list) else []:  # NP032 records a count
        if isinstance(w, dict) and "workload" in w:
            counts[w["workload"]] = w
    out = []
    for ref in finding.workloads[:shown]:
        parts = ref_parts(ref)
        kind_name = f"{parts['kind']}/{parts['name']}"
        c = counts.get(kind_name) or {}
        out.append({**parts, "open_pods": c.get("open_pods"), "running_pods": c.get("running_pods")})
    return out
