"""What-if: the pure comparison (``netpol.whatif``) on the demo cluster, then the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from auditor.models import Cluster, Finding
from netpol import whatif
from netpol.collect.manifests import ManifestCollector
from netpol.collect.normalize import normalize
from netpol.engine import ClusterModel
from netpol.load import load_paths

DENY_BATCH = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-all
  namespace: batch
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
"""

ADMIN_UI_HTTP_ONLY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: admin-ui-allow-all, namespace: shop-frontend}
spec:
  podSelector: {matchLabels: {app: admin-ui}}
  ingress:
    - ports: [{port: 8080}]
"""


def policy(name: str, namespace: str = "batch", spec: str = "podSelector: {}") -> str:
    return (
        f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {{{spec}}}\n"
    )


@pytest.fixture(scope="module")
def demo_model() -> ClusterModel:
    objects: dict[str, list[dict]] = {}
    for kind, obj in ManifestCollector(["auditor/demo_cluster"]).fetch():
        objects.setdefault(kind, []).append(normalize(kind, obj).to_api())
    return ClusterModel.from_objects(
        namespaces=objects["Namespace"],
        pods=objects["Pod"],
        nodes=objects["Node"],
        policies=objects["NetworkPolicy"],
        services=objects["Service"],
    )


def rules(findings: list[dict], namespace: str | None = None) -> set[str]:
    return {f["rule"] for f in findings if namespace is None or f["namespace"] == namespace}


# --- Reading pasted YAML --------------------------------------------------------------


def test_reads_several_documents_and_lists():
    text = (
        policy("a")
        + "---\n"
        + "apiVersion: v1\nkind: List\nitems:\n"
        + "".join(
            f"  - {{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, "
            f"metadata: {{name: {n}, namespace: shop-db}}, spec: {{podSelector: {{}}}}}}\n"
            for n in ("b", "c")
        )
        + "---\n"
        + "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicyList\n"
        + "items: [{metadata: {name: d, namespace: payments}, spec: {podSelector: {}}}]\n"
    )
    policies, notes = whatif.read_policies(text)
    assert [p["metadata"]["name"] for p in policies] == ["a", "b", "c", "d"]
    assert notes == []


def test_a_policy_given_twice_keeps_the_later_and_says_so():
    policies, notes = whatif.read_policies(
        policy("a", spec="podSelector: {}")
        + "---\n"
        + policy("a", spec="podSelector: {matchLabels: {x: y}}")
    )
    assert len(policies) == 1 and policies[0]["spec"]["podSelector"] == {"matchLabels": {"x": "y"}}
    assert "document 2" in notes[0] and "batch/a is given twice" in notes[0]


def test_a_policy_without_namespace_is_tried_in_default_with_a_note():
    text = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\nspec: {}\n"
    policies, notes = whatif.read_policies(text)
    assert len(policies) == 1
    assert "names no namespace" in notes[0] and "'default'" in notes[0]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            policy("a") + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
            "pasted YAML, document 2 (Deployment): only Kubernetes NetworkPolicy objects",
        ),
        (
            "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: x}\n",
            "not a Tier of projectcalico.org/v3",
        ),
        (
            "apiVersion: projectcalico.org/v3\nkind: StagedNetworkPolicy\nmetadata: {name: x, namespace: a}\n",
            "a StagedNetworkPolicy is a staged policy; paste its enforced kind",
        ),
        (
            "apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n",
            "document 1 (List), item 1 (ConfigMap)",
        ),
        (policy("a") + "---\nmetadata: {name: x}\n", "document 2: kind is missing"),
        ("- just\n- a list\n", "document 1: a list, not a mapping"),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\nspec: [1]\n",
            "spec is not a mapping",
        ),
    ],
)
def test_refuses_what_is_not_a_network_policy(text, expected):
    with pytest.raises(whatif.WhatIfInputError) as err:
        whatif.read_policies(text)
    assert expected in str(err.value)


def test_malformed_yaml_names_the_document_and_line():
    text = (
        policy("a")
        + "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n  metadata: {name: b\n"
    )
    with pytest.raises(whatif.WhatIfInputError) as err:
        whatif.read_policies(text)
    message = str(err.value)
    assert message.startswith("pasted YAML, document 2: invalid YAML at line 8, column 11")


def test_oversize_input_is_refused_before_parsing():
    text = "#" * (whatif.MAX_INPUT_BYTES + 1)
    with pytest.raises(
        whatif.WhatIfInputError, match=r"1,048,577 bytes, over the limit of 1,048,576"
    ):
        whatif.read_policies(text)


def test_too_many_rule_entries_are_refused():
    ports = "".join(f"    - port: {i}\n" for i in range(1, 2_000))
    text = policy("a").replace(
        "spec: {podSelector: {}}\n",
        "spec:\n  ingress:\n  - from: [{podSelector: {}}]\n    ports:\n" + ports,
    )
    with pytest.raises(
        whatif.WhatIfInputError,
        match=r"2,001 rules, peers, ports and ipBlock excepts; at most 2,000",
    ):
        whatif.read_policies(text)


def test_an_alias_bomb_is_refused():
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 10)}]")
    with pytest.raises(whatif.WhatIfInputError, match="billion laughs"):
        whatif.read_policies("\n".join(lines) + "\n")


# --- Comparing -------------------------------------------------------------------------


def test_default_deny_in_batch_raises_coverage_resolves_np003_and_cuts_connections(demo_model):
    policies, _ = whatif.read_policies(DENY_BATCH)
    result = whatif.compare(demo_model, add=policies)

    assert result["changes"]["added"] == ["batch/default-deny-all"]
    cluster = result["coverage"]["cluster"]
    assert cluster["after"]["ingress_pods"] == cluster["before"]["ingress_pods"] + 8
    assert cluster["after"]["egress_pods"] == cluster["before"]["egress_pods"] + 8
    assert cluster["coverage_change"] > 0 and cluster["score_change"] > 0
    [batch] = result["coverage"]["namespaces"]
    assert batch["namespace"] == "batch"
    assert batch["before"]["coverage"] == 0.0 and batch["after"]["coverage"] == 100.0
    assert batch["after"]["deny_ingress"] and batch["after"]["deny_egress"]

    assert "NP003" in rules(result["findings"]["removed"], "batch")
    assert result["findings"]["removed_counts"] == [("high", 1)]

    connections = result["connections"]
    assert connections["gained"] == []
    lost = {(r["from"]["key"], r["to"]["key"]) for r in connections["lost"]}
    assert ("batch/Deployment/queue-worker", "kube-system/Deployment/coredns") in lost
    assert ("ipBlock:0.0.0.0/0", "batch/Deployment/queue-worker") in lost
    assert all(
        "batch" in (r["from"].get("namespace"), r["to"]["namespace"]) for r in connections["lost"]
    )
    pairs = {(p["from"], p["to"]): p for p in connections["by_namespace"]}
    assert pairs["batch", "batch"]["lost"] > 0 and pairs["", "batch"]["lost"] > 0


def test_removing_the_allow_all_resolves_np010(demo_model):
    result = whatif.compare(demo_model, remove={"shop-frontend/admin-ui-allow-all"})
    assert result["changes"]["removed"] == ["shop-frontend/admin-ui-allow-all"]
    assert "NP010" in rules(result["findings"]["removed"], "shop-frontend")
    assert result["findings"]["added"] == []
    lost = result["connections"]["lost"]
    assert lost and all(r["to"]["key"] == "shop-frontend/Deployment/admin-ui" for r in lost)
    assert {"key": "ipBlock:0.0.0.0/0", "cidr": "0.0.0.0/0"} in [r["from"] for r in lost]
    # Its pods stay isolated (the namespace's default deny), so coverage does not move; the
    # namespace is listed for its policy count and score, which do.
    [row] = result["coverage"]["namespaces"]
    assert row["namespace"] == "shop-frontend"
    assert row["before"]["coverage"] == row["after"]["coverage"] == 100.0
    assert (row["before"]["policies"], row["after"]["policies"]) == (5, 4)
    # NP010 (high, on admin-ui only) no longer costs; NP020 still does (docs/findings.md#score)
    assert (row["before"]["score"], row["after"]["score"]) == (62, 78)
    assert result["coverage"]["cluster"]["coverage_change"] == 0.0


def test_a_pasted_policy_replaces_the_one_with_its_name_and_ports_are_compared(demo_model):
    policies, _ = whatif.read_policies(ADMIN_UI_HTTP_ONLY)
    result = whatif.compare(demo_model, add=policies)
    assert result["changes"]["replaced"] == ["shop-frontend/admin-ui-allow-all"]
    assert result["changes"]["added"] == [] and result["changes"]["removed"] == []
    assert "NP010" in rules(result["findings"]["removed"])
    assert result["connections"]["gained"] == []
    row = next(
        r
        for r in result["connections"]["lost"]
        if r["from"]["key"] == "batch/Deployment/queue-worker"
    )
    # Everything but TCP 8080 is lost; 8080 stays open.
    assert row["ports"] == ["TCP/1-8079", "TCP/8081-65535", "UDP/*", "SCTP/*"]


def test_address_sources_are_compared_address_by_address(demo_model):
    # The storefront already takes 203.0.113.0/24 on 8080 (storefront-allow-cdn); opening
    # 0.0.0.0/0 on 8080 gains every other IPv4 address, and loses nothing.
    spec = "podSelector: {matchLabels: {app: storefront}}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}], ports: [{port: 8080}]}]"
    policies, _ = whatif.read_policies(policy("open-storefront", "shop-frontend", spec))
    result = whatif.compare(demo_model, add=policies)
    gained = result["connections"]["gained"]
    assert result["connections"]["lost"] == []
    assert gained and all(r["ports"] == ["TCP/8080"] for r in gained)
    cidrs = [r["from"]["cidr"] for r in gained]
    assert "0.0.0.0/1" in cidrs and "203.0.112.0/24" in cidrs and "203.0.114.0/23" in cidrs
    assert not any(c.startswith("203.0.113.") for c in cidrs)


def test_invalid_policy_content_is_reported_not_raised(demo_model):
    spec = "podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]"
    policies, _ = whatif.read_policies(policy("bad-cidr", "batch", spec))
    result = whatif.compare(demo_model, add=policies)
    [error] = result["errors"]
    assert error["policy"] == "batch/bad-cidr"
    assert error["field"] == "spec.ingress[0].from[0].ipBlock.cidr"
    # The bad peer matches nothing: batch becomes ingress-isolated with no source allowed.
    assert (
        result["coverage"]["cluster"]["after"]["ingress_pods"]
        > result["coverage"]["cluster"]["before"]["ingress_pods"]
    )


def test_unknown_removals_and_new_namespaces_are_reported(demo_model):
    policies, _ = whatif.read_policies(policy("x", "nowhere"))
    result = whatif.compare(demo_model, add=policies, remove={"batch/nothing-here"})
    assert result["changes"]["not_found"] == ["batch/nothing-here"]
    assert result["changes"]["new_namespaces"] == ["nowhere"]
    assert "NP031" in rules(result["findings"]["added"], "nowhere")  # selects no pod


def test_nothing_to_try_is_an_input_error(demo_model):
    with pytest.raises(whatif.WhatIfInputError, match="Nothing to try"):
        whatif.compare(demo_model)


def test_the_base_model_is_left_alone_and_its_audit_cached(demo_model):
    ids = [p.id for p in demo_model.policies]
    whatif.compare(demo_model, remove={"shop-frontend/admin-ui-allow-all"})
    assert [p.id for p in demo_model.policies] == ids
    assert len(demo_model.policies) == 22
    # compare() kept the base audit with the model: asking again builds nothing.
    kept = demo_model.derived("whatif.report", lambda: pytest.fail("base audit not kept"))
    assert whatif.base_report(demo_model) is kept


@pytest.mark.parametrize(
    "text, remove",
    [
        (DENY_BATCH, set()),
        (ADMIN_UI_HTTP_ONLY, set()),
        ("", {"shop-frontend/admin-ui-allow-all"}),
        (policy("open-egress", "payments", "podSelector: {}, egress: [{}]"), set()),
        # A CIDR no policy names: the changed model is built in full.
        (
            policy(
                "out",
                "batch",
                "podSelector: {}, egress: [{to: [{ipBlock: {cidr: 198.51.100.0/24}}]}]",
            ),
            set(),
        ),
    ],
)
def test_the_incremental_comparison_says_what_the_full_one_says(demo_model, text, remove):
    """Only the touched part is evaluated and compared; the answer is the same as
    rebuilding and comparing everything."""
    add = whatif.read_policies(text)[0] if text else []
    fast = whatif.compare(demo_model, add=add, remove=remove)
    full = whatif.compare(demo_model, add=add, remove=remove, incremental=False)
    assert fast == full
    assert fast["connections"]["gained"] or fast["connections"]["lost"]


# --- The page ---------------------------------------------------------------------------


def url(name: str = "demo") -> str:
    return reverse("webui:whatif", args=[name])


@pytest.mark.django_db
def test_auditor_and_admin_see_the_form(client_as, demo_snapshot):
    for role in ("auditor", "admin"):
        response = client_as(role).get(url())
        assert response.status_code == 200, role
        page = response.content.decode()
        assert 'name="csrfmiddlewaretoken"' in page and 'name="yaml"' in page
        assert f"snapshot #{demo_snapshot.pk}" in page
        assert 'value="shop-frontend/admin-ui-allow-all"' in page
        assert "css/whatif.css" in page


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "stranger"])
def test_viewer_and_stranger_are_refused(client_as, demo_snapshot, role):
    for response in (client_as(role).get(url()), client_as(role).post(url(), {"yaml": DENY_BATCH})):
        assert response.status_code == 403
        assert b"needs the auditor role" in response.content


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client, demo_snapshot):
    for response in (client.get(url()), client.post(url(), {"yaml": DENY_BATCH})):
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_unknown_cluster_is_404_and_no_snapshot_is_the_empty_state(client_as):
    assert client_as("auditor").get(url("nope")).status_code == 404
    Cluster.objects.create(name="fresh", source=Cluster.Source.MANIFESTS, manifest_path="x")
    response = client_as("auditor").get(url("fresh"))
    assert response.status_code == 200 and b"No snapshot yet" in response.content


@pytest.mark.django_db
def test_only_get_and_post(client_as, demo_snapshot):
    assert client_as("auditor").put(url()).status_code == 405


@pytest.mark.django_db
def test_the_form_needs_its_csrf_token(personas, demo_snapshot):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["auditor"])
    assert client.post(url(), {"yaml": DENY_BATCH}).status_code == 403


@pytest.mark.django_db
def test_default_deny_for_batch(client_as, demo_snapshot):
    response = client_as("auditor").post(url(), {"yaml": DENY_BATCH, "run": "1"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "What would change" in page and "batch/default-deny-all" in page
    result = response.context["result"]
    cluster = result["coverage"]["cluster"]
    assert cluster["after"]["coverage"] > cluster["before"]["coverage"]
    assert f"{cluster['before']['coverage']}% → {cluster['after']['coverage']}%" in page
    removed, added = result["finding_panels"]
    assert removed["title"] == "Findings removed" and "NP003" in rules(removed["rows"], "batch")
    np003 = Finding.objects.get(snapshot=demo_snapshot, rule="NP003", namespace="batch")
    assert reverse("webui:finding", args=["demo", np003.pk]) in page
    gained, lost = result["connection_panels"]
    assert gained["total"] == 0 and lost["total"] > 0
    assert "No connection becomes allowed." in page
    assert "batch/Deployment/queue-worker" in page
    assert reverse("webui:workload", args=["demo", "batch", "Deployment", "queue-worker"]) in page


@pytest.mark.django_db
def test_removing_admin_ui_allow_all(client_as, demo_snapshot):
    response = client_as("auditor").post(
        url(), {"remove": ["shop-frontend/admin-ui-allow-all"], "run": "1"}
    )
    assert response.status_code == 200
    removed, _ = response.context["result"]["finding_panels"]
    assert "NP010" in rules(removed["rows"], "shop-frontend")
    page = response.content.decode()
    assert "Findings removed" in page and "NP010" in page
    assert 'value="shop-frontend/admin-ui-allow-all" checked' in page  # the mark is kept


@pytest.mark.django_db
def test_replacing_an_existing_policy_says_so(client_as, demo_snapshot):
    response = client_as("auditor").post(url(), {"yaml": ADMIN_UI_HTTP_ONLY})
    assert response.status_code == 200
    assert "replaces the existing policy" in response.content.decode()


@pytest.mark.django_db
def test_invalid_cidr_is_listed_not_a_crash(client_as, demo_snapshot):
    spec = "podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]"
    response = client_as("auditor").post(url(), {"yaml": policy("bad-cidr", "batch", spec)})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Invalid policy content" in page and "spec.ingress[0].from[0].ipBlock.cidr" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data, expected",
    [
        (
            {"yaml": DENY_BATCH + "---\nkind: NetworkPolicy\n  bad: [\n"},
            "pasted YAML, document 2: invalid YAML at line",
        ),
        (
            {"yaml": DENY_BATCH + "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n"},
            "document 2 (Service): only Kubernetes NetworkPolicy objects",
        ),
        ({"yaml": "x" * (whatif.MAX_INPUT_BYTES + 10)}, "over the limit of 1,048,576 bytes"),
        ({"yaml": "   \n"}, "Nothing to try"),
    ],
)
def test_bad_input_redisplays_the_form_with_the_message(client_as, demo_snapshot, data, expected):
    response = client_as("auditor").post(url(), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Cannot run this what-if." in page and expected in page
    assert 'name="yaml"' in page and "What would change" not in page
    if len(data["yaml"]) < 10_000:
        assert data["yaml"].split("\n")[0] in page  # the text is kept for fixing


@pytest.mark.django_db
def test_searching_and_paging_keep_the_text_and_marks_without_running(
    client_as, demo_snapshot, monkeypatch
):
    from webui.views import whatif as view

    monkeypatch.setattr(view, "POLICIES_PER_PAGE", 5)
    client = client_as("auditor")
    marked = ["shop-frontend/admin-ui-allow-all"]
    response = client.post(url(), {"yaml": DENY_BATCH, "remove": marked, "page": "2"})
    assert response.status_code == 200 and "result" not in response.context
    page = response.content.decode()
    assert "Page 2 of 5" in page and "default-deny-all\n  namespace: batch" in page
    assert "Marked for removal, not on this page" in page
    assert 'value="shop-frontend/admin-ui-allow-all" checked' in page

    response = client.post(url(), {"yaml": "", "q": "shop-db", "browse": "1", "remove": marked})
    page = response.content.decode()
    assert response.context["policies"].paginator.count == 3
    assert 'value="shop-db/postgres"' in page and 'value="payments/payments-api"' not in page
    assert "3 match “shop-db”" in page


@pytest.mark.django_db
def test_get_can_search_the_policy_list(client_as, demo_snapshot):
    response = client_as("auditor").get(url(), {"q": "nothing-like-this", "page": "x"})
    assert response.status_code == 200
    assert "No policy matches “nothing-like-this”." in response.content.decode()


@pytest.mark.django_db
def test_bad_snapshot_parameter_is_a_clear_400_or_404(client_as, demo_snapshot):
    response = client_as("auditor").get(url(), {"snapshot": "abc"})
    assert (
        response.status_code == 400
        and b"&#x27;abc&#x27; is not a snapshot number." in response.content
    )
    assert client_as("auditor").get(url(), {"snapshot": "999"}).status_code == 404


def test_a_paste_over_the_servers_body_limit_gets_a_413_that_says_what_to_do(
    client_as, demo_snapshot
):
    """Past DATA_UPLOAD_MAX_MEMORY_SIZE Django reads nothing; the page still explains."""
    response = client_as("auditor").post(
        reverse("webui:whatif", args=["demo"]), {"yaml": "#" * (3 * 2**20)}
    )
    assert response.status_code == 413
    text = response.content.decode()
    assert "over the 2.5 MiB the server accepts" in text
    assert "What-if takes at most 1 MiB of pasted YAML" in text


def test_a_default_deny_without_dns_warns_that_it_cuts_dns(demo_model):
    policies, _ = whatif.read_policies(DENY_BATCH)
    [cut] = whatif.compare(demo_model, add=policies)["dns_cut"]
    assert cut == {
        "namespace": "batch",
        "pods": 8,
        "workloads": [
            "CronJob/db-backup",
            "CronJob/nightly-report",
            "Deployment/queue-worker",
            "Job/catalog-import",
        ],
    }
    # With DNS allowed beside the deny, nothing is cut.
    dns = (
        DENY_BATCH.replace("name: default-deny-all", "name: deny")
        + """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dns, namespace: batch}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
"""
    )
    policies, _ = whatif.read_policies(dns)
    assert whatif.compare(demo_model, add=policies)["dns_cut"] == []


def test_the_page_shows_the_dns_warning(client_as, demo_snapshot):
    page = (
        client_as("auditor")
        .post(reverse("webui:whatif", args=["demo"]), {"yaml": DENY_BATCH})
        .content.decode()
    )
    assert "This change cuts DNS." in page and "8 pods of 4 workloads in" in page


# --- Rules the change makes dead (issue 11) ---------------------------------------------


def test_a_deny_that_cuts_what_another_namespace_allows_names_that_rule(demo_model):
    """shop-db's postgres policy admits batch's db-backup on 5432 (spec.ingress[0]); a
    default deny in batch cuts that connection, and the rule is named."""
    result = whatif.compare(demo_model, add=whatif.read_policies(DENY_BATCH)[0])
    cuts = {(c["policy"], c["rule"]): c for c in result["allows_cut"]}
    postgres = cuts["shop-db/postgres", "spec.ingress[0]"]
    assert postgres["direction"] == "ingress"
    assert postgres["ports"] == ["TCP/5432"]
    pairs = {(c["from"]["key"], c["to"]["key"]) for c in postgres["connections"]}
    assert ("batch/CronJob/db-backup", "shop-db/StatefulSet/postgres") in pairs
    assert postgres["total"] == len(postgres["connections"])
    # Batch's ingress is cut too: Prometheus's egress rule to it is dead.
    assert cuts["monitoring/prometheus", "spec.egress[0]"]["direction"] == "egress"
    # The pasted policy itself is never reported, and only lost connections count.
    assert not any(c["policy"].startswith("batch/") for c in result["allows_cut"])


def test_removing_the_allow_itself_warns_of_nothing_dead(demo_model):
    """Removing a policy cuts what it allowed; that is the point, not a dead rule."""
    result = whatif.compare(demo_model, remove={"shop-db/postgres"})
    assert result["connections"]["lost"]
    assert not any(c["policy"] == "shop-db/postgres" for c in result["allows_cut"])


def test_a_change_that_cuts_nothing_allowed_elsewhere_warns_of_nothing(demo_model):
    result = whatif.compare(demo_model, add=whatif.read_policies(ADMIN_UI_HTTP_ONLY)[0])
    assert result["connections"]["lost"]  # from anywhere to the admin UI on other ports
    assert result["allows_cut"] == []


def test_the_page_shows_the_dead_rule_warning(client_as, demo_snapshot):
    page = (
        client_as("auditor")
        .post(reverse("webui:whatif", args=["demo"]), {"yaml": DENY_BATCH})
        .content.decode()
    )
    assert "This change cuts traffic that" in page
    policy_url = reverse("webui:policy", args=["demo", "shop-db", "postgres"])
    assert f'<a href="{policy_url}">NetworkPolicy shop-db/postgres</a> explicitly allows' in page
    assert "<code>spec.ingress[0]</code>" in page
    assert "batch/CronJob/db-backup → shop-db/StatefulSet/postgres on TCP/5432" in page
    # Above the details: before the coverage card.
    assert page.index("explicitly allows") < page.index("<h3>Coverage</h3>")


# --- Runs in a worker (large snapshots) --------------------------------------------------


@pytest.fixture
def worker_runs(settings):
    """Every snapshot counts as large: a Run goes to a worker."""
    settings.WHATIF_INLINE_MAX_PODS = 0
    return settings


@pytest.mark.django_db
def test_a_run_on_a_large_snapshot_is_queued_and_the_page_shows_its_progress(
    client_as, demo_snapshot, worker_runs
):
    from auditor.models import WhatIfRun

    client = client_as("auditor")
    response = client.post(url(), {"yaml": DENY_BATCH, "remove": ["shop-db/redis"], "run": "1"})
    run = WhatIfRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{url()}?snapshot={demo_snapshot.pk}&run={run.pk}#result"
    assert (run.status, run.snapshot, run.yaml, run.remove) == (
        "pending",
        demo_snapshot,
        DENY_BATCH,
        ["shop-db/redis"],
    )
    page = client.get(f"{url()}?snapshot={demo_snapshot.pk}&run={run.pk}").content.decode()
    run_url = reverse("webui:whatif_run", args=["demo", run.pk])
    assert f'data-run-url="{run_url}"' in page and f"What-if #{run.pk} pending" in page
    assert "namespace: batch" in page  # the form keeps what was tried
    assert 'value="shop-db/redis" checked' in page
    state = client.get(run_url).json()
    assert state["status"] == "pending" and state["id"] == run.pk
    # Bad input still answers at once, without a run.
    bad = client.post(url(), {"yaml": "kind: Secret\n", "run": "1"})
    assert bad.status_code == 400 and WhatIfRun.objects.count() == 1


@pytest.mark.django_db
def test_a_computed_run_shows_what_an_inline_run_shows(client_as, demo_snapshot, worker_runs):
    from auditor.whatif.services import whatif_run_execute, whatif_run_request

    client = client_as("auditor")
    run = whatif_run_request(
        snapshot=demo_snapshot, user=None, text=DENY_BATCH, remove=[], notes=[], enqueue=False
    )
    done = whatif_run_execute(run_id=run.pk)
    assert done.status == "complete" and done.progress == "done" and done.error == ""
    assert whatif_run_execute(run_id=run.pk) is None  # a second delivery finds it taken
    assert client.get(reverse("webui:whatif_run", args=["demo", run.pk])).json()["status"] == (
        "complete"
    )
    stored = client.get(f"{url()}?run={run.pk}").content.decode()
    worker_runs.WHATIF_INLINE_MAX_PODS = 10_000
    inline = client.post(url(), {"yaml": DENY_BATCH, "run": "1"}).content.decode()
    for text in (
        "This change cuts DNS.",
        "explicitly allows.",
        "batch/CronJob/db-backup → shop-db/StatefulSet/postgres on TCP/5432",
        "Findings removed",
        # 61: the demo's two one-pod workloads of batch reaching themselves are loopback
        "<h3>Connections lost <small>61</small></h3>",
    ):
        assert text in stored and text in inline, text
    assert "data-run-url" not in stored


@pytest.mark.django_db
def test_a_run_whose_worker_died_fails_with_a_message(client_as, demo_snapshot, worker_runs):
    from datetime import timedelta

    from django.utils import timezone

    from auditor.models import WhatIfRun
    from auditor.whatif.services import whatif_run_request

    run = whatif_run_request(
        snapshot=demo_snapshot, user=None, text=DENY_BATCH, remove=[], notes=[], enqueue=False
    )
    beat = timezone.now() - timedelta(seconds=worker_runs.WHATIF_STALE_AFTER - 5)
    WhatIfRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=beat)
    client = client_as("auditor")
    status_url = reverse("webui:whatif_run", args=["demo", run.pk])
    assert client.get(status_url).json()["status"] == "running"  # still beating
    WhatIfRun.objects.filter(pk=run.pk).update(heartbeat_at=beat - timedelta(seconds=10))
    state = client.get(status_url).json()
    assert state["status"] == "failed"
    assert "worker stopped during this what-if" in state["error"]
    page = client.get(f"{url()}?run={run.pk}").content.decode()
    assert "Cannot run this what-if." in page and "Run it again." in page
    assert "data-run-url" not in page


@pytest.mark.django_db
def test_runs_are_for_auditors_and_of_their_own_cluster(client_as, demo_snapshot, worker_runs):
    from auditor.whatif.services import whatif_run_request

    run = whatif_run_request(
        snapshot=demo_snapshot, user=None, text=DENY_BATCH, remove=[], notes=[], enqueue=False
    )
    status_url = reverse("webui:whatif_run", args=["demo", run.pk])
    assert client_as("viewer").get(status_url).status_code == 403
    Cluster.objects.create(name="other", manifest_path="x")
    other = client_as("auditor")
    assert other.get(reverse("webui:whatif_run", args=["other", run.pk])).status_code == 404
    assert "data-run-url" not in other.get(f"{url('other')}?run={run.pk}").content.decode()
    assert other.get(f"{url()}?run=nope").status_code == 404


def test_a_what_if_on_a_calico_cluster_keeps_every_kind():
    """The changed cluster is the snapshot's with only the pasted policy changed: Calico's
    tiers, network sets, ServiceAccounts and staged policies stay, on both paths."""
    base = load_paths([Path(__file__).parent / "fixtures" / "cli" / "calico.yaml"])
    # Replace a Kubernetes policy, which sits in Calico's default tier at order 1000:
    # web admits its own namespace instead of monitoring.
    spec = "podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {}}]}]"
    add = whatif.read_policies(policy("web-from-monitoring", "shop", spec))[0]
    for incremental in (True, False):
        model, _ = whatif.changed_model(base, add=add, remove=set(), incremental=incremental)
        for kind in (
            "calico_policies",
            "calico_tiers",
            "calico_network_sets",
            "service_accounts",
            "staged_policies",
        ):
            assert getattr(model, kind) == getattr(base, kind), kind
        assert model.calico_policies  # the fixture has some: the check is not vacuous
    fast = whatif.compare(base, add=add)
    full = whatif.compare(base, add=add, incremental=False)
    assert fast == full
    rows = {
        change: {(r["from"]["key"], r["to"]["key"], tuple(r["ports"])) for r in rows}
        for change, rows in fast["connections"].items()
        if change in ("gained", "lost")
    }
    assert rows["lost"] == {("monitoring/Pod/prom-0", "shop/Pod/web-0", ("TCP/8080",))}
    assert ("shop/Pod/db-0", "shop/Pod/web-0", ("all ports",)) in rows["gained"]


def test_a_one_pod_workload_reaching_itself_is_never_a_change(demo_model, monkeypatch):
    # A pod cannot block traffic to itself: isolating batch takes nothing from a workload
    # of one pod towards itself, while a workload of several pods loses its own traffic.
    pods: dict[str, int] = {}
    for pod in demo_model.pods:
        pods[pod.workload_key] = pods.get(pod.workload_key, 0) + 1
    policies, _ = whatif.read_policies(DENY_BATCH)

    lost = {
        (r["from"]["key"], r["to"]["key"])
        for r in whatif.compare(demo_model, add=policies)["connections"]["lost"]
    }

    itself = {src for src, dst in lost if src == dst}
    assert itself and all(pods[w] > 1 for w in itself)
    # Without leaving the loopback out, the one-pod workloads of batch would be listed.
    monkeypatch.setattr(whatif, "not_loopback", lambda model: None)
    unfiltered = whatif.compare(demo_model, add=policies)["connections"]["lost"]
    assert any(
        r["from"]["key"] == r["to"]["key"] and pods[r["to"]["key"]] == 1 for r in unfiltered
    )
