"""Overview, namespaces, findings, waivers and history pages, for every role."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from auditor import services
from auditor.models import Cluster, Finding, Snapshot, Waiver
from auditor.services import snapshot_analyze

pytestmark = pytest.mark.django_db

READ_PAGES = [
    ("webui:home", ()),
    ("webui:cluster", ("demo",)),
    ("webui:findings", ("demo",)),
    ("webui:waivers", ("demo",)),
    ("webui:cluster_snapshots", ("demo",)),
]


@pytest.fixture
def token_cluster():
    cluster = Cluster(name="prod", source=Cluster.Source.TOKEN, api_url="https://k8s.example:6443")
    cluster.set_token("super-secret-token")
    cluster.save()
    return cluster


def a_finding(snapshot, rule="NP010") -> Finding:
    return Finding.objects.filter(snapshot=snapshot, rule=rule).first()


@pytest.mark.parametrize("url_name, args", READ_PAGES)
def test_every_role_reads_and_strangers_do_not(client_as, demo_snapshot, url_name, args):
    url = reverse(url_name, args=args)
    for role in ("viewer", "auditor", "admin"):
        assert client_as(role).get(url).status_code == 200, role
    response = client_as("stranger").get(url)
    assert response.status_code == 403
    assert b"needs the viewer role" in response.content


@pytest.mark.parametrize("url_name, args", READ_PAGES)
def test_anonymous_is_sent_to_login(client, url_name, args):
    response = client.get(reverse(url_name, args=args))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_unknown_cluster_is_404(client_as):
    assert client_as("viewer").get(reverse("webui:cluster", args=["nope"])).status_code == 404


def test_overview_shows_score_coverage_and_findings(client_as, demo_snapshot):
    page = client_as("viewer").get(reverse("webui:home")).content.decode()
    # The demo has 51 running pods, 39 isolated for ingress and 37 for egress:
    # (39 + 37) / (2 × 51) = 74.5 %.
    assert '<span class="label">Coverage</span>\n      <span class="value">74.5%</span>' in page
    # Namespace scores (docs/findings.md#score) weighted by running pods: 45 of 100.
    assert demo_snapshot.analysis.score == 45
    assert "45<small>/100</small>" in page
    # with its reason and the first fixes, linked to their findings
    assert (
        "74.5% covered, 5 of 8 namespaces pass CIS 5.3.2; score 45, 55 points lost, 15.7 of them "
        "to Namespace with no NetworkPolicy (NP003, 1 namespace) and 16 other rules: fix that first."
    ) in page
    assert 'href="/clusters/demo/findings/?rule=NP003" title="Apply a default-deny policy' in page
    assert demo_snapshot.analysis.finding_counts == {"high": 7, "medium": 14, "low": 8}
    for count in ("0 critical", "7 high", "14 medium", "8 low"):
        assert f">{count}</a>" in page, count
    assert "Snapshot now" not in page  # viewers cannot trigger


def test_overview_empty_state(client_as):
    page = client_as("viewer").get(reverse("webui:home")).content.decode()
    assert "No cluster registered yet" in page and "setup_demo" in page


def test_first_snapshot_running_is_explained(client_as, token_cluster):
    Snapshot.objects.create(cluster=token_cluster, status="running", progress="collecting: 1,200 objects received")
    client = client_as("viewer")
    assert "collecting: 1,200 objects received" in client.get(reverse("webui:home")).content.decode()
    page = client.get(reverse("webui:cluster", args=["prod"])).content.decode()
    assert "The first snapshot is running" in page


def test_failed_snapshot_says_what_to_do_and_hides_no_token(client_as, token_cluster):
    Snapshot.objects.create(cluster=token_cluster, status="failed", error="forbidden: cannot list pods")
    client = client_as("viewer")
    home = client.get(reverse("webui:home")).content.decode()
    assert "forbidden: cannot list pods" in home and "super-secret-token" not in home
    page = client.get(reverse("webui:cluster", args=["prod"])).content.decode()
    assert "The last snapshot failed" in page and "deploy/rbac.yaml" in page


def test_snapshot_now_for_auditors_only(client_as, demo_snapshot, django_capture_on_commit_callbacks):
    url = reverse("webui:snapshot_now", args=["demo"])
    assert client_as("viewer").post(url).status_code == 403
    client = client_as("auditor")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, follow=True)
    assert "queued" in response.content.decode() and len(callbacks) == 1
    again = client.post(url, follow=True).content.decode()
    assert "already pending or running; this one was skipped" in again
    assert client.get(url).status_code == 405  # a GET never triggers


def test_progress_json(client_as, demo_snapshot):
    services.snapshot_request(cluster=demo_snapshot.cluster, enqueue=False)
    state = client_as("viewer").get(reverse("webui:snapshot_progress", args=["demo"])).json()
    assert state["active"]["status"] == "pending"
    assert state["last"]["status"] == "complete"
    assert state["analysis"]["snapshot"] == demo_snapshot.pk and state["analysis"]["status"] == "complete"


def test_progress_says_how_long_an_analysis_waits_for_a_worker(client_as, demo_snapshot):
    from datetime import timedelta

    from django.utils import timezone

    from auditor.models import Snapshot

    Snapshot.objects.filter(pk=demo_snapshot.pk).update(finished_at=timezone.now() - timedelta(minutes=10))
    queued = Snapshot.objects.create(
        cluster=demo_snapshot.cluster, status="complete", finished_at=timezone.now() - timedelta(minutes=5)
    )
    state = client_as("viewer").get(reverse("webui:snapshot_progress", args=["demo"])).json()
    assert state["analysis"]["snapshot"] == queued.pk
    assert state["analysis"]["status"] == "pending"  # no Analysis row: nobody took the task
    assert state["analysis"]["waited_seconds"] >= 300 and state["analysis"]["waiting"] == "5\xa0minutes"


def test_namespaces_table_sorts_filters_and_searches(client_as, demo_snapshot):
    client = client_as("viewer")
    url = reverse("webui:cluster", args=["demo"])
    page = client.get(url + "?sort=-findings").content.decode()
    assert page.index("kube-system") < page.index("shop-db")
    no_policy = client.get(url + "?show=no-policy").content.decode()
    assert "batch" in no_policy and "shop-db" not in no_policy
    found = client.get(url + "?q=storefront").content.decode()
    assert "Matches for “storefront”" in found and "shop-frontend/storefront" in found
    assert client.get(url + "?sort=bogus&page=zz").status_code == 200


def test_bad_snapshot_parameter_is_explained(client_as, demo_snapshot):
    client = client_as("viewer")
    url = reverse("webui:cluster", args=["demo"])
    bad = client.get(url + "?snapshot=abc")
    assert bad.status_code == 400 and "abc&#x27; is not a snapshot number" in bad.content.decode()
    missing = client.get(url + "?snapshot=999")
    assert missing.status_code == 404 and "has no snapshot #999" in missing.content.decode()


def test_findings_filter_by_severity_rule_namespace(client_as, demo_snapshot):
    client = client_as("viewer")
    url = reverse("webui:findings", args=["demo"])
    high = client.get(url + "?severity=high").content.decode()
    assert "<td>NP010</td>" in high and "<td>NP014</td>" not in high
    rule = client.get(url + "?rule=np003").content.decode()
    assert "<td>NP003</td>" in rule and "<td>NP010</td>" not in rule
    ns = client.get(url + "?namespace=payments").content.decode()
    assert "payments" in ns and "admin-ui" not in ns
    bad = client.get(url + "?severity=urgent&rule=XX1", follow=True).content.decode()
    assert "Unknown severity" in bad and "Unknown rule" in bad


def test_new_since_previous_snapshot(client_as, demo_snapshot):
    client = client_as("viewer")
    url = reverse("webui:findings", args=["demo"]) + "?new=1"
    assert "This is the first snapshot" in client.get(url, follow=True).content.decode()
    second = services.snapshot_request(cluster=demo_snapshot.cluster, enqueue=False)
    services.snapshot_collect(snapshot_id=second.pk)
    snapshot_analyze(snapshot=Snapshot.objects.get(pk=second.pk))
    page = client.get(url).content.decode()
    assert "No finding matches these filters" in page  # same cluster, nothing new


def test_finding_detail_shows_evidence_remediation_and_snippet(client_as, demo_snapshot):
    finding = a_finding(demo_snapshot, "NP003")
    page = client_as("viewer").get(reverse("webui:finding", args=["demo", finding.pk])).content.decode()
    assert finding.message in page and "Why it matters" in page and "Copy YAML" in page
    assert "kind: NetworkPolicy" in page
    assert "Waive this finding" not in page  # viewers cannot waive


def test_waiver_follows_the_finding_and_lapses(client_as, demo_snapshot, personas):
    finding = a_finding(demo_snapshot)
    url = reverse("webui:finding_waive", args=["demo", finding.pk])
    expires = (timezone.now() + timedelta(days=30)).date().isoformat()
    assert client_as("viewer").post(url, {"reason": "accepted risk", "expires": expires}).status_code == 403
    client = client_as("auditor")
    response = client.post(url, {"reason": "admin UI is behind the VPN", "expires": expires}, follow=True)
    assert "waived until" in response.content.decode()
    waiver = Waiver.objects.get()
    assert waiver.author == personas["auditor"] and waiver.fingerprint == finding.fingerprint
    listing = client.get(reverse("webui:findings", args=["demo"])).content.decode()
    assert f"/findings/{finding.pk}/" not in listing  # hidden while waived
    assert f"/findings/{finding.pk}/" in client.get(reverse("webui:findings", args=["demo"]) + "?waived=only").content.decode()
    # The next snapshot's same finding is waived too.
    second = services.snapshot_request(cluster=demo_snapshot.cluster, enqueue=False)
    services.snapshot_collect(snapshot_id=second.pk)
    snapshot_analyze(snapshot=Snapshot.objects.get(pk=second.pk))
    later = Finding.objects.get(snapshot_id=second.pk, fingerprint=finding.fingerprint)
    assert "Waived by auditor" in client.get(reverse("webui:finding", args=["demo", later.pk])).content.decode()
    # Once expired it counts again.
    Waiver.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert f"/findings/{later.pk}/" in client.get(reverse("webui:findings", args=["demo"])).content.decode()


@pytest.mark.parametrize(
    "reason, days, message",
    [("", 30, "Reason: Say why"), ("fine by me", -1, "must be in the future"), ("fine by me", 400, "at most 365 days")],
)
def test_bad_waivers_are_refused_with_a_reason(client_as, demo_snapshot, reason, days, message):
    finding = a_finding(demo_snapshot)
    expires = (timezone.now() + timedelta(days=days)).date().isoformat()
    response = client_as("auditor").post(reverse("webui:finding_waive", args=["demo", finding.pk]),
                                         {"reason": reason, "expires": expires}, follow=True)
    assert message in response.content.decode()
    assert not Waiver.objects.exists()


def test_waiver_revoked_by_an_auditor(client_as, demo_snapshot, personas):
    finding = a_finding(demo_snapshot)
    waiver = services.waiver_create(finding=finding, author=personas["auditor"], reason="temporary exception",
                                    expires_at=timezone.now() + timedelta(days=5))
    url = reverse("webui:waiver_revoke", args=["demo", waiver.pk])
    assert client_as("viewer").post(url).status_code == 403
    page = client_as("auditor").post(url, follow=True).content.decode()
    assert "revoked" in page
    assert Waiver.objects.get().revoked_at is not None


def test_finding_of_another_cluster_is_404(client_as, demo_snapshot, token_cluster):
    finding = a_finding(demo_snapshot)
    assert client_as("viewer").get(reverse("webui:finding", args=["prod", finding.pk])).status_code == 404


def test_diff_between_two_snapshots(client_as, demo_snapshot, tmp_path):
    client = client_as("viewer")
    url = reverse("webui:diff", args=["demo"])
    first = client.get(url)
    assert first.status_code == 404 and "nothing to compare it with yet" in first.content.decode()
    second = services.snapshot_request(cluster=demo_snapshot.cluster, enqueue=False)
    services.snapshot_collect(snapshot_id=second.pk)
    snapshot_analyze(snapshot=Snapshot.objects.get(pk=second.pk))
    page = client.get(url).content.decode()
    assert f"Changes from #{demo_snapshot.pk} to #{second.pk}" in page
    assert client.get(url + "?old=x").status_code == 400
    assert client.get(url + f"?old={demo_snapshot.pk}&new=999").status_code == 404


def test_security_headers_and_csp_nonce(client_as, demo_snapshot):
    response = client_as("viewer").get(reverse("webui:home"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert b"<script>" not in response.content  # no inline script without a nonce


def test_admin_answers_and_never_renders_the_token(admin_client, token_cluster):
    assert admin_client.get(reverse("admin:index")).status_code == 200
    page = admin_client.get(reverse("admin:auditor_cluster_change", args=[token_cluster.pk])).content.decode()
    assert "super-secret-token" not in page and token_cluster.token_encrypted not in page
    assert admin_client.get(reverse("admin:auditor_snapshot_changelist")).status_code == 200


def test_admin_sets_a_token_and_keeps_it_when_left_empty(admin_client, token_cluster):
    url = reverse("admin:auditor_cluster_change", args=[token_cluster.pk])
    form = {"name": "prod", "source": "token", "api_url": "https://k8s.example:6443", "snapshot_interval": 600,
            "enabled": "on", "verify_tls": "on", "token": "", "unused_rule_window": 30}
    assert admin_client.post(url, form).status_code == 302
    assert Cluster.objects.get(pk=token_cluster.pk).get_token() == "super-secret-token"
    assert admin_client.post(url, {**form, "token": "new-token"}).status_code == 302
    cluster = Cluster.objects.get(pk=token_cluster.pk)
    assert cluster.get_token() == "new-token" and cluster.periodic_task.interval.every == 600
