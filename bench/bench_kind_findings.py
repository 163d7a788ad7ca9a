"""Time of NP043-NP046 (netpol/findings/kinds.py) on a synthetic cluster with Cilium and
Calico policies beside the NetworkPolicies, apart from the engine and the rest of the
audit: the model is built and evaluated first (not timed), then ``kinds.findings`` runs
``--runs`` times on fresh Facts and the median is printed.

    .venv/bin/python bench/bench_kind_findings.py                     # 5k pods, 500 + 500
    .venv/bin/python bench/bench_kind_findings.py --pods 50000 --namespaces 2000 \\
        --policies 10000 --cilium 2000 --calico 1000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_policy_kinds import DECLARED, calico_policies, cilium_policies  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--namespaces", type=int, default=200)
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--cilium", type=int, default=500)
    parser.add_argument("--calico", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--worst",
        action="store_true",
        help="an Allow of everything first in every Calico rule list and no order on every "
        "other policy: every Deny is shadowed (NP045) and half the policies are NP044",
    )
    args = parser.parse_args(argv)

    from bench.synthetic import generate_cluster
    from netpol.engine import ClusterModel
    from netpol.findings import kinds
    from netpol.findings.facts import Facts

    cluster = generate_cluster(
        pods=args.pods, namespaces=args.namespaces, policies=args.policies, seed=0
    )
    apps = [
        n["metadata"]["name"]
        for n in cluster["Namespace"]
        if n["metadata"]["name"].startswith("app-")
    ]
    model = ClusterModel.from_objects(
        cluster["Namespace"],
        cluster["Pod"],
        cluster["Node"],
        cluster["NetworkPolicy"],
        cluster["Service"],
        declared_cidrs=DECLARED,
        cilium_policies=cilium_policies(apps, args.cilium),
        calico_policies=_worst(calico_policies(apps, args.calico))
        if args.worst
        else calico_policies(apps, args.calico),
    )
    t = time.perf_counter()
    model.evaluation  # noqa: B018 - built before the timed part
    evaluate = time.perf_counter() - t
    times, found = [], []
    for _ in range(args.runs):
        facts = Facts(model)
        t = time.perf_counter()
        found = kinds.findings(facts)
        times.append(time.perf_counter() - t)
    by_rule: dict[str, int] = {}
    for f in found:
        by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
    print(
        f"pods={args.pods} namespaces={args.namespaces} networkpolicies={args.policies} "
        f"cilium={args.cilium} calico={args.calico} classes={len(model.evaluation.classes)}"
    )
    print(f"evaluation (not timed below): {evaluate:.2f} s")
    print(
        f"kinds.findings: median {statistics.median(times):.2f} s of {args.runs} runs "
        f"({', '.join(f'{x:.2f}' for x in times)}); findings {dict(sorted(by_rule.items()))}"
    )
    return 0


def _worst(objects: list[dict]) -> list[dict]:
    for i, obj in enumerate(objects):
        spec = obj.get("spec", {})
        for direction in ("ingress", "egress"):
            if spec.get(direction):
                spec[direction] = [{"action": "Allow"}, *spec[direction]]
        if obj["kind"] != "Tier" and i % 2:
            spec.pop("order", None)
    return objects


if __name__ == "__main__":
    raise SystemExit(main())
