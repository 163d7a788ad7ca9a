"""Teams benchmark: what a ``?team=`` costs on the pages it filters, at 5,000 pods.

One process on PostgreSQL (database ``netpol_bench_teams``, created if missing): the
synthetic cluster (``bench.synthetic.generate_cluster``: 200 namespaces, 50 teams of 4 by
their ``team`` label) is stored as a complete, analysed snapshot once; a later run reuses
it. Then, logged in as an admin with Django's test ``Client``, each page is requested
for the whole cluster ("before": what the page costs without a team) and for one team
("after"), in alternation, ``--repeat`` times after one warm-up each: the median, min and
max server time of each, and their ratio within the same run. Also timed: resolving the
snapshot's teams (``selectors.namespace_teams``, the three queries a first ``?team=``
request pays before its result is kept per process) with the cache emptied each time.

    .venv/bin/python bench/bench_teams.py
    .venv/bin/python bench/bench_teams.py --pods 50000 --namespaces 2000 --policies 10000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    VAR_DIR,
    bench_cluster,
    create_postgres_database,
    db_version,
    load_snapshot,
    setup_django,
)
from bench.harness import ROOT, machine  # noqa: E402

TEAM = "team-07"
PAGES = [
    ("namespaces", "/clusters/{c}/"),
    ("findings", "/clusters/{c}/findings/"),
    ("findings CSV", "/clusters/{c}/findings/?format=csv"),
    ("findings by namespace", "/clusters/{c}/findings/?group=namespace"),
    ("waivers", "/clusters/{c}/waivers/"),
    ("graph elements (rebuilt)", "/clusters/{c}/graph/elements.json"),
    ("matrix", "/clusters/{c}/graph/?view=matrix"),
    ("teams", "/clusters/{c}/teams/"),
    ("API findings", "/api/v1/clusters/{c}/findings?page_size=200"),
]


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--pods", type=int, default=5_000)
    p.add_argument("--namespaces", type=int, default=200)
    p.add_argument("--policies", type=int, default=1_000)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument(
        "--postgres-url", default=DEFAULT_POSTGRES_URL.replace("netpol_bench", "netpol_bench_teams")
    )
    args = p.parse_args()

    os.environ.update(
        NETPOL_VAR_DIR=str(VAR_DIR), DATABASE_URL=args.postgres_url, LOG_LEVEL="ERROR"
    )
    for key in ("CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(key, None)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    create_postgres_database(args.postgres_url)
    os.chdir(ROOT)
    setup_django()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    from django.contrib.auth.models import Group, User
    from django.test import Client

    from auditor import selectors, services
    from auditor.api.tokens import api_token_create
    from auditor.models import Snapshot
    from bench.synthetic import generate_cluster
    from netpol import graph

    name = f"bench-teams-{args.pods}"
    cluster = bench_cluster(name, "teams benchmark")
    snapshot = selectors.latest_snapshot(cluster)
    if snapshot is None:
        print(f"loading {name} …", file=sys.stderr)
        objects = generate_cluster(
            pods=args.pods, namespaces=args.namespaces, policies=args.policies, seed=0
        )
        snapshot = load_snapshot(cluster, objects)
        services.snapshot_analyze(snapshot=Snapshot.objects.get(pk=snapshot.pk))
    user, _ = User.objects.get_or_create(username="bench-teams", defaults={"is_staff": True})
    user.groups.add(Group.objects.get_or_create(name="admin")[0])
    client = Client()
    client.force_login(user)
    _, token = api_token_create(user=user, name="bench")

    def get(url: str) -> float:
        headers = {"Authorization": f"Bearer {token}"} if url.startswith("/api/") else {}
        if "(rebuilt)" in label:
            graph.forget_graphs()
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        if response.streaming:
            b"".join(response.streaming_content)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (url, response.status_code)
        return elapsed

    rule = cluster.team_rule()
    resolve = []
    for _ in range(args.repeat):
        selectors.forget_reports()
        started = time.perf_counter()
        assigned = selectors.namespace_teams(snapshot, rule)
        resolve.append(time.perf_counter() - started)
    members = sum(1 for t in assigned.values() if t == TEAM)

    print(machine())
    print(
        f"{db_version()}; {args.pods:,} pods, {len(assigned):,} namespaces, snapshot #{snapshot.pk}; "
        f"{TEAM} has {members} namespaces; {args.repeat} runs, medians (min–max) in ms"
    )
    print(
        f"resolving the snapshot's teams (cache emptied): {1000 * statistics.median(resolve):.1f} "
        f"({1000 * min(resolve):.1f}–{1000 * max(resolve):.1f})"
    )
    print("| page | whole cluster | team | team / whole |")
    print("| --- | --- | --- | --- |")
    for label, pattern in PAGES:
        whole_url = pattern.format(c=name)
        team_url = whole_url + ("&" if "?" in whole_url else "?") + f"team={TEAM}"
        get(whole_url), get(team_url)  # warm-up: the engine model, reports, team assignments
        whole, team = [], []
        for _ in range(args.repeat):
            whole.append(get(whole_url))
            team.append(get(team_url))
        w, t = statistics.median(whole), statistics.median(team)
        print(
            f"| {label} | {1000 * w:.0f} ({1000 * min(whole):.0f}–{1000 * max(whole):.0f}) "
            f"| {1000 * t:.0f} ({1000 * min(team):.0f}–{1000 * max(team):.0f}) | {t / w:.2f} |"
        )


if __name__ == "__main__":
    main()
