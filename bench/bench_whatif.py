"""What-if benchmark: ``netpol.whatif.compare`` on the synthetic cluster, no database.

Each run is a fresh process: generate the cluster and build its ClusterModel (not timed),
then the base facts a page keeps with the cached model (``whatif.base_report``: the
snapshot's audit and allowed set; *base*, timed once), then every change below
``--repeat`` times (*warm*: what a second *Run* on the same snapshot costs). The
changes are what an auditor tries:

* ``deny-ns``: a default deny (ingress and egress) in one application namespace;
* ``deny-in``: a default deny for ingress only in one namespace;
* ``allow``: a policy letting one namespace's frontends in from everywhere on 8080;
* ``remove``: deleting one existing policy;
* ``open-ns``: deleting every policy of the namespace (its pods' egress opens to all);
* ``new-ipblock``: an egress rule to a CIDR no policy names (the full rebuild path).

``--modes full,incremental`` times both ways of computing in the same process, one
after the other per repetition, so their ratio is measured under the same load; *full*
rebuilds and audits the whole changed model (what ``compare`` did before issue 10's
incremental evaluation), *incremental* is ``compare`` as pages call it. Each is also
timed without the audit (``/engine``: the changed model and its allowed set), the part
that the incremental evaluation changes.

    .venv/bin/python bench/bench_whatif.py                      # 50k/2k/10k, 3 runs
    .venv/bin/python bench/bench_whatif.py --pods 5000 --namespaces 200 --policies 1000
    .venv/bin/python bench/bench_whatif.py --runs 1 --profile   # and a pyinstrument profile
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

MODES = ("full", "incremental")
TARGET_S = 1.0  # issue 10: a warm Run at 50k


def _policy(namespace: str, name: str, spec: dict) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def changes(model) -> dict[str, dict]:
    """The tried changes, on the first application namespace with policies."""
    namespace = next(p.namespace for p in model.policies if p.namespace.startswith("app-"))
    existing = next(p.key for p in model.policies if p.namespace == namespace)
    return {
        "deny-ns": {
            "add": [
                _policy(
                    namespace,
                    "bench-deny",
                    {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
                )
            ]
        },
        "deny-in": {
            "add": [
                _policy(namespace, "bench-deny-in", {"podSelector": {}, "policyTypes": ["Ingress"]})
            ]
        },
        "allow": {
            "add": [
                _policy(
                    namespace,
                    "bench-allow",
                    {
                        "podSelector": {"matchLabels": {"role": "frontend"}},
                        "ingress": [
                            {
                                "from": [{"namespaceSelector": {}}],
                                "ports": [{"port": 8080, "protocol": "TCP"}],
                            }
                        ],
                    },
                )
            ]
        },
        "remove": {"remove": {existing}},
        "open-ns": {"remove": {p.key for p in model.policies if p.namespace == namespace}},
        "new-ipblock": {
            "add": [
                _policy(
                    namespace,
                    "bench-egress",
                    {
                        "podSelector": {},
                        "policyTypes": ["Egress"],
                        "egress": [{"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}],
                    },
                )
            ]
        },
    }


def measure(args) -> None:
    from bench.synthetic import generate_cluster
    from netpol import whatif
    from netpol.engine import ClusterModel

    c = generate_cluster(
        pods=args.pods, namespaces=args.namespaces, policies=args.policies, seed=args.seed
    )
    model = ClusterModel.from_objects(
        c["Namespace"], c["Pod"], c["Node"], c["NetworkPolicy"], c["Service"]
    )
    del c
    t0 = time.perf_counter()
    whatif.base_report(model)
    whatif.compare(model, **changes(model)["deny-ns"])  # the base's other derived data
    base = time.perf_counter() - t0
    modes = [m for m in args.modes.split(",") if m]
    out: dict = {"base": base}
    with harness.profiled(args.profile) as profile:
        for name, change in changes(model).items():
            for mode in modes:
                times, engine = [], []
                incremental = mode == "incremental"
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    result = whatif.compare(model, incremental=incremental, **change)
                    times.append(time.perf_counter() - t)
                    # The engine's share: the changed model and its allowed set.
                    t = time.perf_counter()
                    changed, _ = whatif.changed_model(
                        model,
                        add=change.get("add", []),
                        remove=change.get("remove", set()),
                        incremental=incremental,
                    )
                    changed.allowed_connections()
                    engine.append(time.perf_counter() - t)
                out[f"{name}/{mode}"] = statistics.median(times)
                out[f"{name}/{mode}/engine"] = statistics.median(engine)
                out[f"{name}/{mode}/changed"] = len(result["connections"]["lost"]) + len(
                    result["connections"]["gained"]
                )
    harness.emit({**out, "rss_mb": harness.peak_mb(), **profile})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    step = harness.step_parser("repeat")
    step.add_argument("--modes", default=",".join(MODES))
    if harness.dispatch(argv, {"_measure": measure}, step):
        return 0
    parser = harness.parser(__doc__, size_defaults=(50_000, 2_000, 10_000))
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per change and run")
    parser.add_argument("--modes", default=",".join(MODES), help="full,incremental or one")
    args = harness.check(parser, parser.parse_args(argv))
    print(harness.machine(), flush=True)
    arguments = [*harness.size_args(args, "repeat"), f"--modes={args.modes}"]
    runs = []
    for _ in range(args.runs):
        runs.append(harness.run_step(__file__, "_measure", arguments))
        print({k: round(v, 3) for k, v in runs[-1].items() if not isinstance(v, str)}, flush=True)
    print("median of runs (s):")
    for key in runs[0]:
        if isinstance(runs[0][key], str) or key.endswith("/changed"):
            continue
        med, lo, hi = harness.summary([r[key] for r in runs])
        print(f"  {key:28} {med:8.3f}  ({lo:.3f}-{hi:.3f})")
    if args.profile:
        harness.profiled_run(__file__, "whatif", args, arguments)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
