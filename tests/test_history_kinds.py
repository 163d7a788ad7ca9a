"""The History page's diff of two snapshots lists the policies of every kind (issue 13:
"Coverage, findings, graph, what-if, explain, reports and the CLI all speak of every
kind"), each named with its kind and linked to its page; a kind the snapshot's network
plugin does not read is marked "not enforced" (docs/semantics-enforcement.md: Calico does
not read Cilium's kinds; ClusterNetworkPolicy is read by Calico 3.32 and later).

The cluster is Calico's (a calico-node pod in kube-system). From the first snapshot to
the second:
- ClusterNetworkPolicy deny-batch moves from priority 10 to 20: changed;
- CiliumNetworkPolicy shop/web-ingress is deleted: removed, and not enforced by Calico;
- Calico GlobalNetworkPolicy allow-dns (projectcalico.org/v3) and Calico NetworkPolicy
  batch/jobs-egress appear: added;
- ClusterNetworkPolicy keep-admin stays as it is, and Calico NetworkPolicy shop/db-in is
  written with its keys in another order: neither is listed.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from auditor.models import CniObject, TeamAssignment

from .test_snapshots import collect, manifest_cluster

pytestmark = pytest.mark.django_db

BASE = """
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: batch}
---
apiVersion: v1
kind: Pod
metadata:
  name: calico-node-x1
  namespace: kube-system
  labels: {k8s-app: calico-node}
  ownerReferences: [{kind: DaemonSet, name: calico-node, controller: true}]
spec: {hostNetwork: true, nodeName: node-1, containers: [{name: calico-node}]}
status: {phase: Running, podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
status: {phase: Running, podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: shop, labels: {app: db}}
status: {phase: Running, podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: job-0, namespace: batch, labels: {app: job}}
status: {phase: Running, podIP: 10.0.1.1}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: keep-admin}
spec:
  tier: Admin
  priority: 5
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}
  ingress: [{name: all, action: Accept, from: [{namespaces: {}}]}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-batch}
spec:
  tier: Admin
  priority: PRIORITY
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  ingress:
  - name: no-batch
    action: Deny
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: batch}}}]
---
DB_IN
"""
DB_IN_BEFORE = """apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db-in, namespace: shop}
spec: {selector: app == 'db', order: 100, types: [Ingress], ingress: [{action: Allow}]}
"""
# The same object, its spec's keys in another order.
DB_IN_AFTER = """apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db-in, namespace: shop}
spec: {ingress: [{action: Allow}], types: [Ingress], order: 100, selector: app == 'db'}
"""
CILIUM = """---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-ingress, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{matchLabels: {app: db}}]}]
"""
ADDED = """---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: allow-dns}
spec:
  selector: all()
  order: 50
  types: [Egress]
  egress: [{action: Allow, protocol: UDP, destination: {ports: [53]}}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: jobs-egress, namespace: batch}
spec: {selector: app == 'job', types: [Egress], egress: [{action: Allow}]}
"""


@pytest.fixture
def snapshots(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(BASE.replace("PRIORITY", "10").replace("DB_IN", DB_IN_BEFORE) + CILIUM)
    cluster = manifest_cluster(tmp_path, name="kinds")
    old = collect(cluster)
    path.write_text(BASE.replace("PRIORITY", "20").replace("DB_IN", DB_IN_AFTER) + ADDED)
    new = collect(cluster)
    return cluster, old, new


def _links(section: str) -> list[tuple[str, str]]:
    """(href, text) of each linked row of a list of the section."""
    return re.findall(
        r'<li><a href="([^"]+)"><code>([^<]+)</code></a>([^<]*(?:<small[^<]*</small>)?)', section
    )


def _list(html: str, heading: str) -> str:
    section = html[html.index('id="other-kinds"') :]
    section = section[: section.index("</section>")]
    start = section.index(f"<h3>{heading}</h3>")
    end = section.find("<h3>", start + 1)
    return section[start : end if end != -1 else None]


def test_the_diff_lists_every_kind_with_its_kind_and_a_link(client_as, snapshots):
    cluster, old, new = snapshots
    # The rewritten Calico policy (its keys reordered) is the same policy: where the
    # database keeps key order (SQLite's JSON text) it hands it over and the decoded
    # comparison finds it equal; PostgreSQL's jsonb stores both alike. Either way it is
    # not listed as changed (below).
    texts = [CniObject.objects.get(snapshot=s, name="db-in").spec for s in (old, new)]
    assert texts[0] == texts[1]
    page = client_as("viewer").get(
        reverse("webui:diff", args=["kinds"]), {"old": old.pk, "new": new.pk}
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert 'Other policy kinds</span><span class="value">+2 −1 ~1</span>' in html

    def url(name, *args, snapshot):
        return reverse(f"webui:{name}", args=["kinds", *args]) + f"?snapshot={snapshot.pk}"

    assert [(h, t, m.strip()) for h, t, m in _links(_list(html, "Added"))] == [
        (
            url("cluster_policy", "CalicoGlobalNetworkPolicy", "allow-dns", snapshot=new),
            "Calico GlobalNetworkPolicy allow-dns",
            "",
        ),
        (
            url("kind_policy", "CalicoNetworkPolicy", "batch", "jobs-egress", snapshot=new),
            "Calico NetworkPolicy batch/jobs-egress",
            "",
        ),
    ]
    assert [(h, t, m.strip()) for h, t, m in _links(_list(html, "Removed"))] == [
        (
            url("kind_policy", "CiliumNetworkPolicy", "shop", "web-ingress", snapshot=old),
            "CiliumNetworkPolicy shop/web-ingress",
            '<small class="muted">not enforced</small>',
        ),
    ]
    assert [(h, t, m.strip()) for h, t, m in _links(_list(html, "Changed"))] == [
        (
            url("cluster_policy", "ClusterNetworkPolicy", "deny-batch", snapshot=new),
            "ClusterNetworkPolicy deny-batch",
            "",
        ),
    ]
    # Each link opens that policy's page in the snapshot it names.
    client = client_as("viewer")
    for heading, h1 in (
        ("Added", "<h1>CalicoGlobalNetworkPolicy allow-dns</h1>"),
        ("Removed", "<h1>CiliumNetworkPolicy shop/web-ingress</h1>"),
        ("Changed", "<h1>ClusterNetworkPolicy deny-batch</h1>"),
    ):
        href = _links(_list(html, heading))[0][0]
        target = client.get(href)
        assert target.status_code == 200, href
        assert h1 in target.content.decode(), href
    # The removed one is found only in the older snapshot its link names.
    removed = _links(_list(html, "Removed"))[0][0]
    assert client.get(removed.split("?")[0]).status_code == 404
    # The NetworkPolicy lists are unaffected: this cluster has none.
    assert html.count('<p class="muted">None.</p>') >= 3


def test_a_team_sees_its_namespaces_and_every_cluster_wide_policy(client_as, snapshots):
    cluster, old, new = snapshots
    TeamAssignment.objects.create(cluster=cluster, namespace="shop", team="storefront")
    TeamAssignment.objects.create(cluster=cluster, namespace="batch", team="jobs")
    page = client_as("viewer").get(
        reverse("webui:diff", args=["kinds"]), {"old": old.pk, "new": new.pk, "team": "storefront"}
    )
    assert page.status_code == 200
    html = page.content.decode()
    # batch/jobs-egress is another team's; the cluster-wide GlobalNetworkPolicy stays.
    assert [t for _, t, _ in _links(_list(html, "Added"))] == [
        "Calico GlobalNetworkPolicy allow-dns"
    ]
    assert [t for _, t, _ in _links(_list(html, "Removed"))] == [
        "CiliumNetworkPolicy shop/web-ingress"
    ]
    assert [t for _, t, _ in _links(_list(html, "Changed"))] == ["ClusterNetworkPolicy deny-batch"]
    help_text = html[html.index('id="other-kinds"') :]
    help_text = help_text[help_text.index('<p class="muted">') : help_text.index("</p>")]
    assert help_text.endswith(
        "namespaced ones of its namespaces are listed, and every cluster-wide one: those "
        "apply to every team's pods."
    )


def test_a_snapshot_compared_with_itself_lists_no_policy_of_any_kind(snapshots):
    from auditor.selectors import snapshot_diff

    _, old, _ = snapshots
    diff = snapshot_diff(old, old)
    assert [diff[f"other_policies_{k}"]["count"] for k in ("added", "removed", "changed")] == [
        0,
        0,
        0,
    ]


def test_at_10000_rows_only_the_rows_that_differ_are_fetched_whole(monkeypatch, tmp_path, capsys):
    """10,000 rows of other kinds per snapshot (500 ClusterNetworkPolicies, 6,000 Cilium and
    3,500 Calico objects), 30 rewritten: only those 30 pairs are decoded. The time is
    printed for docs/benchmarks.md, not asserted (a busy machine is no regression)."""
    import time

    from auditor import selectors
    from auditor.models import ClusterPolicy, Snapshot

    cluster = manifest_cluster(tmp_path, name="big")
    old, new = (
        Snapshot.objects.create(cluster=cluster, status=Snapshot.Status.COMPLETE) for _ in range(2)
    )

    def rows(snapshot, rewritten):
        def spec(i):
            return {"priority": i, "changed": True} if i in rewritten else {"priority": i}

        cluster_rows = [
            ClusterPolicy(
                snapshot=snapshot, kind="ClusterNetworkPolicy", name=f"c{i}", spec=spec(i)
            )
            for i in range(500)
        ]
        cilium = [
            CniObject(
                snapshot=snapshot,
                kind="CiliumNetworkPolicy",
                namespace=f"ns{i % 200}",
                name=f"p{i}",
                spec=spec(i),
            )
            for i in range(6000)
        ]
        calico = [
            CniObject(
                snapshot=snapshot,
                kind="NetworkPolicy",
                api_version="projectcalico.org/v3",
                namespace=f"ns{i % 200}",
                name=f"k{i}",
                spec=spec(i),
            )
            for i in range(3500)
        ]
        ClusterPolicy.objects.bulk_create(cluster_rows, batch_size=2000)
        CniObject.objects.bulk_create(cilium + calico, batch_size=2000)

    rows(old, set())
    rows(new, set(range(0, 3000, 100)))
    fetched = []
    real = selectors._other_contents
    monkeypatch.setattr(
        selectors, "_other_contents", lambda facts: fetched.extend(facts) or real(facts)
    )
    times = []
    for _ in range(3):
        fetched.clear()
        start = time.perf_counter()
        diff = selectors.snapshot_diff(old, new)
        times.append(time.perf_counter() - start)
    # Rows 0, 100 ... 2900 of each kind differ: 5 ClusterNetworkPolicies (0-400), 30
    # Cilium and 30 Calico policies; each is fetched from both snapshots.
    changed = diff["other_policies_changed"]
    assert changed["count"] == 65 and len(fetched) == 130
    assert (diff["other_policies_added"]["count"], diff["other_policies_removed"]["count"]) == (
        0,
        0,
    )
    with capsys.disabled():
        print(f"\nsnapshot_diff, 10,000 other-kind rows a side: median {sorted(times)[1]:.3f} s")


LIST_FORM = """apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: listy, namespace: shop}
specs:
- endpointSelector: {}
  ingress: [{fromEndpoints: [{matchLabels: {app: PEER}}]}]
"""


def test_a_cilium_policy_of_specs_only_is_compared_and_linked(client_as, tmp_path, monkeypatch):
    """Cilium's list form (``specs``, no ``spec``: docs/semantics-cilium.md) stores ``spec``
    as NULL, which SQL finds equal to nothing: unchanged, it is not listed; rewritten, it
    is, linked to the page of its first rule (the engine names the rules ``listy#0``...)."""
    path = tmp_path / "cluster.yaml"
    path.write_text(LIST_FORM.replace("PEER", "web"))
    cluster = manifest_cluster(tmp_path, name="listy")
    first, second = collect(cluster), collect(cluster)
    path.write_text(LIST_FORM.replace("PEER", "api"))
    third = collect(cluster)
    from auditor import selectors

    fetched = []
    real = selectors._other_contents
    monkeypatch.setattr(
        selectors, "_other_contents", lambda facts: fetched.extend(facts) or real(facts)
    )
    client = client_as("viewer")
    url = reverse("webui:diff", args=["listy"])
    same = client.get(url, {"old": first.pk, "new": second.pk}).content.decode()
    assert fetched == []  # the database found it stored identically
    assert '<h3>Changed</h3><p class="muted">None.</p>' in _list(same, "Changed")
    html = client.get(url, {"old": second.pk, "new": third.pk}).content.decode()
    page = reverse("webui:kind_policy", args=["listy", "CiliumNetworkPolicy", "shop", "listy#0"])
    assert _links(_list(html, "Changed")) == [
        (f"{page}?snapshot={third.pk}", "CiliumNetworkPolicy shop/listy", "")
    ]
    assert client.get(f"{page}?snapshot={third.pk}").status_code == 200
