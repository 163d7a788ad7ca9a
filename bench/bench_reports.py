"""Report benchmark: a snapshot's report on demand, built (cache miss) and served again (hit).

Reads the current analysed snapshot of ``bench-pages-PODS`` from a private copy of the
page benchmark's SQLite database (``var/bench/bench-pages-SIZE.sqlite3``, made by
``bench/bench_pages.py --database sqlite``; copied to ``bench-reports-SIZE.sqlite3`` and
migrated, so that benchmark's file is never written). Each run is a fresh process with
an empty cache directory of its own, and measures:

* *content*: ``ondemand.content_of`` (the report's JSON from the snapshot's findings);
* *PDF before*: the PDF renderer as it was before reports on demand (``git show
  REV:auditor/reports/pdf.py``, default the parent of the commit that added this file's
  subject), on the same content: what every PDF download cost, rebuilt each time;
* *PDF after*: today's renderer on the same content (it adds the failing checks and the
  namespaces table);
* per format, ``ondemand.snapshot_report`` twice: the first builds (content, render,
  write the file), the second reads the cached file.

    .venv/bin/python bench/bench_reports.py                  # 5k (3 runs) and 50k (2 runs)
    .venv/bin/python bench/bench_reports.py --size 5k --runs 5
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.common import VAR_DIR, child_env, prepare_database, setup_django  # noqa: E402

SIZES = {"5k": 5_000, "50k": 50_000}
BEFORE_REV = "a2e17bb^"  # the commit before reports on demand
FORMATS = ("html", "pdf", "csv", "json", "sarif")


def _old_renderer(rev: str):
    source = subprocess.run(
        ["git", "show", f"{rev}:auditor/reports/pdf.py"],
        cwd=harness.ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="bench-reports-")) / "pdf_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("pdf_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render_pdf


def _timed(fn, *args, **kwargs):
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - started


def measure(args) -> None:
    setup_django()
    from django.conf import settings

    from auditor.models import Cluster
    from auditor.reports import ondemand, selectors
    from auditor.reports.pdf import render_pdf

    settings.VAR_DIR = Path(tempfile.mkdtemp(prefix="bench-reports-cache-"))
    cluster = Cluster.objects.get(name=f"bench-pages-{args.pods}")
    snapshot = selectors.latest_analysed_snapshot(cluster)
    old_render = _old_renderer(args.before)
    content, content_s = _timed(ondemand.content_of, snapshot)
    old_pdf, before_s = _timed(old_render, content, link=content["link"])
    new_pdf, after_s = _timed(render_pdf, content, link=content["link"])
    formats = {}
    for fmt in FORMATS:
        miss = ondemand.snapshot_report(snapshot, fmt)
        hit = ondemand.snapshot_report(snapshot, fmt)
        assert not miss.cached and hit.cached and hit.body == miss.body, fmt
        formats[fmt] = {"miss_s": miss.seconds, "hit_s": hit.seconds, "bytes": len(miss.body)}
    shutil.rmtree(settings.VAR_DIR, ignore_errors=True)
    harness.emit(
        {
            "snapshot": snapshot.pk,
            "findings": len(content["findings"]),
            "namespaces": len(content["namespaces"]),
            "content_s": content_s,
            "pdf_before_s": before_s,
            "pdf_before_bytes": len(old_pdf),
            "pdf_after_s": after_s,
            "pdf_after_bytes": len(new_pdf),
            "formats": formats,
            "peak_rss_mb": harness.peak_mb(),
        }
    )


def orchestrate(args) -> int:
    print(harness.machine())
    everything = []
    for size in [args.size] if args.size != "both" else list(SIZES):
        source = VAR_DIR / f"bench-pages-{size}.sqlite3"
        copy = VAR_DIR / f"bench-reports-{size}.sqlite3"
        if not copy.exists():
            if not source.exists():
                raise SystemExit(
                    f"{source} is missing: run bench/bench_pages.py --database sqlite --size {size} first"
                )
            shutil.copyfile(source, copy)
        env = child_env("sqlite", sqlite_path=copy, postgres_url="")
        prepare_database("sqlite", env, "")
        runs = args.runs or (3 if size == "5k" else 2)
        step = ["--pods", str(SIZES[size]), "--before", args.before]
        results = [harness.run_step(__file__, "_measure", step, env) for _ in range(runs)]
        first = results[0]
        print(
            f"\n{size}: snapshot #{first['snapshot']}, {first['findings']:,} findings, "
            f"{first['namespaces']:,} namespaces; median (min-max) of {runs} fresh processes"
        )

        def line(label, values, unit="s"):
            med, lo, hi = harness.summary(values)
            print(f"  {label:<34} {med:8.3f} {unit} ({lo:.3f}-{hi:.3f})")

        line("content (report JSON)", [r["content_s"] for r in results])
        line("PDF before, every download", [r["pdf_before_s"] for r in results])
        line("PDF after, render", [r["pdf_after_s"] for r in results])
        for fmt in FORMATS:
            line(f"{fmt} first download (build)", [r["formats"][fmt]["miss_s"] for r in results])
            line(f"{fmt} next download (cache)", [r["formats"][fmt]["hit_s"] for r in results])
        print(
            f"  PDF {first['pdf_before_bytes']:,} -> {first['pdf_after_bytes']:,} bytes; "
            f"peak RSS {max(r['peak_rss_mb'] for r in results):.0f} MiB"
        )
        everything.append({"size": size, "runs": results})
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    internal = harness.step_parser()
    internal.add_argument("--before", default=BEFORE_REV)
    if harness.dispatch(argv, {"_measure": measure}, internal):
        return 0
    parser = harness.parser(__doc__, runs=0, profile=False)
    parser.add_argument("--size", choices=[*SIZES, "both"], default="both")
    parser.add_argument(
        "--runs", type=int, default=0, help="fresh processes per size (default 3 at 5k, 2 at 50k)"
    )
    parser.add_argument(
        "--before", default=BEFORE_REV, help="the git revision of the PDF renderer before"
    )
    args = parser.parse_args(argv)
    os.chdir(harness.ROOT)
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
