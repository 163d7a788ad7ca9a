"""Graph and namespace page benchmark: server time and time until the graph is drawn, in
Debian's headless Chromium, on the synthetic cluster at 5,000 and 50,000 pods.

Per size, a *load* process stores one complete, analysed snapshot of
``bench.synthetic.generate_cluster`` (5k: 5,000 pods, 200 namespaces, 1,000 policies;
50k: 50,000 / 2,000 / 10,000) in its own SQLite database under
``var/bench/graph-SIZE/`` (reused by later runs). Each *run* then starts
``manage.py runserver --noreload`` on that database (from ``--code``: another checkout,
for "before" figures), logs in with Playwright and opens, in this order:

1. the namespace graph, first load: the engine model and the graph are built;
2. the namespace graph again, ``--repeat`` times (default 3): warm (graph cached);
3. the workload graph of kube-system (everyone's DNS), first load then warm;
4. the namespace page of kube-system and the matrix (when the code has them).

Per page: *server* is the page's time to first byte (requestStart to responseStart in the
browser's navigation timing), *elements* the same for the ``elements.json`` request, and
*drawn* the time from navigation start until ``#graph[data-state=ready]`` (Cytoscape has
laid out and drawn the graph). Timings are the median of ``--runs`` runs (a fresh server
each), with min and max.

    .venv/bin/python bench/bench_graph.py                     # 5k and 50k, 3 runs
    .venv/bin/python bench/bench_graph.py --size 5k --code /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

SIZES = {"5k": (5_000, 200, 1_000), "50k": (50_000, 2_000, 10_000)}
USERNAME, PASSWORD = "bench-graph-admin", "bench-graph-password-1"
CLUSTER = "bench-graph"
READY = "#graph[data-state=ready]"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu"]


def var_dir(size: str) -> Path:
    return harness.ROOT / "var" / "bench" / f"graph-{size}"


def _load(size: str) -> None:
    """In a child process with NETPOL_VAR_DIR set: migrate, user, snapshot, analysis."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from auditor import services
    from bench.common import bench_cluster, load_snapshot
    from bench.synthetic import generate_cluster

    call_command("migrate", verbosity=0)
    if not User.objects.filter(username=USERNAME).exists():
        user = User.objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get_or_create(name="admin")[0])
    cluster = bench_cluster(CLUSTER, f"graph benchmark, {size}")
    if cluster.snapshots.filter(status="complete").exists():
        return
    pods, namespaces, policies = SIZES[size]
    snapshot = load_snapshot(cluster, generate_cluster(pods, namespaces, policies, 0))
    services.snapshot_analyze(snapshot=snapshot)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(code: Path, env: dict, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("runserver did not start within 60 s")


TIMINGS = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const el = performance.getEntriesByType("resource").find((r) => r.name.includes("elements.json"));
    return {server: nav.responseStart - nav.requestStart,
            elements: el ? el.responseStart - el.requestStart : null,
            bytes: el ? el.transferSize : null};
}"""


def visit(page, url: str, graph: bool) -> dict:
    page.goto(url, wait_until="load", timeout=600_000)
    if graph:
        page.wait_for_selector(READY, timeout=600_000)
    drawn = page.evaluate("() => performance.now()")
    timings = page.evaluate(TIMINGS)
    return {**timings, "drawn": drawn if graph else None}


def one_run(code: Path, size: str, repeat: int) -> dict:
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "NETPOL_VAR_DIR": str(var_dir(size))}
    env.pop("DATABASE_URL", None)
    port = free_port()
    server = start_server(code, env, port)
    base = f"http://127.0.0.1:{port}"
    graph_url = f"{base}/clusters/{CLUSTER}/graph/"
    out: dict[str, dict] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=username]", USERNAME)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            out["graph first"] = visit(page, graph_url, True)
            warm = [visit(page, graph_url, True) for _ in range(repeat)]
            out["graph warm"] = {k: harness.summary([w[k] for w in warm])[0] for k in warm[0] if warm[0][k] is not None}
            workload = graph_url + "?namespace=kube-system"
            out["workload graph first"] = visit(page, workload, True)
            out["workload graph warm"] = visit(page, workload, True)
            has_new = page.request.get(f"{base}/clusters/{CLUSTER}/namespaces/kube-system/").ok
            if has_new:
                ns_url = f"{base}/clusters/{CLUSTER}/namespaces/kube-system/"
                out["namespace page first"] = visit(page, ns_url, True)
                out["namespace page warm"] = visit(page, ns_url, True)
                out["matrix"] = visit(page, graph_url + "?view=matrix", False)
                out["every namespace (view=all) first"] = visit(page, graph_url + "?view=all", True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=[*SIZES, "both"], default="both")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--code", type=Path, default=harness.ROOT, help="the checkout to serve (default: this one)")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()
    print(harness.machine())
    results = {}
    for size in SIZES if args.size == "both" else [args.size]:
        var_dir(size).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "NETPOL_VAR_DIR": str(var_dir(size))}
        env.pop("DATABASE_URL", None)
        subprocess.run([sys.executable, __file__, "_load", size], check=True, env=env, cwd=harness.ROOT)
        runs = [one_run(args.code.resolve(), size, args.repeat) for _ in range(args.runs)]
        pods, namespaces, policies = SIZES[size]
        print(f"\n{size}: {pods:,} pods, {namespaces:,} namespaces, {policies:,} policies; code {args.code}; "
              f"median of {args.runs} runs (min-max), ms")
        for key in runs[0]:
            cells = []
            for field in ("server", "elements", "drawn"):
                values = [r[key].get(field) for r in runs if r[key].get(field) is not None]
                if values:
                    median, low, high = harness.summary(values)
                    cells.append(f"{field} {median:,.0f} ({low:,.0f}-{high:,.0f})")
            size_kb = runs[0][key].get("bytes")
            extra = f", elements {size_kb / 1000:,.0f} kB" if size_kb else ""
            print(f"  {key:34} " + "; ".join(cells) + extra)
        results[size] = runs
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_load":
        _load(sys.argv[2])
    else:
        main()
