"""Least-privilege suggestions benchmark: ``netpol.suggest.suggest`` on the synthetic
cluster, no database.

Generate the cluster and build its ClusterModel, replay the synthetic conversations of
``bench_flows.conversations`` (each counted once, observed allowed), not timed; then time
a suggestion for one application namespace and for one workload of it (what the page
asks), ``--runs`` times each, and print the median. ``--before FILE`` loads another
version of ``netpol/suggest.py`` (``git show REV:netpol/suggest.py > FILE``) and times it
too, alternating with the current one in the same process, so both meet the same load.

    .venv/bin/python bench/bench_suggest.py                     # 50k/2k/10k, 3 runs
    .venv/bin/python bench/bench_suggest.py --pods 5000 --namespaces 200 --policies 1000
    .venv/bin/python bench/bench_suggest.py --before /tmp/suggest_before.py
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pods", type=int, default=50_000)
    p.add_argument("--namespaces", type=int, default=2_000)
    p.add_argument("--policies", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--before", type=Path, help="another version of netpol/suggest.py to compare")
    args = p.parse_args(argv)

    from bench.bench_flows import conversations
    from bench.synthetic import generate_cluster
    from netpol import suggest as current
    from netpol.engine import ClusterModel
    from netpol.flows.formats import End
    from netpol.flows.judge import replay_counted

    c = generate_cluster(args.pods, args.namespaces, args.policies, args.seed)
    model = ClusterModel.from_objects(
        c["Namespace"], c["Pod"], c["Node"], c["NetworkPolicy"], c["Service"]
    )
    model.evaluation  # noqa: B018 (built here, not timed)

    def end(e) -> End:
        if isinstance(e, str):
            return End("", "", e, (), "")
        return End(e["metadata"]["namespace"], e["metadata"]["name"], "", (), "")

    seen = [
        ((end(s), end(d), port, proto, "allowed"), 1)
        for s, d, port, proto in conversations(c, random.Random(1))
    ]
    del c
    replayed = replay_counted(model, seen).to_dict()
    versions = [("current", current)]
    if args.before:
        spec = importlib.util.spec_from_file_location("suggest_before", args.before)
        before = importlib.util.module_from_spec(spec)
        sys.modules["suggest_before"] = before  # dataclasses look their module up
        spec.loader.exec_module(before)
        versions.insert(0, ("before", before))
    namespace = next(n for n in sorted(model.namespaces) if n.startswith("app-"))
    workload = next(p.workload_key for p in model.pods if p.namespace == namespace)
    print(
        f"{args.pods:,} pods, {len(replayed['allowed']) + len(replayed['denied']):,} conversations"
    )
    for scope in ({"namespace": namespace}, {"workload": workload}):
        times: dict[str, list[float]] = {name: [] for name, _ in versions}
        summaries: dict[str, str] = {}
        for _ in range(args.runs):
            for name, module in versions:
                t0 = time.perf_counter()
                result = module.suggest(model, replayed, **scope)
                times[name].append(time.perf_counter() - t0)
                summaries[name] = result.summary()
        for name, values in times.items():
            print(
                f"{scope}: {name} median {statistics.median(values):.2f} s "
                f"(runs {', '.join(f'{v:.2f}' for v in values)}); {summaries[name]}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
