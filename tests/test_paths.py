"""Attack paths and blast radius (``netpol.paths``) on small hand-built clusters.

The shop below: the internet reaches ``edge/web`` on 443 only; web reaches ``app/api`` on
8080 (api's egress is limited to the database on 5432); api reaches ``data/db`` (the crown
jewel, ``tier: db``) on 5432; ``data/cache`` (also ``tier: db``) only from the database on
6379; ``ops/tool`` is isolated both ways and reaches nothing. Each hop's port differs, so
a wrong port or rule shows.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from netpol.cli import _load
from netpol.engine import InputError
from netpol.paths import (
    EVERY_WORKLOAD,
    INTERNET,
    NOT_ISOLATED,
    attack_paths,
    blast_radius,
    crown_jewels,
    parse_selector,
)

SHOP = """
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: edge}}
  - {apiVersion: v1, kind: Namespace, metadata: {name: app}}
  - {apiVersion: v1, kind: Namespace, metadata: {name: data}}
  - {apiVersion: v1, kind: Namespace, metadata: {name: ops}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: edge}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, ports: [{name: https, containerPort: 443}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: app}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db, tier: db}}
    spec: {containers: [{name: db, ports: [{name: pg, containerPort: 5432}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cache, namespace: data}
spec:
  replicas: 1
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache, tier: db}}
    spec: {containers: [{name: cache}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: tool, namespace: ops}
spec:
  replicas: 1
  selector: {matchLabels: {app: tool}}
  template:
    metadata: {labels: {app: tool}}
    spec: {containers: [{name: tool}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-public, namespace: edge}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
    - from: [{ipBlock: {cidr: 0.0.0.0/0}}]
      ports: [{port: 443}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-in, namespace: app}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: app}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress, Egress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: edge}}}]
      ports: [{port: http}]
  egress:
    - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: data}}}]
      ports: [{port: 5432}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: app}}}]
      ports: [{port: 5432}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: cache, namespace: data}
spec:
  podSelector: {matchLabels: {app: cache}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: db}}}]
      ports: [{port: 6379}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: tool, namespace: ops}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""

WEB, API, DB, CACHE, TOOL = (
    "edge/Deployment/web",
    "app/Deployment/api",
    "data/StatefulSet/db",
    "data/Deployment/cache",
    "ops/Deployment/tool",
)


def write_shop(directory: Path, text: str = SHOP) -> Path:
    """The manifests as a directory ``netaudit`` reads, with the cluster's pod range."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "shop.yaml").write_text(text)
    (directory / ".netaudit.yaml").write_text("podCIDRs: [10.244.0.0/16]\n")
    return directory


def shop(text: str = SHOP):
    with tempfile.TemporaryDirectory() as tmp:
        return _load([write_shop(Path(tmp), text)])


def chain(path) -> list[tuple[str, str, str]]:
    return [(h.src, h.dst, f"{h.protocol}/{h.port}") for h in path.hops]


def rules(hop) -> list[tuple[str, str | None, str]]:
    return [(r["direction"], r["policy"], r["rule"]) for r in hop.rules]


def test_from_the_internet_three_hops_each_on_its_port_with_both_ends_rules():
    model = shop()
    [path] = attack_paths(model, [DB], start=INTERNET, max_hops=4)
    assert chain(path) == [
        (INTERNET, WEB, "TCP/443"),
        (WEB, API, "TCP/8080"),  # the named port http of the api pods
        (API, DB, "TCP/5432"),
    ]
    first, second, third = path.hops
    # From outside only the destination's ingress decides; the first address outside.
    assert rules(first) == [("ingress", "edge/web-public", "spec.ingress[0]")]
    assert first.src_pod is None and first.address == "0.0.0.0/5"
    assert first.ports == ("TCP/443",)
    # web is not isolated for egress; api's ingress rule opens the hop.
    assert rules(second) == [
        ("egress", None, NOT_ISOLATED),
        ("ingress", "app/api", "spec.ingress[0]"),
    ]
    # Both ends named by policy and field path: api's egress and db's ingress.
    assert rules(third) == [
        ("egress", "app/api", "spec.egress[0]"),
        ("ingress", "data/db", "spec.ingress[0]"),
    ]
    assert third.src_pod.startswith("app/api-") and third.dst_pod == "data/db-0"
    assert path.to_dict()["hops"][0]["from"] == INTERNET


def test_max_hops_cuts_longer_paths():
    model = shop()
    assert attack_paths(model, [DB], start=INTERNET, max_hops=2) == []
    assert len(attack_paths(model, [DB], start=INTERNET, max_hops=3)[0].hops) == 3
    # From api the database is one hop, the cache two (through the database).
    [to_cache] = attack_paths(model, [CACHE], start=API, max_hops=2)
    assert chain(to_cache) == [(API, DB, "TCP/5432"), (DB, CACHE, "TCP/6379")]
    assert attack_paths(model, [CACHE], start=API, max_hops=1) == []


def test_no_path_from_an_isolated_workload_nor_to_itself():
    model = shop()
    assert attack_paths(model, [DB, CACHE], start=TOOL, max_hops=6) == []
    assert attack_paths(model, [DB], start=DB, max_hops=6) == []


def test_a_crown_jewel_open_to_the_internet_is_one_hop():
    opened = "    - from: [{podSelector: {matchLabels: {app: db}}}, {ipBlock: {cidr: 0.0.0.0/0}}]"
    text = SHOP.replace("    - from: [{podSelector: {matchLabels: {app: db}}}]", opened)
    assert text != SHOP
    paths = attack_paths(shop(text), [CACHE, DB], start=INTERNET, max_hops=4)
    web_to_db = [(INTERNET, WEB, "TCP/443"), (WEB, API, "TCP/8080"), (API, DB, "TCP/5432")]
    # Per crown jewel, one path per way in: the cache straight, and through web too.
    assert [chain(p) for p in paths] == [
        [(INTERNET, CACHE, "TCP/6379")],
        web_to_db,
        web_to_db + [(DB, CACHE, "TCP/6379")],
    ]
    assert rules(paths[0].hops[0]) == [("ingress", "data/cache", "spec.ingress[0]")]


def test_shortest_first_one_path_per_starting_workload_and_limit():
    model = shop()
    jewels = crown_jewels(model, selector=parse_selector("tier=db"))
    assert jewels == [CACHE, DB]
    paths = attack_paths(model, jewels, start=EVERY_WORKLOAD, max_hops=4, limit=5)
    starts = [(p.hops[0].src, p.target, len(p.hops)) for p in paths]
    assert starts == [  # by length, then crown jewel, then start
        (DB, CACHE, 1),
        (API, DB, 1),
        (API, CACHE, 2),
        (WEB, DB, 2),
        (WEB, CACHE, 3),
    ]
    assert [len(p.hops) for p in attack_paths(model, jewels, start=EVERY_WORKLOAD, limit=1)] == [
        1,
        1,
    ]


def test_crown_jewels_by_name_and_bad_input():
    model = shop()
    assert crown_jewels(model, workloads=[DB]) == [DB]
    assert parse_selector("tier=db, app=db") == {"tier": "db", "app": "db"}
    for bad in ("tier", "tier!=db", "", "tier==db", ","):
        try:
            parse_selector(bad)
        except InputError as exc:
            assert "selector" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")
    try:
        crown_jewels(model, workloads=["data/StatefulSet/nope"])
    except InputError as exc:
        assert "data/StatefulSet/nope" in str(exc)
    else:
        raise AssertionError("an unknown workload was accepted")


def test_blast_radius():
    model = shop()
    jewels = [CACHE, DB]
    assert blast_radius(model, WEB, max_hops=3, jewels=jewels) == {
        "workload": WEB,
        "max_hops": 3,
        "workloads": 3,
        "crown_jewels": 2,
        "by_hops": [1, 1, 1],
        "reached_jewels": [CACHE, DB],
    }
    assert blast_radius(model, WEB, max_hops=1, jewels=jewels)["workloads"] == 1
    assert blast_radius(model, TOOL, max_hops=4, jewels=jewels)["workloads"] == 0
    # The cache may send anywhere, but every other workload admits only chosen peers
    # (web only addresses, which pods from templates do not have).
    cache = blast_radius(model, CACHE, max_hops=4, jewels=jewels)
    assert cache["workloads"] == 0 and cache["by_hops"] == [0, 0, 0, 0]
