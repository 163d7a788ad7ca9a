"""A synthetic cluster of realistic shape, as raw Kubernetes API objects.

``generate_cluster()`` is deterministic for a seed and returns
``{"Namespace": [...], "Node": [...], "Pod": [...], "NetworkPolicy": [...], "Service": [...]}``
with exactly the requested numbers of pods, namespaces and policies. Both the engine
benchmark and the ingest benchmark (which serves it over a fake API) use it.

Shape:

* Nodes: one per 50 pods, each with a /24 podCIDR in 10.0.0.0/8 and an InternalIP in
  192.168.0.0/16. Services get cluster IPs in 10.96.0.0/12.
* Namespaces: ``kube-system`` (CoreDNS), ``ingress-nginx``, ``monitoring`` (Prometheus
  and a hostNetwork node exporter on every node), then application namespaces
  ``app-NNNN`` labelled with team and env.
* Workloads per application namespace: frontend, backend, database (a StatefulSet: its
  pods carry their own name label), cache and worker; 1-4 replicas each; named container
  ports (``http`` is 8080 on frontends and 9090 on backends). About 1% of pods are
  Pending without an IP and 0.5% have Succeeded.
* Policies: each namespace takes the patterns in its own random order (default deny
  first in four namespaces out of five) until the total is reached: default deny, same-namespace allow, frontend to
  backend on named and numeric ports with an endPort range, DNS egress (UDP and TCP 53),
  ingress-controller to frontend (namespace AND pod selector), Prometheus scraping
  (OR peers), matchExpressions (In/NotIn/Exists), team-wide cross-namespace access,
  database access on a named port, and egress to the internet by ipBlock with except
  (cluster ranges and the cloud metadata address) plus fixed partner CIDRs, IPv6 too.
"""

from __future__ import annotations

import ipaddress
import random

ROLES = ("frontend", "backend", "db", "cache", "worker")
ENVS = ("prod", "staging", "dev")
PORTS = {
    "frontend": [("http", 8080, "TCP")],
    "backend": [("http", 9090, "TCP"), ("grpc", 9091, "TCP"), ("metrics", 9100, "TCP")],
    "db": [("db", 5432, "TCP"), ("metrics", 9187, "TCP")],
    "cache": [("redis", 6379, "TCP")],
    "worker": [("metrics", 9100, "TCP")],
}
TIER = {"frontend": "web", "backend": "app", "db": "data", "cache": "data", "worker": "app"}
SYSTEM_NAMESPACES = ("kube-system", "ingress-nginx", "monitoring")
INTERNET_EXCEPT = ["10.0.0.0/8", "192.168.0.0/16", "169.254.169.254/32"]


def _pod(ns, name, labels, ip, node, ports, *, owner=None, host_network=False, phase="Running"):
    status = {"phase": phase}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    metadata = {"name": name, "namespace": ns, "labels": labels}
    if owner:
        metadata["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "nodeName": node,
            "hostNetwork": host_network,
            "containers": [
                {
                    "name": "main",
                    "ports": [
                        {"name": n, "containerPort": p, "protocol": pr} for n, p, pr in ports
                    ],
                }
            ],
        },
        "status": status,
    }


def _policy(ns, name, spec):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def _ns_name(name):
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def _app_policies(ns: str, team: str, env: str, rng: random.Random):
    """The policies an application namespace may carry, most common first."""
    role = lambda r: {"matchLabels": {"role": r}}  # noqa: E731
    partner = f"203.0.{rng.randrange(256)}.0/24"
    yield "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    yield (
        "allow-dns",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": _ns_name("kube-system"),
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    )
    yield (
        "allow-same-namespace",
        {
            "podSelector": {},
            "ingress": [{"from": [{"podSelector": {}}]}],
            "egress": [{"to": [{"podSelector": {}}]}],
            "policyTypes": ["Ingress", "Egress"],
        },
    )
    yield (
        "frontend-to-backend",
        {
            "podSelector": role("backend"),
            "ingress": [
                {
                    "from": [{"podSelector": role("frontend")}],
                    "ports": [{"port": "http"}, {"port": 9091}, {"port": 9100, "endPort": 9110}],
                }
            ],
        },
    )
    yield (
        "ingress-controller",
        {
            "podSelector": role("frontend"),
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": _ns_name("ingress-nginx"),
                            "podSelector": {"matchLabels": {"app": "ingress-nginx"}},
                        }
                    ],
                    "ports": [{"port": "http"}],
                }
            ],
        },
    )
    yield (
        "prometheus-scrape",
        {
            "podSelector": {
                "matchExpressions": [
                    {"key": "role", "operator": "In", "values": ["backend", "worker", "db"]}
                ]
            },
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": _ns_name("monitoring")},
                        {"podSelector": {"matchLabels": {"app": "prometheus"}}},
                    ],
                    "ports": [{"port": "metrics"}],
                }
            ],
        },
    )
    yield (
        "db-access",
        {
            "podSelector": role("db"),
            "ingress": [
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchExpressions": [
                                    {
                                        "key": "role",
                                        "operator": "In",
                                        "values": ["backend", "worker"],
                                    }
                                ]
                            }
                        }
                    ],
                    "ports": [{"port": "db"}],
                }
            ],
        },
    )
    yield (
        "backend-egress",
        {
            "podSelector": {
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["app"]}]
            },
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"podSelector": role("db")}, {"podSelector": role("cache")}],
                    "ports": [{"port": 5432}, {"port": 6379}],
                },
                {
                    "to": [
                        {"ipBlock": {"cidr": "0.0.0.0/0", "except": INTERNET_EXCEPT}},
                        {"ipBlock": {"cidr": "::/0", "except": ["fd00::/8"]}},
                    ],
                    "ports": [{"port": 443}],
                },
                {
                    "to": [{"ipBlock": {"cidr": partner}}],
                    "ports": [{"port": 5000, "endPort": 5100}],
                },
            ],
        },
    )
    yield (
        "team-access",
        {
            "podSelector": role("backend"),
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"team": team},
                                "matchExpressions": [
                                    {"key": "env", "operator": "NotIn", "values": ["dev"]}
                                ],
                            },
                            "podSelector": {
                                "matchExpressions": [{"key": "role", "operator": "Exists"}]
                            },
                        }
                    ],
                    "ports": [{"port": "grpc"}],
                }
            ],
        },
    )
    yield (
        "frontend-egress",
        {
            "podSelector": role("frontend"),
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"podSelector": role("backend")}],
                    "ports": [{"port": "http"}, {"port": "grpc"}],
                },
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"team": team, "env": env}},
                            "podSelector": role("backend"),
                        }
                    ]
                },
            ],
        },
    )
    yield (
        "partner-ingress",
        {
            "podSelector": role("frontend"),
            "ingress": [
                {
                    "from": [
                        {
                            "ipBlock": {
                                "cidr": partner,
                                "except": [partner.replace(".0/24", ".128/25")],
                            }
                        }
                    ],
                    "ports": [{"port": 443}],
                }
            ],
        },
    )


def _address_policies(ns: str):
    """Two ipBlock patterns common in real clusters whose blocks hold the pod ranges:
    ingress from the VPC's internal load balancers, egress anywhere but the metadata
    address."""
    yield (
        "allow-internal-lb",
        {
            "podSelector": {"matchLabels": {"role": "frontend"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": "http"}]}],
        },
    )
    yield (
        "egress-anywhere",
        {
            "podSelector": {"matchLabels": {"role": "worker"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}],
        },
    )


def kubectl_list(
    pods: int, namespaces: int, policies: int, seed: int = 0
) -> dict:
    """The cluster as ``kubectl get ns,pods,networkpolicies -A -o yaml`` prints it: a
    ``List`` of namespaces, pods (with IPs) and policies; no Nodes, no Services, so no
    declared or node pod CIDRs. Its policies include the ipBlock patterns that hold pod
    addresses (``_address_policies``)."""
    c = generate_cluster(pods, namespaces, policies, seed, address_blocks=True)
    items = c["Namespace"] + c["Pod"] + c["NetworkPolicy"]
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def generate_cluster(
    pods: int = 50_000,
    namespaces: int = 2_000,
    policies: int = 10_000,
    seed: int = 0,
    *,
    address_blocks: bool = False,
) -> dict[str, list[dict]]:
    """A deterministic synthetic cluster with exactly these counts (see the module doc).
    ``address_blocks`` adds the ipBlock patterns of ``_address_policies`` to each
    application namespace's choices."""
    if namespaces < len(SYSTEM_NAMESPACES) + 1:
        raise ValueError(f"namespaces must be at least {len(SYSTEM_NAMESPACES) + 1}")
    rng = random.Random(seed)
    node_count = max(1, pods // 50)
    nodes = []
    for n in range(node_count):
        nodes.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"node-{n:04d}",
                    "labels": {"kubernetes.io/hostname": f"node-{n:04d}"},
                },
                "spec": {
                    "podCIDR": f"10.{n >> 8}.{n & 255}.0/24",
                    "podCIDRs": [f"10.{n >> 8}.{n & 255}.0/24"],
                },
                "status": {
                    "addresses": [
                        {"type": "InternalIP", "address": f"192.168.{n >> 8}.{(n & 255) or 1}"}
                    ]
                },
            }
        )
    next_ip = [1] * node_count

    def place():
        n = rng.randrange(node_count)
        for _ in range(node_count):
            if next_ip[n] < 255:
                break
            n = (n + 1) % node_count
        host = next_ip[n]
        next_ip[n] += 1
        return f"node-{n:04d}", f"10.{n >> 8}.{n & 255}.{host}"

    ns_objs = []
    for name in SYSTEM_NAMESPACES:
        ns_objs.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            }
        )
    apps = []
    for i in range(namespaces - len(SYSTEM_NAMESPACES)):
        name = f"app-{i:04d}"
        team, env = f"team-{i % 50:02d}", ENVS[i % 3]
        apps.append((name, team, env))
        ns_objs.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": {"kubernetes.io/metadata.name": name, "team": team, "env": env},
                },
            }
        )

    pod_objs: list[dict] = []
    services: list[dict] = []
    svc_ip = iter(int(ipaddress.IPv4Address("10.96.0.10")) + k for k in range(1 << 20))

    def service(ns, name, selector, ports):
        ip = str(ipaddress.IPv4Address(next(svc_ip)))
        services.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "type": "ClusterIP",
                    "clusterIP": ip,
                    "clusterIPs": [ip],
                    "selector": selector,
                    "ports": [
                        {"name": n, "port": p, "targetPort": n, "protocol": pr}
                        for n, p, pr in ports
                    ],
                },
            }
        )

    def workload(
        ns, name, labels, ports, replicas, *, kind="Deployment", host_network=False, budget
    ):
        pth = f"{rng.getrandbits(32):08x}"[:9]
        for r in range(min(replicas, budget - len(pod_objs))):
            node, ip = place()
            pod_labels = dict(labels)
            if kind == "StatefulSet":
                pod_name = f"{name}-{r}"
                pod_labels["statefulset.kubernetes.io/pod-name"] = pod_name
                owner = ("StatefulSet", name)
            else:
                pod_name = f"{name}-{pth}-{rng.getrandbits(20):05x}"
                pod_labels["pod-template-hash"] = pth
                owner = ("ReplicaSet", f"{name}-{pth}")
            phase = "Running"
            roll = rng.random()
            if roll < 0.01:
                phase, ip = "Pending", None
            elif roll < 0.015:
                phase = "Succeeded"
            if host_network:
                ip = f"192.168.{int(node[5:]) >> 8}.{(int(node[5:]) & 255) or 1}"
            pod_objs.append(
                _pod(
                    ns,
                    pod_name,
                    pod_labels,
                    ip,
                    node,
                    ports,
                    owner=owner,
                    host_network=host_network,
                    phase=phase,
                )
            )
        service(ns, name, labels, ports)

    # System workloads: DNS, ingress controller, Prometheus, and a hostNetwork exporter.
    dns_ports = [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")]
    workload("kube-system", "coredns", {"k8s-app": "kube-dns"}, dns_ports, 4, budget=pods)
    workload(
        "ingress-nginx",
        "ingress-nginx-controller",
        {"app": "ingress-nginx"},
        [("http", 80, "TCP"), ("https", 443, "TCP")],
        4,
        budget=pods,
    )
    workload(
        "monitoring",
        "prometheus",
        {"app": "prometheus"},
        [("web", 9090, "TCP")],
        2,
        kind="StatefulSet",
        budget=pods,
    )
    workload(
        "monitoring",
        "node-exporter",
        {"app": "node-exporter"},
        [("metrics", 9100, "TCP")],
        min(node_count, pods // 50),
        kind="DaemonSet",
        host_network=True,
        budget=pods,
    )

    # Application workloads: fill the pod budget evenly over the application namespaces.
    remaining = pods - len(pod_objs)
    per_ns = remaining / max(1, len(apps))
    for i, (ns, _team, _env) in enumerate(apps):
        budget = len(pod_objs) + round(per_ns * (i + 1)) - round(per_ns * i)
        r = 0
        while len(pod_objs) < budget:
            role = ROLES[r % len(ROLES)]
            labels = {
                "app": f"{role}-{r // len(ROLES)}",
                "role": role,
                "tier": TIER[role],
                "version": rng.choice(["v1", "v2"]),
            }
            kind = "StatefulSet" if role == "db" else "Deployment"
            workload(
                ns,
                f"{role}-{r // len(ROLES)}",
                labels,
                PORTS[role],
                rng.randint(1, 4),
                kind=kind,
                budget=budget,
            )
            r += 1
    while len(pod_objs) < pods:  # rounding leftovers
        workload(
            apps[-1][0],
            "extra",
            {"app": "extra", "role": "worker"},
            PORTS["worker"],
            pods - len(pod_objs),
            budget=pods,
        )

    # Policies: cycle through each namespace's list until the total is reached.
    # Each namespace takes its own random order of the patterns; default deny comes first
    # in four namespaces out of five.
    generators = []
    for ns, team, env in apps:
        options = list(_app_policies(ns, team, env, rng))
        if address_blocks:
            options[1:1] = _address_policies(ns)
        rest = options[1:]
        rng.shuffle(rest)
        if rng.random() < 0.8:
            generators.append([options[0], *rest])
        else:
            generators.append(rest[:2] + [options[0]] + rest[2:])
    system = [
        (
            "kube-system",
            "allow-dns-from-all",
            {
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                "ingress": [
                    {
                        "from": [{"namespaceSelector": {}}],
                        "ports": [{"port": "dns", "protocol": "UDP"}, {"port": "dns-tcp"}],
                    }
                ],
            },
        ),
        (
            "ingress-nginx",
            "allow-web",
            {"podSelector": {}, "ingress": [{"ports": [{"port": 80}, {"port": 443}]}]},
        ),
        (
            "monitoring",
            "prometheus-egress",
            {
                "podSelector": {"matchLabels": {"app": "prometheus"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"namespaceSelector": {}}]}],
            },
        ),
    ]
    pol_objs = [_policy(ns, name, spec) for ns, name, spec in system[:policies]]
    depth = 0
    while len(pol_objs) < policies:
        added = False
        for (ns, _, _), options in zip(apps, generators, strict=True):
            if len(pol_objs) >= policies:
                break
            if depth < len(options):
                name, spec = options[depth]
                pol_objs.append(_policy(ns, name, spec))
                added = True
            elif depth >= len(options):
                extra = depth - len(options)
                pol_objs.append(
                    _policy(
                        ns,
                        f"extra-{extra}",
                        {
                            "podSelector": {"matchLabels": {"app": f"worker-{extra}"}},
                            "ingress": [
                                {
                                    "from": [
                                        {"podSelector": {"matchLabels": {"role": "frontend"}}}
                                    ],
                                    "ports": [{"port": 8000 + extra}],
                                }
                            ],
                        },
                    )
                )
                added = True
        depth += 1
        if not added:
            break
    return {
        "Namespace": ns_objs,
        "Node": nodes,
        "Pod": pod_objs,
        "NetworkPolicy": pol_objs,
        "Service": services,
    }
