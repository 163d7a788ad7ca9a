"""The finding page read by people: evidence in words with the policy, the rule and its
YAML excerpt, the demonstration linked to the explain page; the stable link by
fingerprint (latest occurrence, resolved, aliases); no raw JSON or backticks."""

import re
import shutil
from html import unescape
from pathlib import Path
from unittest import mock

import pytest
from django.urls import reverse

from auditor import services
from auditor.models import Cluster, Finding, Snapshot
from webui.templatetags.evidence import evidence_rows, ticks

pytestmark = pytest.mark.django_db

DEMO = Path(__file__).resolve().parent.parent / "auditor" / "demo_cluster"


def text_of(html: str) -> str:
    """The words a reader sees: blocks apart, inline markup (code, links) run in."""
    spaced = re.sub(r"</?(?:dt|dd|dl|h\d|p|li|ul|div|pre|section|td|th|tr)\b[^>]*>", " ", html)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", spaced))).strip()


def evidence_section(page: str) -> str:
    return page[page.index("<h2>Evidence</h2>"):page.index("</dl>", page.index("<h2>Evidence</h2>"))]


def test_policy_rule_evidence_names_the_policy_the_rule_and_its_yaml(client_as, demo_snapshot):
    finding = Finding.objects.get(snapshot=demo_snapshot, rule="NP013", namespace="ingress-nginx")
    page = client_as("viewer").get(reverse("webui:finding", args=["demo", finding.pk])).content.decode()
    evidence = evidence_section(page)
    words = text_of(evidence)
    assert "NetworkPolicy ingress-nginx/ingress-nginx-controller" in words
    policy_url = reverse("webui:policy", args=["demo", "ingress-nginx", "ingress-nginx-controller"])
    assert f'href="{policy_url}?snapshot={demo_snapshot.pk}&amp;rule=ingress-0&amp;peer=0"' in evidence
    assert "The 1st ingress rule, spec.ingress[0] (ingress from 0.0.0.0/0 on TCP/80, TCP/443)" in words
    assert "The 1st entry of its from list, spec.ingress[0].from[0]: {ipBlock: {cidr: 0.0.0.0/0}}" in words
    # The rule's excerpt as YAML from the stored policy, not the whole policy.
    excerpt = unescape(re.search(r"<pre><code>(.*?)</code></pre>", evidence, re.S).group(1))
    assert excerpt.startswith("spec:\n  ingress:\n  - from:\n    - ipBlock:\n        cidr: 0.0.0.0/0")
    assert "podSelector" not in excerpt and "metadata" not in excerpt
    assert "Ports TCP/80, TCP/443" in words
    assert "{&quot;" not in evidence and '{"' not in evidence and "`" not in words


def test_probe_is_a_sentence_linked_to_explain_prefilled(client_as, demo_snapshot):
    finding = Finding.objects.get(snapshot=demo_snapshot, rule="NP022")
    client = client_as("viewer")
    page = client.get(reverse("webui:finding", args=["demo", finding.pk])).content.decode()
    words = text_of(evidence_section(page))
    assert ("Demonstration A connection from shop-backend/catalog-0 to 169.254.169.254 on TCP 1 is allowed "
            "by this rule. Explain this connection") in words
    link = unescape(re.search(r'href="([^"]*/reach/\?[^"]*)"', page).group(1))
    assert link == (f"{reverse('webui:reach', args=['demo'])}?from=shop-backend%2Fcatalog-0&to=169.254.169.254"
                    f"&port=1&protocol=TCP&snapshot={demo_snapshot.pk}")
    explained = client.get(link)
    assert explained.status_code == 200 and "catalog-egress-internet" in explained.content.decode()


def test_workloads_are_linked_with_their_open_pods(client_as, demo_snapshot):
    finding = Finding.objects.get(snapshot=demo_snapshot, rule="NP002", namespace="kube-system")
    page = client_as("viewer").get(reverse("webui:finding", args=["demo", finding.pk])).content.decode()
    url = reverse("webui:workload", args=["demo", "kube-system", "Deployment", "coredns"])
    assert f'<a href="{url}?snapshot={demo_snapshot.pk}">Deployment/kube-system/coredns</a>' in page
    assert "Deployment/kube-system/coredns 2 of 2 pods open" in text_of(page)
    # The workloads' counts are not repeated as a raw list under the evidence.
    assert "open_pods" not in page


def test_backticks_of_the_catalogue_become_code_and_markup_is_escaped():
    assert ticks("a rule (`- {}` or only `ports`) <b>") == "a rule (<code>- {}</code> or only <code>ports</code>) &lt;b&gt;"


def test_unknown_keys_read_as_labelled_values_never_json():
    rows = evidence_rows({"plugins": ["calico"], "evidence": {"calico": ["DaemonSet/kube-system/calico-node"]},
                          "new_thing": {"a_b": 1}}, cluster="demo", snapshot_id=1, policy_spec=None)
    words = {r["label"]: text_of(str(r["html"])) for r in rows}
    assert words == {"CNI plugins seen": "calico", "Workloads per plugin": "calico: DaemonSet/kube-system/calico-node",
                     "New thing": "a b: 1"}
    # NP004: the namespace's policies by name, linked in the finding's namespace.
    rows = evidence_rows({"policies": ["allow-web"], "pods": 4}, cluster="demo", snapshot_id=1, policy_spec=None,
                         namespace="shop")
    assert [(r["label"], text_of(str(r["html"]))) for r in rows] == [("Policies", "shop/allow-web"),
                                                                      ("Running pods", "4")]
    assert reverse("webui:policy", args=["demo", "shop", "allow-web"]) in str(rows[0]["html"])
    # NP039 when no plugin is found: the plugins say "none", the empty mapping is left out.
    rows = evidence_rows({"plugins": [], "evidence": {}}, cluster="demo", snapshot_id=1, policy_spec=None)
    assert [(r["label"], text_of(str(r["html"]))) for r in rows] == [("CNI plugins seen", "none")]


def test_old_snapshot_page_says_a_newer_one_exists(client_as, demo_snapshot):
    finding = Finding.objects.get(snapshot=demo_snapshot, rule="NP022")
    with mock.patch("django.db.transaction.on_commit"):
        newer = services.snapshot_request(cluster=demo_snapshot.cluster, enqueue=False)
        services.snapshot_collect(snapshot_id=newer.pk)
        services.snapshot_analyze(snapshot=Snapshot.objects.get(pk=newer.pk))
    client = client_as("viewer")
    old = client.get(reverse("webui:finding", args=["demo", finding.pk])).content.decode()
    stable = reverse("webui:finding_fp", args=["demo", finding.fingerprint])
    assert f"a newer snapshot (#{newer.pk}) exists" in old and f'href="{stable}"' in old
    latest = client.get(stable).content.decode()
    assert f"snapshot #{newer.pk}, fingerprint {finding.fingerprint}" in text_of(latest)
    assert "a newer snapshot" not in latest and "Resolved in" not in latest
    assert f"http://testserver{stable}" in latest  # the link to copy


@pytest.fixture
def changing_cluster(tmp_path):
    """A copy of the demo whose next snapshot drops shop-frontend/admin-ui-allow-all."""
    shutil.copytree(DEMO, tmp_path / "cluster")
    cluster = Cluster.objects.create(name="changing", source=Cluster.Source.MANIFESTS,
                                     manifest_path=str(tmp_path / "cluster"))

    def snapshot():
        with mock.patch("django.db.transaction.on_commit"):
            taken = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False)
            services.snapshot_collect(snapshot_id=taken.pk)
            services.snapshot_analyze(snapshot=Snapshot.objects.get(pk=taken.pk))
        return Snapshot.objects.get(pk=taken.pk)

    def drop_allow_all():
        path = tmp_path / "cluster" / "shop-frontend.yaml"
        docs = path.read_text().split("\n---\n")
        kept = [d for d in docs if "name: admin-ui-allow-all" not in d]
        assert len(kept) == len(docs) - 1, "the demo's shop-frontend.yaml should hold admin-ui-allow-all"
        path.write_text("\n---\n".join(kept))

    return cluster, snapshot, drop_allow_all


def test_stable_link_of_a_resolved_finding_says_when(client_as, changing_cluster):
    cluster, snapshot, drop_allow_all = changing_cluster
    first = snapshot()
    finding = Finding.objects.get(snapshot=first, rule="NP010")
    drop_allow_all()
    second = snapshot()
    assert not Finding.objects.filter(snapshot=second, fingerprint=finding.fingerprint).exists()
    snapshot()  # a third: "resolved in" names the first snapshot without it, not the latest
    page = client_as("viewer").get(reverse("webui:finding_fp", args=["changing", finding.fingerprint]))
    words = text_of(page.content.decode())
    assert page.status_code == 200
    assert (f"Resolved in snapshot #{second.pk} on {second.finished_at:%Y-%m-%d}" in words
            and f"this page shows snapshot #{first.pk}" in words)


def test_an_alias_fingerprint_redirects_to_the_finding_standing_for_it(client_as, demo_snapshot):
    finding = Finding.objects.filter(snapshot=demo_snapshot, rule="NP002", namespace="kube-system").get()
    client = client_as("viewer")
    response = client.get(reverse("webui:finding_fp", args=["demo", finding.aliases[1]]))
    assert response.status_code == 302
    assert response["Location"] == reverse("webui:finding_fp", args=["demo", finding.fingerprint])
    missing = client.get(reverse("webui:finding_fp", args=["demo", "0" * 24]))
    assert missing.status_code == 404
    assert f"demo has no finding with fingerprint &#x27;{'0' * 24}&#x27;" in missing.content.decode()


def test_a_namespace_finding_counting_its_workloads_reads_as_rows(client_as, demo_snapshot):
    finding = Finding.objects.get(snapshot=demo_snapshot, rule="NP032")  # "workloads": a count, not a list
    page = client_as("viewer").get(reverse("webui:finding", args=["demo", finding.pk]))
    words = text_of(evidence_section(page.content.decode()))
    assert page.status_code == 200
    assert "Policies restricting its egress payments/payments-api" in words
    policy_url = reverse("webui:policy", args=["demo", "payments", "payments-api"])
    assert f'href="{policy_url}?snapshot={demo_snapshot.pk}"' in page.content.decode()
    assert "DNS pods kube-system/coredns-0, kube-system/coredns-1" in words
    assert "A connection from payments/payments-api-0 to kube-system/coredns-0 on UDP 53 is denied." in words


def test_an_invalid_field_and_a_shadowing_rule_are_named():
    invalid = evidence_rows({"policy": "shop/bad", "field": "spec.ingress[0].from[1].ipBlock.except[0]",
                             "message": "must be inside the cidr"}, cluster="demo", snapshot_id=3, policy_spec={})
    assert [(r["label"], text_of(str(r["html"]))) for r in invalid] == [
        ("Policy", "NetworkPolicy shop/bad"),
        ("Field", "spec.ingress[0].from[1].ipBlock.except[0]"),
        ("Problem", "must be inside the cidr"),
    ]
    spec = {"egress": [{"to": [{"podSelector": {}}]}, {"to": [{"podSelector": {"matchLabels": {"app": "db"}}}],
                                                        "ports": [{"port": 5432}]}]}
    shadowed = evidence_rows({"policy": "shop/egress", "direction": "egress", "rule": 1,
                              "shadowed_by": {"policy": "shop/egress", "rule": 0}},
                             cluster="demo", snapshot_id=3, policy_spec=spec)
    words = {r["label"]: text_of(str(r["html"])) for r in shadowed}
    assert words["Rule"] == ("The 2nd egress rule, spec.egress[1] "
                             "(egress to {podSelector: {matchLabels: {app: db}}} on TCP/5432)")
    assert words["Shadowed by"] == "the 1st egress rule of shop/egress"
    assert 'rule=egress-0' in str(shadowed[-1]["html"])
    assert shadowed[1]["yaml"] == ("spec:\n  egress:\n  - to:\n    - podSelector:\n        matchLabels:\n"
                                   "          app: db\n    ports:\n    - port: 5432\n")


@pytest.mark.parametrize("rule", ["NP001", "NP002", "NP010", "NP011", "NP012", "NP020", "NP022", "NP024", "NP030",
                                  "NP032"])
def test_every_demonstration_of_the_demo_explains(client_as, demo_snapshot, rule):
    """The explain link of each rule's demonstration opens the explanation, not a form error."""
    client = client_as("viewer")
    demonstrated = [f for f in Finding.objects.filter(snapshot=demo_snapshot, rule=rule) if "probe" in f.evidence]
    assert demonstrated, f"the demo should demonstrate {rule}"
    for finding in demonstrated:
        page = client.get(reverse("webui:finding", args=["demo", finding.pk])).content.decode()
        link = unescape(re.search(r'href="([^"]*/reach/\?[^"]*)"', page).group(1))
        explained = client.get(link)
        assert explained.status_code == 200, f"{rule} {link}: {explained.status_code}"
        probe = finding.evidence["probe"]
        assert f'value="{probe["src"]}"' in explained.content.decode()


def test_an_alias_redirect_says_why(client_as, demo_snapshot):
    finding = Finding.objects.filter(snapshot=demo_snapshot, rule="NP001", namespace="kube-system").get()
    page = client_as("viewer").get(reverse("webui:finding_fp", args=["demo", finding.aliases[0]]), follow=True)
    words = text_of(page.content.decode())
    assert f"{finding.aliases[0]} was a per-workload finding; it is now part of this one" in words
    assert f"fingerprint {finding.fingerprint}" in words
