"""The import's counting before and after ``auditor.flows`` used ``count_flows`` (issue 14).

*before*: ``netpol.flows.read_flows`` one record at a time into a ``Counter`` in chunks
(the import's former loop, kept here); *after*: ``auditor.flows.count_conversations``
(``netpol.flows.count_flows``). Both on the same ``bench_flows.py`` files (Hubble and CSV,
written first if missing, not timed), interleaved in one process, the median of
``--runs``; each run checks both give the same flows, conversations and times.

    .venv/bin/python bench/bench_flow_import_counting.py --flows 300000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_flows import write_files  # noqa: E402


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flows", type=int, default=300_000, help="lines in each file")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()  # settings only
    from auditor.flows import count_conversations
    from netpol.flows import Counts, detect, read_flows

    def before(path: Path):
        counts, distinct, times = Counts(), Counter(), {}
        flows = read_flows(path, counts, detect(path), None, times=times)
        while chunk := list(islice(flows, 10_000)):
            distinct.update(chunk)
        return distinct, times

    def after(path: Path):
        times: dict = {}
        _fmt, _counts, distinct = count_conversations(path, path.name, times=times)
        return distinct, times

    files = write_files(5000, 200, 1000, 1, args.flows, ["hubble", "csv"])
    for fmt in ("hubble", "csv"):
        path = files[fmt]
        walls: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(args.runs):
            seen = []
            for name, count in (("before", before), ("after", after)):
                t0 = time.perf_counter()
                distinct, times = count(path)
                walls[name].append(time.perf_counter() - t0)
                seen.append((distinct, times))
            assert seen[0] == seen[1], f"{fmt}: the two countings differ"
        size = path.stat().st_size / 2**20
        print(
            f"{fmt} ({size:,.0f} MiB, {len(seen[1][0]):,} conversations): "
            f"before {statistics.median(walls['before']):.2f} s, "
            f"after {statistics.median(walls['after']):.2f} s (median of {args.runs})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
