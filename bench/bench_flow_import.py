"""Flow import and the Flows page's replay (issue 14), on bench_flows.py's files.

Three steps, each in a fresh process, on the cluster and Hubble file ``bench_flows.py``
writes into ``var/bench/flows/`` (written first if missing, not timed):

* ``file``: what a page would do without an import, ``netpol.flows.replay`` on the file
  (the "before");
* ``import``: ``auditor.flows.count_conversations`` and ``write_conversations``, what
  ``flows_import`` does besides its row: stream the file into its distinct conversations
  and store them (wall, peak RSS, stored size);
* ``stored``: ``netpol.flows.replay_counted`` on the stored conversations, what the Flows
  page does (the "after").

The model is built before the clock starts in ``file`` and ``stored``.

    .venv/bin/python bench/bench_flow_import.py --pods 5000 --namespaces 200 --policies 1000 --flows 300000
    .venv/bin/python bench/bench_flow_import.py --flows 1000000 --runs 1      # 50k pods
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.bench_flows import write_files  # noqa: E402


def _model(cluster: str):
    from netpol.engine import ClusterModel

    objects = json.loads(Path(cluster).read_text())
    model = ClusterModel.from_objects(
        objects["Namespace"],
        objects["Pod"],
        objects["Node"],
        objects["NetworkPolicy"],
        objects["Service"],
    )
    model.evaluation  # noqa: B018 (built here, not in the timed part)
    return model


def run_once(step: str, cluster: str, flows: str, stored: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()  # settings only; no database is touched
    from auditor.flows import count_conversations, read_conversations, write_conversations
    from netpol.flows import replay, replay_counted

    out: dict = {}
    if step == "import":
        t0 = time.perf_counter()
        _fmt, _counts, distinct = count_conversations(Path(flows), Path(flows).name)
        write_conversations(Path(stored), distinct)
        out = {
            "wall": time.perf_counter() - t0,
            "flows": sum(distinct.values()),
            "conversations": len(distinct),
            "stored_mb": Path(stored).stat().st_size / 2**20,
        }
    else:
        model = _model(cluster)
        out["rss_model_mb"] = harness.rss_mb()
        t0 = time.perf_counter()
        if step == "file":
            result = replay(model, [flows])
        else:
            result = replay_counted(model, read_conversations(Path(stored)))
        out["wall"] = time.perf_counter() - t0
        out["matched"], out["unmatched"] = result.matched, result.unmatched
        out["denied"] = len(result.denied)
    out["peak_mb"] = harness.peak_mb()
    harness.emit(out)


def main(argv: list[str]) -> int:
    if argv[:1] == ["_run"]:
        run_once(*argv[1:5])
        return 0
    p = harness.parser(__doc__, runs=3, size_defaults=(50_000, 2_000, 10_000), profile=False)
    p.add_argument("--flows", type=int, default=1_000_000, help="lines in the Hubble file")
    args = harness.check(p, p.parse_args(argv))
    files = write_files(
        args.pods, args.namespaces, args.policies, args.seed, args.flows, ["hubble"]
    )
    print(f"machine: {harness.machine()}")
    size = files["hubble"].stat().st_size / 2**20
    print(f"cluster: {args.pods:,} pods; Hubble file {size:,.0f} MiB, {args.flows:,} lines")
    with tempfile.TemporaryDirectory() as tmp:
        stored = str(Path(tmp) / "stored.jsonl.gz")
        results: dict[str, list[dict]] = {}
        # Interleaved, so that load from others falls on every step alike.
        for _ in range(args.runs):
            for step in ("import", "file", "stored"):
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "_run",
                        step,
                        str(files["cluster"]),
                        str(files["hubble"]),
                        stored,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                r = json.loads(done.stdout.strip().splitlines()[-1])
                results.setdefault(step, []).append(r)
                print(f"  {step}: {r['wall']:.2f} s, peak {r['peak_mb']:.0f} MiB", flush=True)
    first = results["import"][0]
    print(
        f"import: {first['flows']:,} flows -> {first['conversations']:,} conversations, "
        f"stored {first['stored_mb']:.1f} MiB"
    )
    for step, label in (
        ("import", "import (read + store)"),
        ("file", "replay from the file (before)"),
        ("stored", "replay from the import (after)"),
    ):
        wall, lo, hi = harness.summary([r["wall"] for r in results[step]])
        peak = max(r["peak_mb"] for r in results[step])
        print(f"{label}: median {wall:.2f} s [{lo:.2f}-{hi:.2f}], peak RSS {peak:.0f} MiB")
    before = harness.summary([r["wall"] for r in results["file"]])[0]
    after = harness.summary([r["wall"] for r in results["stored"]])[0]
    print(f"page replay: {before / after:.1f}x faster from the import")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
