"""The Flows page's replay as a worker's run (issue 14), on bench_flows.py's files.

What a ``FlowReplayRun`` costs besides the model load, in one process per run, on the
cluster and Hubble file ``bench_flows.py`` writes (written first if missing, not timed):
the file is imported once (``count_conversations``, ``write_conversations``, not timed),
then per run, on a model built before the clock:

* ``replay``: ``netpol.flows.replay_counted`` on the stored conversations, what the page
  did within the request before (and still does up to ``FLOWS_INLINE_MAX_PODS``);
* ``told``: the same, its conversations counted for the run's progress (``auditor.flows``
  ``_told``): the counting's cost;
* ``bounded``: ``auditor.flows.bounded_replay`` of the result and its JSON, what the run
  stores for the page (time and size).

    .venv/bin/python bench/bench_flow_replay_run.py --pods 5000 --namespaces 200 --policies 1000 --flows 300000
    .venv/bin/python bench/bench_flow_replay_run.py --flows 1000000 --runs 1      # 50k pods
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from itertools import chain
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.bench_flow_import import _model  # noqa: E402
from bench.bench_flows import write_files  # noqa: E402


def run_once(cluster: str, stored: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()  # settings only; no database is touched
    import orjson

    from auditor.flows import _told, bounded_replay, read_conversations
    from netpol.flows import replay_counted

    model = _model(cluster)
    out: dict = {}

    def pairs(times):
        return read_conversations(Path(stored), times)

    times: dict = {}
    t0 = time.perf_counter()
    result = replay_counted(model, pairs(times), times=times).to_dict()
    out["replay"] = time.perf_counter() - t0

    heard = []
    times = {}
    t0 = time.perf_counter()
    told = _told(pairs(times), 0, lambda done, total: heard.append(done))
    replay_counted(model, chain(told), times=times)
    out["told"] = time.perf_counter() - t0
    out["reports"] = len(heard)

    t0 = time.perf_counter()
    stored_json = orjson.dumps(bounded_replay(result))
    out["bounded"] = time.perf_counter() - t0
    out["bounded_kib"] = len(stored_json) / 1024
    out["full_mib"] = len(orjson.dumps(result)) / 2**20
    out["conversations"] = result["matched"] + result["unmatched"]
    out["peak_mb"] = harness.peak_mb()
    harness.emit(out)


def main(argv: list[str]) -> int:
    if argv[:1] == ["_run"]:
        run_once(*argv[1:3])
        return 0
    p = harness.parser(__doc__, runs=3, size_defaults=(50_000, 2_000, 10_000), profile=False)
    p.add_argument("--flows", type=int, default=1_000_000, help="lines in the Hubble file")
    args = harness.check(p, p.parse_args(argv))
    files = write_files(
        args.pods, args.namespaces, args.policies, args.seed, args.flows, ["hubble"]
    )
    print(f"machine: {harness.machine()}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from auditor.flows import count_conversations, write_conversations

    with tempfile.TemporaryDirectory() as tmp:
        stored = Path(tmp) / "stored.jsonl.gz"
        times: dict = {}
        _fmt, _counts, distinct = count_conversations(files["hubble"], "hubble", times=times)
        write_conversations(stored, distinct, times)
        print(f"cluster: {args.pods:,} pods; {len(distinct):,} conversations stored")
        del distinct, times
        results = []
        for _ in range(args.runs):
            done = subprocess.run(
                [sys.executable, __file__, "_run", str(files["cluster"]), str(stored)],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(r)
            print(
                f"  replay {r['replay']:.2f} s, with progress {r['told']:.2f} s "
                f"({r['reports']} reports), bounded {r['bounded'] * 1000:.0f} ms "
                f"{r['bounded_kib']:.0f} KiB (full {r['full_mib']:.1f} MiB), "
                f"peak {r['peak_mb']:.0f} MiB",
                flush=True,
            )
    for key, label in (("replay", "replay"), ("told", "replay with progress")):
        wall, lo, hi = harness.summary([r[key] for r in results])
        print(f"{label}: median {wall:.2f} s [{lo:.2f}-{hi:.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
