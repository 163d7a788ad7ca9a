"""Engine benchmark with Cilium and Calico policies beside the NetworkPolicies (issue 13).

Each run is a fresh Python process: it generates the synthetic cluster
(``bench.synthetic.generate_cluster``) and, for the variant, Cilium or Calico policies
over its application namespaces (not timed), then times parsing, the class/bitset
evaluation, the allowed set and external exposure, as ``bench_engine.py`` does. The
variants run in the same invocation so their ratios compare on one machine:

* ``none``: the NetworkPolicies alone (the "before");
* ``cilium``: plus ``--extra`` CiliumNetworkPolicies (allow and deny rules, entities,
  CIDRs, ports) and one CiliumClusterwideNetworkPolicy for every ten;
* ``calico``: plus ``--extra`` Calico NetworkPolicies/GlobalNetworkPolicies over two
  tiers (Allow/Deny/Pass, nets, selectors, ports);
* ``all``: every kind together: ``--extra`` Cilium policies, half as many Calico
  policies and a quarter as many ClusterNetworkPolicies (Admin and Baseline; with
  ``--extra 2000``, issue 13's 2,000 Cilium, 1,000 Calico and 500 cluster policies).

    .venv/bin/python bench/bench_policy_kinds.py                       # 5k/200/1k, 500 extra
    .venv/bin/python bench/bench_policy_kinds.py --pods 50000 --namespaces 2000 \\
        --policies 10000 --extra 2000 --runs 3

Issue 13's target: 50,000 pods / 2,000 namespaces / 10,000 NetworkPolicies with 2,000
Cilium and 1,000 Calico policies (and 500 ClusterNetworkPolicies) in at most 15 s, 2 GB.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

DECLARED = ["10.0.0.0/8", "10.96.0.0/12"]
VARIANTS = ("none", "cilium", "calico", "all")
PHASES = ("parse", "evaluate", "allowed", "exposure")


def cilium_policies(namespaces: list[str], count: int) -> list[dict]:
    out = []
    for i in range(count):
        ns = namespaces[i % len(namespaces)]
        role = ("frontend", "backend", "db", "cache", "worker")[i % 5]
        spec: dict = {"endpointSelector": {"matchLabels": {"role": role}}}
        if i % 3 == 0:
            spec["ingress"] = [
                {
                    "fromEndpoints": [{"matchLabels": {"role": "frontend"}}],
                    "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}],
                },
                {"fromEntities": ["cluster"], "toPorts": [{"ports": [{"port": "9100"}]}]},
            ]
        if i % 3 == 1:
            spec["egress"] = [
                {"toEntities": ["world"], "toPorts": [{"ports": [{"port": "443"}]}]},
                {
                    "toEndpoints": [
                        {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system"}}
                    ],
                    "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}]}],
                },
                {"toCIDRSet": [{"cidr": "172.16.0.0/12", "except": [f"172.16.{i % 250}.0/24"]}]},
            ]
        if i % 3 == 2:
            spec["ingressDeny"] = [
                {
                    "fromEndpoints": [{"matchLabels": {"env": "dev"}}],
                    "toPorts": [{"ports": [{"port": "5432"}]}],
                }
            ]
            spec["enableDefaultDeny"] = {"ingress": False}
        md = {"name": f"cil-{i}", "namespace": ns}
        kind = "CiliumNetworkPolicy"
        if i % 10 == 9:
            md, kind = {"name": f"ccnp-{i}"}, "CiliumClusterwideNetworkPolicy"
            spec["endpointSelector"]["matchLabels"]["k8s:io.kubernetes.pod.namespace"] = ns
        out.append({"apiVersion": "cilium.io/v2", "kind": kind, "metadata": md, "spec": spec})
    return out


def calico_policies(namespaces: list[str], count: int) -> list[dict]:
    out = [
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "Tier",
            "metadata": {"name": "security"},
            "spec": {"order": 100, "defaultAction": "Pass"},
        }
    ]
    for i in range(count):
        ns = namespaces[i % len(namespaces)]
        role = ("frontend", "backend", "db", "cache", "worker")[i % 5]
        spec: dict = {"selector": f"role == '{role}'", "order": 100 + i % 7 * 100}
        if i % 2 == 0:
            spec["ingress"] = [
                {"action": "Deny", "source": {"namespaceSelector": "env == 'dev'"}},
                {
                    "action": "Allow",
                    "protocol": "TCP",
                    "source": {"selector": "role == 'frontend'"},
                    "destination": {"ports": [8080, "9000:9100"]},
                },
            ]
        else:
            spec["egress"] = [
                {"action": "Allow", "protocol": "UDP", "destination": {"ports": [53]}},
                {"action": "Deny", "destination": {"nets": ["172.16.0.0/12"]}},
            ]
        md = {"name": f"cal-{i}", "namespace": ns}
        kind = "NetworkPolicy"
        if i % 10 == 9:
            md, kind = {"name": f"gnp-{i}"}, "GlobalNetworkPolicy"
            spec["tier"] = "security"
            spec["namespaceSelector"] = f"kubernetes.io/metadata.name == '{ns}'"
            spec["ingress"] = [{"action": "Pass"}]
            spec.pop("egress", None)
        out.append(
            {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": md, "spec": spec}
        )
    return out


def cluster_policies(namespaces: list[str], count: int) -> list[dict]:
    """ClusterNetworkPolicies of both tiers, as platform teams write them: per team of
    namespaces, Admin denies from dev and accepts from monitoring, Baseline default
    denies with a DNS pass; actions, networks and ports vary."""
    out = []
    for i in range(count):
        ns = namespaces[i % len(namespaces)]
        subject = {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
        admin = i % 2 == 0
        spec: dict = {
            "tier": "Admin" if admin else "Baseline",
            "priority": i % 1000,
            "subject": subject,
        }
        if admin:
            spec["ingress"] = [
                {
                    "name": "no-dev",
                    "action": "Deny",
                    "from": [{"namespaces": {"matchLabels": {"env": "dev"}}}],
                    "protocols": [{"tcp": {"destinationPort": {"number": 5432}}}],
                },
                {
                    "name": "scrape",
                    "action": "Accept" if i % 4 == 0 else "Pass",
                    "from": [
                        {
                            "namespaces": {
                                "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                            }
                        }
                    ],
                    "protocols": [
                        {"tcp": {"destinationPort": {"range": {"start": 9000, "end": 9100}}}}
                    ],
                },
            ]
        else:
            spec["egress"] = [
                {
                    "name": "dns",
                    "action": "Pass",
                    "to": [
                        {
                            "namespaces": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            }
                        }
                    ],
                    "protocols": [{"udp": {"destinationPort": {"number": 53}}}],
                },
                {
                    "name": "no-metadata",
                    "action": "Deny",
                    "to": [{"networks": ["169.254.169.254/32"]}],
                },
            ]
        out.append(
            {
                "apiVersion": "policy.networking.k8s.io/v1alpha2",
                "kind": "ClusterNetworkPolicy",
                "metadata": {"name": f"cnp-{i}"},
                "spec": spec,
            }
        )
    return out


def measure(args) -> None:
    from bench.synthetic import generate_cluster
    from netpol.engine import ClusterModel

    cluster = generate_cluster(
        pods=args.pods, namespaces=args.namespaces, policies=args.policies, seed=args.seed
    )
    apps = [
        n["metadata"]["name"]
        for n in cluster["Namespace"]
        if n["metadata"]["name"].startswith("app-")
    ]
    variant = VARIANTS[args.variant]
    extra = {}
    if variant == "cilium":
        extra["cilium_policies"] = cilium_policies(apps, args.extra)
    elif variant == "calico":
        extra["calico_policies"] = calico_policies(apps, args.extra)
    elif variant == "all":
        extra["cilium_policies"] = cilium_policies(apps, args.extra)
        extra["calico_policies"] = calico_policies(apps, args.extra // 2)
        extra["cluster_policies"] = cluster_policies(apps, args.extra // 4)
    rss_input = harness.peak_mb()
    times = {}
    t = time.perf_counter()
    model = ClusterModel.from_objects(
        cluster["Namespace"],
        cluster["Pod"],
        cluster["Node"] if args.nodes else [],
        cluster["NetworkPolicy"],
        cluster["Service"],
        declared_cidrs=DECLARED,
        **extra,
    )
    times["parse"], t = time.perf_counter() - t, time.perf_counter()
    ev = model.evaluation
    times["evaluate"], t = time.perf_counter() - t, time.perf_counter()
    allowed = model.allowed_connections()
    times["allowed"], t = time.perf_counter() - t, time.perf_counter()
    model.external_exposure().to_dict()
    times["exposure"] = time.perf_counter() - t
    harness.emit(
        {
            "times": times,
            "total": sum(times.values()),
            "rss_input_mb": rss_input,
            "rss_peak_mb": harness.peak_mb(),
            "classes": len(ev.classes),
            "groups": len(allowed.groups),
            "errors": len(model.errors),
        }
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if harness.dispatch(argv, {"_measure": measure}, harness.step_parser("variant", "extra", "nodes")):
        return 0
    parser = harness.parser(__doc__, runs=3, size_defaults=(5_000, 200, 1_000), profile=False)
    parser.add_argument("--extra", type=int, default=500, help="Cilium or Calico policies")
    parser.add_argument(
        "--no-nodes",
        dest="nodes",
        action="store_const",
        const=0,
        default=1,
        help="leave the Nodes out, as `kubectl get -o yaml` of pods and policies does",
    )
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="which of " + ", ".join(VARIANTS)
    )
    args = harness.check(parser, parser.parse_args(argv))
    print(harness.machine())
    for v, variant in enumerate(VARIANTS):
        if variant not in args.variants.split(","):
            continue
        args.variant = v
        results = [
            harness.run_step(__file__, "_measure", harness.size_args(args, "variant", "extra", "nodes"))
            for _ in range(args.runs)
        ]
        total = harness.summary([r["total"] for r in results])[0]
        phases = {p: harness.summary([r["times"][p] for r in results])[0] for p in PHASES}
        first = results[0]
        print(
            f"{variant}: {args.pods:,} pods / {args.namespaces:,} namespaces / "
            f"{args.policies:,} NetworkPolicies + {0 if variant == 'none' else args.extra:,} "
            f"{variant if variant != 'none' else ''} policies ({first['classes']:,} classes, "
            f"{first['groups']:,} groups, {first['errors']} errors): median {total:.2f} s "
            f"{[round(r['total'], 2) for r in results]} "
            + ", ".join(f"{p} {s:.2f}" for p, s in phases.items())
            + f"; peak RSS {max(r['rss_peak_mb'] for r in results):.0f} MB",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
