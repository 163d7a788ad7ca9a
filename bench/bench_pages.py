"""Page benchmark: server time and size of every dashboard page on a large snapshot.

Per database and size, a *load* process stores two complete, analysed snapshots of the
cluster ``bench-pages-PODS`` (``bench.common.load_snapshot``, the services' own write
path, then ``auditor.services.snapshot_analyze``):

* the previous one: the synthetic cluster less every 50th policy and every 100th pod,
* the current one: ``bench.synthetic.generate_cluster`` as generated,

so the diff and the "new findings" filter have real work. It adds 28 older complete
snapshots without objects, each with a copy of the previous analysis (report and
counts), so the overview draws a full 30-point trend and the snapshots page has history
as after a day of scheduled snapshots; then 20 waivers and a user in the ``admin`` group.
A later invocation reuses what is loaded.

Each size has its own database, holding only that cluster, so the overview (one row
per cluster) measures the same thing on every run: SQLite
``var/bench/bench-pages-SIZE.sqlite3``, PostgreSQL ``netpol_bench_pages_SIZE`` on the
server of ``--postgres-url`` (created if missing).

A *measure* process then requests every page with Django's test ``Client``, logged in as
that user (``ALLOWED_HOSTS`` gets ``testserver``). Per page:

1. *cold*: the first request, after emptying the engine-model cache
   (``storage.forget_models``) and the graph cache (``graph.forget_graphs``), as after a
   restart of the web process. The model the analysis stores is made first (not timed)
   by the code measured, so the cold request loads it; with ``--no-stored-model`` it is
   removed and the cold request builds the model from the rows;
2. one warm-up request, then ``--repeat`` timed requests (default 7): the *warm* median,
   min and max;
3. one more request, not timed, counting the SQL queries, the time spent executing them
   and (PostgreSQL only: SQLite's ``rowcount`` is -1 for SELECT) the most rows one query
   returned, which shows a page that loads an unbounded list.

Server time is the wall time of ``Client.get``/``post``: URL routing, middleware, the
view, its queries and the template, in process; no network, no browser. The pages marked
"rebuilt" empty the graph cache before every request, so they time building the graph
from the cached engine model.

    .venv/bin/python bench/bench_pages.py                            # 5k and 50k, PostgreSQL
    .venv/bin/python bench/bench_pages.py --size 5k --database both
    .venv/bin/python bench/bench_pages.py --size 5k --profile whatif-run

Targets (issue 5, docs/benchmarks.md): at 5,000 pods every page renders in at most 300 ms
server time (warm); at 50,000 pods no page loads an unbounded list (every response stays
under 1 MB). The exit status is 1 when a page misses either.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.common import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    VAR_DIR,
    bench_cluster,
    child_env,
    db_version,
    load_snapshot,
    prepare_database,
    setup_django,
)

SIZES = {"5k": (5_000, 200, 1_000), "50k": (50_000, 2_000, 10_000)}
BUDGET_MS = 300.0  # per page, warm, at 5k
SIZE_LIMIT = 1_000_000  # bytes: "bounded" at 50k
USERNAME = "bench-pages-admin"
WAIVERS = 20
HISTORY = 30  # complete snapshots in all: the overview's trend draws the last 30
DEFAULT_DENY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: bench-default-deny
  namespace: {namespace}
spec:
  podSelector: {{}}
  policyTypes: [Ingress, Egress]
"""


def _cluster_name(pods: int) -> str:
    return f"bench-pages-{pods}"


def _description(args) -> str:
    return f"bench/bench_pages.py: {args.pods}/{args.namespaces}/{args.policies} seed {args.seed}"


def _previous_objects(objects: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The cluster a while ago: every 50th policy and every 100th pod not there yet."""
    return {
        **objects,
        "NetworkPolicy": [p for i, p in enumerate(objects["NetworkPolicy"]) if i % 50 != 49],
        "Pod": [p for i, p in enumerate(objects["Pod"]) if i % 100 != 99],
    }


# --- the load process ------------------------------------------------------------------


def _loaded(args):
    """The current and previous snapshots if this size and seed are loaded, else None."""
    from auditor.models import Analysis, Cluster, Snapshot

    cluster = Cluster.objects.filter(name=_cluster_name(args.pods)).first()
    if cluster is None or cluster.description != _description(args):
        return None
    snapshots = list(
        Snapshot.objects.filter(
            cluster=cluster,
            status=Snapshot.Status.COMPLETE,
            analysis__status=Analysis.Status.COMPLETE,
        ).order_by("-finished_at")[:2]
    )
    return (cluster, *snapshots) if len(snapshots) == 2 else None


def load(args) -> None:
    """Store and analyse the two snapshots, the waivers and the user (not measured)."""
    setup_django()
    from datetime import timedelta

    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from auditor import services
    from auditor.models import Finding, Snapshot, Waiver
    from auditor.services import snapshot_analyze
    from bench.synthetic import generate_cluster

    user, _ = User.objects.get_or_create(username=USERNAME)
    user.groups.add(Group.objects.get_or_create(name="admin")[0])
    if _loaded(args) is not None and not args.reload:
        harness.emit({"loaded": False})
        return
    started = time.perf_counter()
    cluster = bench_cluster(_cluster_name(args.pods), _description(args))
    Snapshot.objects.filter(cluster=cluster).delete()
    Waiver.objects.filter(cluster=cluster).delete()
    objects = generate_cluster(
        pods=args.pods, namespaces=args.namespaces, policies=args.policies, seed=args.seed
    )
    previous = load_snapshot(cluster, _previous_objects(objects))
    snapshot_analyze(snapshot=previous)
    current = load_snapshot(cluster, objects)
    snapshot_analyze(snapshot=current)
    _add_history(cluster, previous, HISTORY - 2)
    expires = timezone.now() + timedelta(days=90)
    for finding in Finding.objects.filter(snapshot=current).order_by("id")[: WAIVERS * 50 : 50]:
        services.waiver_create(
            finding=finding,
            author=user,
            reason="Accepted for the page benchmark.",
            expires_at=expires,
        )
    harness.emit({"loaded": True, "seconds": time.perf_counter() - started})


def _add_history(cluster, previous, count: int) -> None:
    """``count`` older complete snapshots, 15 minutes apart, analysed like ``previous``.

    They hold no objects: only the overview's trend and the snapshots page read them."""
    from datetime import timedelta

    from auditor.models import Analysis, Snapshot

    analysis = previous.analysis
    for n in range(1, count + 1):
        at = previous.finished_at - timedelta(minutes=15 * n)
        snapshot = Snapshot.objects.create(
            cluster=cluster,
            status=Snapshot.Status.COMPLETE,
            trigger=Snapshot.Trigger.SCHEDULE,
            started_at=at - timedelta(seconds=10),
            finished_at=at,
            server_version="synthetic",
            namespace_count=previous.namespace_count,
            pod_count=previous.pod_count,
            policy_count=previous.policy_count,
            node_count=previous.node_count,
            service_count=previous.service_count,
        )
        Snapshot.objects.filter(pk=snapshot.pk).update(created_at=at - timedelta(seconds=10))
        Analysis.objects.create(
            snapshot=snapshot,
            status=Analysis.Status.COMPLETE,
            finished_at=at,
            score=analysis.score,
            report=analysis.report,
            finding_counts=analysis.finding_counts,
        )


# --- the measure process ---------------------------------------------------------------


def _targets(cluster, current, previous) -> dict:
    """The objects the pages are asked about, chosen from the stored snapshot (not timed)."""
    from django.db.models import Count

    from auditor.models import Finding, NetworkPolicy, Pod

    pods = Pod.objects.filter(snapshot=current, phase="Running", host_network=False)
    namespace = "app-0005"
    frontend = (
        pods.filter(namespace=namespace, name__startswith="frontend").order_by("name").first()
    )
    backend = pods.filter(namespace=namespace, name__startswith="backend").order_by("name").first()
    policy = (
        NetworkPolicy.objects.filter(snapshot=current, namespace=namespace).order_by("name").first()
    )
    # The finding naming the most objects: its page lists the most references.
    widest = max(
        Finding.objects.filter(snapshot=current).values_list("pk", "object_refs").iterator(),
        key=lambda row: len(row[1]),
    )
    return {
        "namespace": namespace,
        "pod": frontend,
        "backend": backend,
        "policy": policy,
        "finding": widest[0],
        "fingerprint": Finding.objects.get(pk=widest[0]).fingerprint,
        "finding_refs": len(widest[1]),
        # The rule with the most findings: the largest group to waive at once.
        "finding_rule": Finding.objects.filter(snapshot=current)
        .values("rule")
        .annotate(n=Count("pk"))
        .order_by("-n", "rule")[0]["rule"],
    }


def _pages(cluster, current, previous, t: dict) -> list[dict]:
    """Every page, as (key, label, method, path, query or form, options)."""
    from django.urls import reverse

    c = cluster.name
    pod = t["pod"]

    def url(name, *args):
        return reverse(f"webui:{name}", args=[c, *args])

    reach = {
        "from": f"{pod.namespace}/{pod.name}",
        "to": f"{t['backend'].namespace}/{t['backend'].name}",
        "port": "9090",
        "protocol": "TCP",
    }
    return [
        {"key": "overview", "path": reverse("webui:home")},
        {"key": "cluster", "path": url("cluster")},
        {"key": "cluster-search", "path": url("cluster"), "data": {"q": "frontend"}},
        {"key": "snapshots", "path": url("cluster_snapshots")},
        {"key": "findings", "path": url("findings")},
        {"key": "findings-high", "path": url("findings"), "data": {"severity": "high"}},
        {"key": "findings-new", "path": url("findings"), "data": {"new": "1"}},
        {"key": "findings-by-rule", "path": url("findings"), "data": {"group": "rule"}},
        {"key": "findings-by-namespace", "path": url("findings"), "data": {"group": "namespace"}},
        {
            "key": "findings-waive-group",
            "path": url("findings_waive"),
            "data": {"rule": t["finding_rule"]},
            "note": "confirmation",
        },
        {
            "key": "findings-csv",
            "path": url("findings"),
            "data": {"format": "csv", "waived": "show"},
            "note": "every finding, streamed",
            "whole": True,
        },
        {
            "key": "finding",
            "path": url("finding", t["finding"]),
            "note": f"{t['finding_refs']} objects",
        },
        {"key": "waivers", "path": url("waivers")},
        {
            "key": "diff",
            "path": url("diff"),
            "data": {"old": str(previous.pk), "new": str(current.pk)},
        },
        {"key": "pod", "path": url("pod", pod.namespace, pod.name)},
        {
            "key": "workload",
            "path": url("workload", pod.namespace, pod.workload_kind, pod.workload_name),
        },
        {"key": "policy", "path": url("policy", t["policy"].namespace, t["policy"].name)},
        {"key": "reach-form", "path": url("reach")},
        {"key": "reach", "path": url("reach"), "data": reach},
        {"key": "graph", "path": url("graph")},
        {"key": "graph-ns", "path": url("graph_elements")},
        {"key": "graph-ns-rebuilt", "path": url("graph_elements"), "rebuild": True},
        {
            "key": "graph-workloads",
            "path": url("graph_elements"),
            "data": {"namespace": t["namespace"]},
        },
        {
            "key": "graph-workloads-rebuilt",
            "path": url("graph_elements"),
            "data": {"namespace": t["namespace"]},
            "rebuild": True,
        },
        {"key": "namespace", "path": url("namespace", t["namespace"])},
        {"key": "graph-matrix", "path": url("graph"), "data": {"view": "matrix"}},
        {"key": "graph-all", "path": url("graph"), "data": {"view": "all"}},
        {"key": "graph-all-elements", "path": url("graph_elements"), "data": {"view": "all"}},
        {"key": "finding-fp", "path": url("finding_fp", t["fingerprint"])},
        {"key": "reports", "path": url("reports")},
        *(
            {
                "key": f"report-{fmt}",
                "path": url("snapshot_report", current.pk, fmt),
                "note": "built once, then cached",
                "whole": True,
            }
            for fmt in ("html", "pdf", "csv", "json", "sarif")
        ),
        {"key": "whatif", "path": url("whatif")},
        {
            "key": "whatif-run",
            "path": url("whatif"),
            "method": "post",
            "data": {"yaml": DEFAULT_DENY.format(namespace=t["namespace"])},
        },
    ]


def _store_model(snapshot, *, stored: bool) -> None:
    """The snapshot's stored model as the analysis stores it, made by the code measured
    (another engine's file is not loaded), or none at all (not timed)."""
    from auditor import storage
    from netpol.findings import audit

    if not stored:
        storage._model_path(snapshot).unlink(missing_ok=True)
    elif storage.load_model(snapshot) is None:
        model = storage.build_model(snapshot)
        audit(model)  # what the analysis computes before storing it
        storage.save_model(snapshot, model)


def _empty_caches(graph_only: bool = False) -> None:
    from auditor import selectors, storage
    from netpol import graph

    graph.forget_graphs()
    if not graph_only:
        storage.forget_models()
        selectors.forget_reports()


class _QueryMeter:
    """Counts queries, their execute time and (PostgreSQL) the most rows one returned."""

    def __init__(self):
        self.queries = 0
        self.seconds = 0.0
        self.max_rows = 0
        self.max_rows_sql = ""

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.queries += 1
            rowcount = getattr(context["cursor"], "rowcount", -1)
            if not many and rowcount and rowcount > self.max_rows:
                self.max_rows = rowcount
                self.max_rows_sql = sql[:300]


def measure(args) -> None:
    """Every page: cold, warm-up, ``--repeat`` timed, one metered; prints one JSON line."""
    setup_django()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    version = db_version()
    loaded = _loaded(args)
    if loaded is None:
        raise SystemExit("nothing loaded: run the benchmark, not this step")
    cluster, current, previous = loaded
    client = Client()
    client.force_login(User.objects.get(username=USERNAME))
    pages = _pages(cluster, current, previous, _targets(cluster, current, previous))
    for snapshot in (previous, current):
        _store_model(snapshot, stored=not args.no_stored_model)
    if args.only:
        pages = [p for p in pages if p["key"] in args.only.split(",")]

    def request(page):
        send = client.post if page.get("method") == "post" else client.get
        if page.get("rebuild"):
            _empty_caches(graph_only=True)
        start = time.perf_counter()
        response = send(page["path"], page.get("data") or {})
        # A streamed response is read to its end inside the timing.
        size = (
            sum(map(len, response.streaming_content))
            if response.streaming
            else len(response.content)
        )
        seconds = time.perf_counter() - start
        if response.status_code != 200:
            raise SystemExit(f"{page['key']}: HTTP {response.status_code} for {page['path']}")
        return seconds, size

    results = []
    for page in pages:
        _empty_caches()
        cold, size = request(page)
        request(page)  # the warm-up
        warm = [request(page)[0] for _ in range(args.repeat)]
        meter = _QueryMeter()
        with connection.execute_wrapper(meter):
            request(page)
        results.append(
            {
                "key": page["key"],
                "method": page.get("method", "get").upper(),
                "url": page["path"]
                + (
                    "?" + "&".join(f"{k}={v}" for k, v in page["data"].items())
                    if page.get("data") and page.get("method") != "post"
                    else ""
                ),
                "note": page.get("note", ""),
                "whole": page.get("whole", False),
                "cold_ms": cold * 1000,
                "warm_ms": statistics.median(warm) * 1000,
                "warm_min_ms": min(warm) * 1000,
                "warm_max_ms": max(warm) * 1000,
                "bytes": size,
                "queries": meter.queries,
                "db_ms": meter.seconds * 1000,
                "max_rows": meter.max_rows if connection.vendor == "postgresql" else None,
                "max_rows_sql": meter.max_rows_sql if connection.vendor == "postgresql" else "",
            }
        )
    profile = {}
    if args.profile:
        page = next(p for p in pages if p["key"] == args.profile)
        request(page)
        stem = VAR_DIR / f"profile-page-{page['key']}-{connection.vendor}-{args.pods}"
        with harness.profiled(stem, interval=0.0005) as profile:
            for _ in range(args.repeat):
                request(page)
    harness.emit(
        {
            "db_version": version,
            "pages": results,
            "peak_rss_mb": harness.peak_mb(),
            "snapshots": [previous.pk, current.pk],
            "profile": profile.get("profile"),
        }
    )


# --- the orchestrating process -----------------------------------------------------------


def _run_child(step: str, env: dict[str, str], args, *extra: str) -> dict:
    return harness.run_step(__file__, step, [*harness.size_args(args, "repeat"), *extra], env)


def _database_url(url: str, name: str) -> str:
    """``url`` with its database name replaced by ``name``."""
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


def _table(size: str, result: dict) -> tuple[list[str], bool]:
    lines = [
        f"{'page':<24} {'cold ms':>8} {'warm ms (min-max)':>22} {'KiB':>8} {'queries':>7} "
        f"{'db ms':>7} {'max rows':>8}"
    ]
    missed = False
    for p in result["pages"]:
        flags = []
        if size == "5k" and p["warm_ms"] > BUDGET_MS:
            flags.append(f"OVER {BUDGET_MS:.0f} ms")
        if p["bytes"] > SIZE_LIMIT and not p.get("whole"):  # an export is the whole list by design
            flags.append("OVER 1 MB")
        missed |= bool(flags)
        rows = "" if p["max_rows"] is None else f"{p['max_rows']:,}"
        lines.append(
            f"{p['key']:<24} {p['cold_ms']:8.0f} "
            f"{p['warm_ms']:8.1f} ({p['warm_min_ms']:.1f}-{p['warm_max_ms']:.1f})".ljust(58)
            + f" {p['bytes'] / 1024:8.1f} {p['queries']:7d} {p['db_ms']:7.1f} {rows:>8}"
            + (f"  {p['note']}" if p["note"] else "")
            + ("  <-- " + ", ".join(flags) if flags else "")
        )
    big = [p for p in result["pages"] if (p["max_rows"] or 0) > 1000]
    if big:
        lines.append("queries returning over 1,000 rows (the metered request):")
        lines += [f"  {p['key']}: {p['max_rows']:,} rows: {p['max_rows_sql'][:160]}" for p in big]
    return lines, missed


def orchestrate(args) -> int:
    databases = ["postgres", "sqlite"] if args.database == "both" else [args.database]
    custom = harness.custom_size(args)
    if custom:
        SIZES[f"{custom[0]:,}"] = custom
    sizes = [f"{custom[0]:,}"] if custom else list(SIZES) if args.size == "both" else [args.size]
    print(f"page benchmark: {', '.join(sizes)}; warm = median of {args.repeat} after one warm-up")
    print(harness.machine())
    missed = False
    everything = []
    for database in databases:
        for size in sizes:
            postgres_url = _database_url(args.postgres_url, f"netpol_bench_pages_{size}")
            env = child_env(
                database,
                sqlite_path=VAR_DIR / f"bench-pages-{size}.sqlite3",
                postgres_url=postgres_url,
            )
            env["ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1"
            env.pop("DEBUG", None)
            prepare_database(database, env, postgres_url)
            args.pods, args.namespaces, args.policies = SIZES[size]
            loaded = _run_child("_load", env, args, *(["--reload"] if args.reload else []))
            if loaded.get("loaded"):
                print(
                    f"  {database} {size}: loaded and analysed two snapshots in {loaded['seconds']:.1f} s"
                )
            extra = [f"--only={args.only}"] if args.only else []
            if args.no_stored_model:
                extra.append("--no-stored-model")
            if args.profile:
                extra.append(f"--profile={args.profile}")
            result = _run_child("_measure", env, args, *extra)
            lines, size_missed = _table(size, result)
            missed |= size_missed
            print()
            print(
                f"{size} on {result['db_version']} (snapshots #{result['snapshots'][0]} -> "
                f"#{result['snapshots'][1]}); measuring process peak RSS {result['peak_rss_mb']:.0f} MiB"
            )
            print("\n".join(lines), flush=True)
            if result["profile"]:
                print(f"profile of {args.profile}: {result['profile']}")
            everything.append({"size": size, "database": database, **result})
    print()
    print(
        f"targets: warm <= {BUDGET_MS:.0f} ms per page at 5k, every response <= 1 MB: "
        + ("missed" if missed else "met")
    )
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=2))
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    internal = harness.step_parser("repeat")
    internal.add_argument("--reload", action="store_true")
    internal.add_argument("--only")
    internal.add_argument("--no-stored-model", action="store_true")
    if harness.dispatch(argv, {"_load": load, "_measure": measure}, internal):
        return 0
    parser = harness.parser(__doc__, runs=0, profile=False)
    parser.add_argument("--size", choices=[*SIZES, "both"], default="both")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="postgres")
    parser.add_argument(
        "--repeat", type=int, default=7, help="timed warm requests per page (default 7)"
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--reload", action="store_true", help="load the snapshots afresh")
    parser.add_argument("--only", metavar="KEYS", help="only these pages (comma-separated keys)")
    parser.add_argument(
        "--no-stored-model",
        action="store_true",
        help="cold pages build the model from the rows (the stored model is removed)",
    )
    parser.add_argument(
        "--profile", metavar="KEY", help="then profile --repeat warm requests of this page"
    )
    args = harness.check(parser, parser.parse_args(argv))
    if args.repeat < 5:
        parser.error("--repeat must be at least 5")
    os.chdir(harness.ROOT)
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
