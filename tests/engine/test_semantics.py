"""Semantics table: each case encodes one rule of the Kubernetes NetworkPolicy documentation
(https://kubernetes.io/docs/concepts/services-networking/network-policies/ and the
networking.k8s.io/v1 API reference), cited in the comment above it.

A case is (policies as YAML, [(src, dst, port, protocol, allowed)]). Every check runs
through ``reach``, the compact allowed set and the reference evaluation (see conftest).
"""

from __future__ import annotations

import pytest

from .conftest import build, verdict

DENY_INGRESS_PROD = """
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: prod}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""

CASES = [
    # "By default, pods are non-isolated; they accept traffic from any source."
    pytest.param(
        "",
        [("dev/web", "prod/db", 5432, "TCP", True), ("prod/db", "8.8.8.8", 443, "TCP", True)],
        id="no-policy-open",
    ),
    # "Default deny all ingress traffic": podSelector {} selects all pods of the namespace
    # and no ingress rule allows anything; egress is unchanged.
    pytest.param(
        DENY_INGRESS_PROD,
        [
            ("dev/web", "prod/web", 8080, "TCP", False),
            ("prod/web", "prod/api", 9090, "TCP", False),
            ("prod/web", "dev/web", 8081, "TCP", True),
            ("8.8.8.8", "prod/web", 80, "TCP", False),
        ],
        id="default-deny-ingress",
    ),
    # "If no policyTypes are specified ... Ingress will always be set and Egress will be
    # set if the NetworkPolicy has any egress rules": no egress rules -> egress open.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec: {podSelector: {matchLabels: {app: db}}}
""",
        [("prod/db", "dev/web", 8081, "TCP", True), ("prod/web", "prod/db", 5432, "TCP", False)],
        id="policytypes-default-ingress-only",
    ),
    # Same defaulting: egress rules present -> both directions, and the absent ingress
    # list then allows no ingress at all.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  egress: [{ports: [{port: 53, protocol: UDP}]}]
""",
        [
            ("prod/db", "kube-system/dns", 53, "UDP", True),
            ("prod/db", "kube-system/dns", 53, "TCP", False),
            ("prod/web", "prod/db", 5432, "TCP", False),
        ],
        id="policytypes-default-egress-when-egress-rules",
    ),
    # "Default deny all egress traffic": policyTypes [Egress] with no rules; ingress of the
    # selected pods is unaffected.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: prod}
spec: {podSelector: {}, policyTypes: [Egress]}
""",
        [
            ("prod/web", "prod/api", 9090, "TCP", False),
            ("prod/web", "8.8.8.8", 443, "TCP", False),
            ("dev/web", "prod/web", 8080, "TCP", True),
        ],
        id="egress-only-deny",
    ),
    # policyTypes lists only Egress: the ingress rules it carries have no effect (the pod
    # is not ingress-isolated by this policy).
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Egress]
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]
  egress: [{}]
""",
        [("dev/web", "prod/db", 5432, "TCP", True), ("prod/db", "8.8.8.8", 1, "TCP", True)],
        id="policytypes-egress-ignores-ingress-rules",
    ),
    # "Default allow all ingress traffic": ingress: [{}] - an empty rule matches every peer
    # on every port; policies are additive, so it overrides the default deny.
    pytest.param(
        DENY_INGRESS_PROD
        + """---
kind: NetworkPolicy
metadata: {name: allow-all, namespace: prod}
spec: {podSelector: {}, ingress: [{}]}
""",
        [("dev/web", "prod/db", 1, "SCTP", True), ("1.2.3.4", "prod/web", 65535, "UDP", True)],
        id="allow-all-ingress-overrides-deny",
    ),
    # "podSelector: This selects particular Pods in the same namespace as the NetworkPolicy".
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]
""",
        [("prod/web", "prod/api", 9090, "TCP", True), ("dev/web", "prod/api", 9090, "TCP", False)],
        id="podselector-peer-same-namespace",
    ),
    # "namespaceSelector: This selects particular namespaces for which all Pods should be
    # allowed".
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {env: dev}}}]}]
""",
        [
            ("dev/web", "prod/api", 9090, "TCP", True),
            ("prod/web", "prod/api", 9090, "TCP", False),
            ("monitoring/prom", "prod/api", 9090, "TCP", False),
        ],
        id="namespaceselector-peer",
    ),
    # "A single to/from entry that specifies both namespaceSelector and podSelector selects
    # particular Pods within particular namespaces" (AND).
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: shop}}
      podSelector: {matchLabels: {tier: backend}}
""",
        [
            ("prod/api", "prod/db", 5432, "TCP", True),
            ("prod/web", "prod/db", 5432, "TCP", False),
            ("dev/web", "prod/db", 5432, "TCP", False),
        ],
        id="and-peer",
    ),
    # "... contains two elements in the from array, and allows connections from Pods in the
    # local Namespace with the label ..., or from any Pod in any namespace with the label".
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {env: dev}}
    - podSelector: {matchLabels: {tier: backend}}
""",
        [
            ("prod/api", "prod/db", 5432, "TCP", True),
            ("dev/web", "prod/db", 5432, "TCP", True),
            ("prod/web", "prod/db", 5432, "TCP", False),
            ("monitoring/prom", "prod/db", 5432, "TCP", False),
        ],
        id="or-peers",
    ),
    # An empty namespaceSelector selects every namespace; with a podSelector it selects the
    # matching pods of every namespace.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}]}]
""",
        [
            ("prod/web", "prod/db", 5432, "TCP", True),
            ("dev/web", "prod/db", 5432, "TCP", True),
            ("monitoring/prom", "prod/db", 5432, "TCP", False),
        ],
        id="empty-namespaceselector-all-namespaces",
    ),
    # An empty podSelector peer selects all pods of the policy's namespace only.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {}
  ingress: [{from: [{podSelector: {}}]}]
""",
        [("prod/web", "prod/db", 5432, "TCP", True), ("dev/web", "prod/db", 5432, "TCP", False)],
        id="empty-podselector-peer-own-namespace",
    ),
    # "Targeting a Namespace by its name": the API server sets kubernetes.io/metadata.name on
    # every namespace, also on ones given without labels.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]}]
""",
        [
            ("monitoring/prom", "prod/api", 9100, "TCP", True),
            ("dev/web", "prod/api", 9100, "TCP", False),
        ],
        id="namespace-by-name-label",
    ),
    # Label selector operators: In, NotIn (also matches pods without the key), Exists,
    # DoesNotExist; all requirements are ANDed.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchExpressions: [{key: app, operator: In, values: [db, api]}]}
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector:
        matchExpressions:
        - {key: tier, operator: NotIn, values: [backend]}
        - {key: app, operator: Exists}
""",
        [
            ("prod/web", "prod/db", 5432, "TCP", True),  # tier=frontend
            ("dev/web", "prod/api", 9090, "TCP", True),  # no tier key: NotIn matches
            ("prod/api", "prod/db", 5432, "TCP", False),  # tier=backend
            ("kube-system/dns", "prod/db", 5432, "TCP", False),  # no app key
            ("dev/web", "prod/web", 8080, "TCP", True),  # web is not selected
        ],
        id="match-expressions",
    ),
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}
  policyTypes: [Ingress]
""",
        [
            ("prod/web", "prod/api", 9090, "TCP", True),
            ("prod/web", "prod/worker", 7070, "TCP", False),
        ],
        id="does-not-exist-selects",
    ),
    # "Each rule allows traffic which matches both the from and ports sections"; protocol
    # defaults to TCP; a port entry without port means every port of its protocol.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: 5432}, {protocol: UDP}]
""",
        [
            ("prod/api", "prod/db", 5432, "TCP", True),
            ("prod/api", "prod/db", 5433, "TCP", False),
            ("prod/api", "prod/db", 5432, "SCTP", False),
            ("prod/api", "prod/db", 9999, "UDP", True),
            ("prod/web", "prod/db", 5432, "TCP", False),
        ],
        id="rule-is-peer-and-port",
    ),
    # Rules of one policy are ORed.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: 5432}]
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
    ports: [{port: 9187}]
""",
        [
            ("prod/api", "prod/db", 5432, "TCP", True),
            ("prod/api", "prod/db", 9187, "TCP", False),
            ("monitoring/prom", "prod/db", 9187, "TCP", True),
            ("monitoring/prom", "prod/db", 5432, "TCP", False),
        ],
        id="rules-or",
    ),
    # "Targeting a range of ports": port..endPort inclusive.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}], ports: [{protocol: TCP, port: 32000, endPort: 32768}]}]
""",
        [
            ("prod/web", "10.9.9.9", 31999, "TCP", False),
            ("prod/web", "10.9.9.9", 32000, "TCP", True),
            ("prod/web", "10.9.9.9", 32768, "TCP", True),
            ("prod/web", "10.9.9.9", 32769, "TCP", False),
            ("prod/web", "dev/web", 32100, "TCP", True),
        ],
        id="endport-range",
    ),
    # SCTP is a protocol of its own.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{ports: [{protocol: SCTP, port: 3868}]}]
""",
        [("dev/web", "prod/api", 3868, "SCTP", True), ("dev/web", "prod/api", 3868, "TCP", False)],
        id="sctp",
    ),
    # Named ports resolve against each destination pod's container ports: "http" is 8080
    # on prod/web and 9090 on prod/api, and matches only pods declaring the name.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {}
  ingress: [{ports: [{port: http}]}]
""",
        [
            ("dev/web", "prod/web", 8080, "TCP", True),
            ("dev/web", "prod/web", 9090, "TCP", False),
            ("dev/web", "prod/api", 9090, "TCP", True),
            ("dev/web", "prod/api", 8080, "TCP", False),
            ("dev/web", "prod/worker", 7070, "TCP", True),
            ("dev/web", "prod/db", 5000, "TCP", False),  # db's "http" is UDP
            ("dev/web", "prod/db", 5000, "UDP", False),  # the entry's protocol is TCP
        ],
        id="named-port-per-pod",
    ),
    # A named port resolves per protocol too: {port: http, protocol: UDP} is db's UDP 5000.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {}
  ingress: [{ports: [{port: http, protocol: UDP}]}]
""",
        [
            ("dev/web", "prod/db", 5000, "UDP", True),
            ("dev/web", "prod/web", 8080, "UDP", False),
            ("dev/web", "prod/web", 8080, "TCP", False),
        ],
        id="named-port-per-protocol",
    ),
    # In egress rules the name resolves against the destination pod; an address has no
    # container ports, so a named port never matches traffic to an ipBlock.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{ports: [{port: http}, {port: dns, protocol: UDP}]}]
""",
        [
            ("prod/web", "prod/api", 9090, "TCP", True),
            ("prod/web", "dev/web", 8081, "TCP", True),
            ("prod/web", "dev/web", 9090, "TCP", False),
            ("prod/web", "kube-system/dns", 53, "UDP", True),
            ("prod/web", "kube-system/dns", 53, "TCP", False),
            ("prod/web", "8.8.8.8", 8080, "TCP", False),
        ],
        id="named-port-egress",
    ),
    # ipBlock "cidr ... except": the example allows 172.17.0.0/16 except 172.17.1.0/24.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24]}
    - ipBlock: {cidr: "2001:db8::/32", except: ["2001:db8:1::/48"]}
""",
        [
            ("172.17.0.5", "prod/web", 8080, "TCP", True),
            ("172.17.1.5", "prod/web", 8080, "TCP", False),
            ("172.17.2.0", "prod/web", 8080, "TCP", True),
            ("172.18.0.1", "prod/web", 8080, "TCP", False),
            ("2001:db8::1", "prod/web", 8080, "TCP", True),
            ("2001:db8:1::1", "prod/web", 8080, "TCP", False),
            ("2001:db9::1", "prod/web", 8080, "TCP", False),
        ],
        id="ipblock-except-v4-v6",
    ),
    # ipBlock applies to pod IPs too (upstream conformance tests); except carves pods out.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.2.0.0/16, except: [10.2.0.53/32]}}]}]
""",
        [
            ("prod/web", "dev/web", 8081, "TCP", True),
            ("prod/web", "monitoring/prom", 9090, "TCP", True),
            ("prod/web", "kube-system/dns", 53, "UDP", False),
            ("prod/web", "prod/api", 9090, "TCP", False),
        ],
        id="ipblock-matches-pod-ips",
    ),
    # A dual-stack pod is matched by an ipBlock containing any of its addresses.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [{ipBlock: {cidr: "fd00:1::/64"}}]}]
""",
        [("prod/web", "prod/api", 9090, "TCP", True), ("prod/db", "prod/api", 9090, "TCP", False)],
        id="ipblock-dual-stack-pod",
    ),
    # Pods synthesised from a workload template run with an unknown IP: selectors match
    # them, ipBlocks do not.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: worker}}}]
    ports: [{port: 5432}]
  - from: [{ipBlock: {cidr: 0.0.0.0/0}}]
    ports: [{port: 6000}]
""",
        [
            ("prod/worker", "prod/db", 5432, "TCP", True),
            ("prod/worker", "prod/db", 6000, "TCP", False),
            ("prod/web", "prod/db", 6000, "TCP", True),
        ],
        id="from-template-pods",
    ),
    # "For a network flow between two pods to be allowed, both the egress policy on the
    # source pod and the ingress policy on the destination pod need to allow the traffic."
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: web-egress, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: api}}}]}]
---
kind: NetworkPolicy
metadata: {name: api-ingress, namespace: prod}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [{podSelector: {matchLabels: {app: db}}}]}]
""",
        [
            ("prod/web", "prod/api", 9090, "TCP", False),  # egress yes, ingress no
            ("prod/db", "prod/api", 9090, "TCP", True),
            ("prod/web", "prod/db", 5432, "TCP", False),  # egress no
        ],
        id="egress-and-ingress-both-needed",
    ),
    # "Network policies do not conflict; they are additive": union over selecting policies.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: a, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: 5432}]}]
---
kind: NetworkPolicy
metadata: {name: b, namespace: prod}
spec:
  podSelector: {matchLabels: {tier: backend}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}]
""",
        [
            ("prod/api", "prod/db", 5432, "TCP", True),
            ("prod/web", "prod/db", 5432, "TCP", True),
            ("prod/web", "prod/api", 5432, "TCP", True),
            ("prod/api", "prod/api", 5432, "TCP", True),
            ("dev/web", "prod/db", 5432, "TCP", False),
        ],
        id="policies-additive",
    ),
    # A policy selects pods in its own namespace only: a dev policy does not isolate prod.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: p, namespace: dev}
spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress, Egress]}
""",
        [("prod/api", "prod/web", 8080, "TCP", True), ("prod/api", "dev/web", 8081, "TCP", False)],
        id="policy-own-namespace-only",
    ),
    # Egress rule with ports and no "to": any destination on those ports (the DNS pattern,
    # UDP and TCP 53), addresses included.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: dns, namespace: prod}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]}]
""",
        [
            ("prod/web", "kube-system/dns", 53, "UDP", True),
            ("prod/web", "kube-system/dns", 53, "TCP", True),
            ("prod/web", "1.1.1.1", 53, "UDP", True),
            ("prod/web", "1.1.1.1", 443, "TCP", False),
        ],
        id="dns-egress-any-destination",
    ),
    # "a pod cannot block access to itself" (loopback), even under deny-all.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: deny, namespace: prod}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
""",
        [("prod/web", "prod/web", 8080, "TCP", True), ("prod/web", "prod/api", 9090, "TCP", False)],
        id="loopback",
    ),
    # "traffic to and from the node where a Pod is running is always allowed"; another
    # node's address is an ordinary address for ipBlocks.
    pytest.param(
        """
kind: NetworkPolicy
metadata: {name: deny, namespace: prod}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
""",
        [
            ("192.168.0.10", "prod/web", 8080, "TCP", True),
            ("prod/web", "192.168.0.10", 10250, "TCP", True),
            ("192.168.0.11", "prod/web", 8080, "TCP", False),
        ],
        id="own-node-always-allowed",
    ),
]


@pytest.mark.parametrize(("policies", "checks"), CASES)
def test_semantics(policies, checks):
    model = build(policies)
    assert model.errors == []
    got = [
        (src, dst, port, proto, verdict(model, src, dst, port, proto))
        for src, dst, port, proto, _ in checks
    ]
    assert got == checks


# The API server drops empty lists: `ingress: []` comes back absent. Both spellings, and
# policyTypes written out as the API server defaults it, must mean the same.
EQUIVALENT_SPELLINGS = [
    (
        "spec: {podSelector: {}, ingress: []}",
        "spec: {podSelector: {}}",
        "spec: {podSelector: {}, policyTypes: [Ingress]}",
    ),
    (
        "spec: {podSelector: {}, egress: [{}], ingress: []}",
        "spec: {podSelector: {}, egress: [{}]}",
        "spec: {podSelector: {}, egress: [{}], policyTypes: [Ingress, Egress]}",
    ),
    (
        "spec: {podSelector: {}, policyTypes: [Egress], egress: []}",
        "spec: {podSelector: {}, policyTypes: [Egress]}",
    ),
    (
        "spec: {podSelector: {}, ingress: [{from: [], ports: []}]}",
        "spec: {podSelector: {}, ingress: [{}]}",
        "spec: {podSelector: {}, ingress: [null]}",
    ),
]


@pytest.mark.parametrize("spellings", EQUIVALENT_SPELLINGS)
def test_live_and_file_spellings_mean_the_same(spellings):
    results = []
    for spec in spellings:
        model = build(f"kind: NetworkPolicy\nmetadata: {{name: p, namespace: prod}}\n{spec}\n")
        results.append(
            (
                model.matrix(port=80),
                [(i.pod, i.ingress_isolated, i.egress_isolated) for i in model.isolation()],
                model.external_exposure().to_dict(),
            )
        )
    assert all(r == results[0] for r in results[1:])


def test_ingress_empty_list_isolates_with_policytypes():
    # `ingress: []` with policyTypes [Ingress] is the "deny all ingress" policy.
    model = build(
        "kind: NetworkPolicy\nmetadata: {name: p, namespace: prod}\nspec: {podSelector: {}, policyTypes: [Ingress], ingress: []}"
    )
    assert not verdict(model, "dev/web", "prod/web", 8080)
