"""Time of NP043-NP046 (netpol/findings/kinds.py) on a synthetic cluster with Cilium and
Calico policies beside the NetworkPolicies, apart from the engine and the rest of the
audit: the model is built and evaluated first (not timed), then ``kinds.findings`` runs
``--runs`` times on fresh Facts and the median is printed.

    .venv/bin/python bench/bench_kind_findings.py                     # 5k pods, 500 + 500
    .venv/bin/python bench/bench_kind_findings.py --pods 50000 --namespaces 2000 \\
        --policies 10000 --cilium 2000 --calico 1000

``--against FILE`` times another version of the module on the same model, the runs of the
two interleaved (the machine's load hits both alike), and says whether their findings are
the same (rule, fingerprint, message, evidence)::

    git show HEAD~1:netpol/findings/kinds.py > /tmp/kinds_before.py
    .venv/bin/python bench/bench_kind_findings.py --worst --against /tmp/kinds_before.py

``--unenforced`` times NP042's evidence instead (``netpol.findings.cni.unenforced``: the
pods each ignored kind would have isolated): Calico's node pods join kube-system, so the
cluster runs Calico, and its ``--cilium`` Cilium policies are not enforced (no Calico
policy is generated); ``--unenforced calico``: Cilium's agent pods instead, and the
``--calico`` Calico policies are not enforced. ``--against`` is then a version of
netpol/findings/cni.py.
"""

from __future__ import annotations

import argparse
import importlib.util
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
    parser.add_argument(
        "--against",
        type=Path,
        help="another version of netpol/findings/kinds.py (with --unenforced, cni.py), timed "
        "on the same model",
    )
    parser.add_argument(
        "--unenforced",
        nargs="?",
        const="cilium",
        choices=("cilium", "calico"),
        help="NP042: a Calico cluster whose Cilium policies are not enforced (or, 'calico', a "
        "Cilium cluster whose Calico policies are not); times cni.unenforced",
    )
    args = parser.parse_args(argv)

    from bench.synthetic import generate_cluster
    from netpol.findings import cni, kinds

    cluster = generate_cluster(
        pods=args.pods, namespaces=args.namespaces, policies=args.policies, seed=0
    )
    apps = [
        n["metadata"]["name"]
        for n in cluster["Namespace"]
        if n["metadata"]["name"].startswith("app-")
    ]
    if args.unenforced == "calico":
        model = _plugin_cluster(cluster, "cilium", calico_policies(apps, args.calico))
        args.cilium = 0
        versions = {"cni.unenforced": cni}
    elif args.unenforced:
        model = _plugin_cluster(cluster, "calico", cilium_policies(apps, args.cilium))
        args.calico = 0
        versions = {"cni.unenforced": cni}
    else:
        model = _model(cluster, apps, args)
        versions = {"kinds.findings": kinds}
    t = time.perf_counter()
    model.evaluation  # noqa: B018 - built before the timed part
    evaluate = time.perf_counter() - t
    if args.against:
        versions[f"{args.against} (--against)"] = _load(args.against)
    times: dict[str, list[float]] = {name: [] for name in versions}
    found: dict[str, list] = {}
    for _ in range(args.runs):
        for name, module in versions.items():
            run = _prepare(module, model, args.unenforced)  # fresh Facts, not timed
            t = time.perf_counter()
            found[name] = run()
            times[name].append(time.perf_counter() - t)
    print(
        f"pods={args.pods} namespaces={args.namespaces} networkpolicies={args.policies} "
        f"cilium={args.cilium} calico={args.calico} classes={len(model.evaluation.classes)}"
    )
    print(f"evaluation (not timed below): {evaluate:.2f} s")
    for name in versions:
        print(
            f"{name}: median {statistics.median(times[name]):.2f} s of {args.runs} runs "
            f"({', '.join(f'{x:.2f}' for x in times[name])}); {_summary(found[name])}"
        )
    if args.against:
        this, other = (found[name] for name in versions)
        mine, theirs = _comparable(this), _comparable(other)
        if mine == theirs:
            print("same findings: True")
        elif _comparable(this, fingerprints=False) == _comparable(other, fingerprints=False):
            print("same findings apart from their fingerprints")
        else:
            print("same findings: False" + _first_diff(mine, theirs))
    return 0


def _model(cluster: dict, apps: list[str], args):
    from netpol.engine import ClusterModel

    calico = calico_policies(apps, args.calico)
    return ClusterModel.from_objects(
        cluster["Namespace"],
        cluster["Pod"],
        cluster["Node"],
        cluster["NetworkPolicy"],
        cluster["Service"],
        declared_cidrs=DECLARED,
        cilium_policies=cilium_policies(apps, args.cilium),
        calico_policies=_worst(calico) if args.worst else calico,
    )


def _plugin_cluster(cluster: dict, plugin: str, ignored: list[dict]):
    """The cluster with the ``plugin``'s DaemonSet pods (calico-node or the Cilium agent)
    on its nodes, loaded as ``netaudit`` loads files: the plugin found among the pods,
    the ``ignored`` policies (of a kind it does not enforce) set aside."""
    from netpol.load import load_objects

    nodes = [n["metadata"]["name"] for n in cluster["Node"]]
    name, label = ("calico-node", "calico-node") if plugin == "calico" else ("cilium", "cilium")
    agents = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name}-{i:05d}",
                "namespace": "kube-system",
                "labels": {"k8s-app": label},
                "ownerReferences": [{"kind": "DaemonSet", "name": name, "controller": True}],
            },
            "spec": {"nodeName": node, "hostNetwork": True, "containers": [{"name": "agent"}]},
            "status": {"phase": "Running", "podIP": f"192.168.{i // 250}.{i % 250 + 1}"},
        }
        for i, node in enumerate(nodes)
    ]
    pairs = [
        (kind, obj)
        for kind in ("Namespace", "Pod", "Node", "NetworkPolicy", "Service")
        for obj in cluster[kind]
    ]
    pairs += [("Pod", p) for p in agents]
    pairs += [(_kind_key(p), p) for p in ignored]
    model = load_objects(pairs, declared_cidrs=DECLARED)
    assert model.enforcement["plugins"] == [plugin], model.enforcement
    assert len(model.unenforced) == len(ignored), len(model.unenforced)
    return model


def _kind_key(obj: dict) -> str:
    from netpol.enforcement import kind_of

    return kind_of(obj)


def _prepare(module, model, unenforced: bool):
    """The timed call: ``cni.unenforced(model)``, or ``kinds.findings`` on fresh Facts
    made here (the audit makes them once for every finding module)."""
    from netpol.findings.facts import Facts

    if unenforced:
        return lambda: module.unenforced(model)
    facts = Facts(model)
    return lambda: module.findings(facts)


def _summary(found: list) -> str:
    by_rule: dict[str, int] = {}
    for f in found:
        if isinstance(f, dict):  # cni.unenforced: per kind, the pods it would isolate
            by_rule[f["kind"]] = len(f["pods"])
        else:
            by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
    return f"{'pods per ignored kind' if found and isinstance(found[0], dict) else 'findings'} {dict(sorted(by_rule.items()))}"


def _worst(objects: list[dict]) -> list[dict]:
    for i, obj in enumerate(objects):
        spec = obj.get("spec", {})
        for direction in ("ingress", "egress"):
            if spec.get(direction):
                spec[direction] = [{"action": "Allow"}, *spec[direction]]
        if obj["kind"] != "Tier" and i % 2:
            spec.pop("order", None)
    return objects


def _load(path: Path):
    """``path`` as a module of ``netpol.findings``, so its relative imports resolve."""
    spec = importlib.util.spec_from_file_location("netpol.findings._kinds_against", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _comparable(found: list, *, fingerprints: bool = True) -> list:
    if found and isinstance(found[0], dict):
        return found
    return sorted(
        (f.rule, f.fingerprint if fingerprints else "", f.message, repr(f.evidence)) for f in found
    )


def _first_diff(mine: list[tuple], theirs: list[tuple]) -> str:
    for a, b in zip(mine, theirs, strict=False):
        if a != b:
            return f"; first difference:\n  this:    {a}\n  against: {b}"
    return f"; {len(mine)} findings against {len(theirs)}"


if __name__ == "__main__":
    raise SystemExit(main())
