"""A finding about a Cilium policy (NP043, netpol/findings/kinds.py) on the finding page:
the policy is linked to its own page, and the evidence names the field that opens it.

The cluster is the Cilium demo (auditor/demo_cluster_cilium) plus one policy whose
`fromEntities: all` opens web's frontend to everything (Cilium, layer3.rst: `all`
"whitelists all communication")."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.urls import reverse

from auditor.models import Finding

from .test_pages_objects import _snapshot

CILIUM_DEMO = Path(__file__).resolve().parent.parent / "auditor" / "demo_cluster_cilium"

OPEN_FRONTEND = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: frontend-open, namespace: web}
spec:
  endpointSelector: {matchLabels: {app: frontend}}
  ingress:
  - fromEntities: [all]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
"""


def test_np043_renders_with_its_cilium_policy_linked(client_as, db, tmp_path):
    shutil.copytree(CILIUM_DEMO, tmp_path / "cluster")
    (tmp_path / "cluster" / "open.yaml").write_text(OPEN_FRONTEND)
    snapshot = _snapshot(tmp_path / "cluster", "open-web")
    finding = Finding.objects.get(snapshot=snapshot, rule="NP043")
    page = client_as("viewer").get(reverse("webui:finding", args=["open-web", finding.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    policy_url = reverse(
        "webui:kind_policy", args=["open-web", "CiliumNetworkPolicy", "web", "frontend-open"]
    )
    assert policy_url in text
    assert "spec.ingress[0].fromEntities" in text
    assert "Cilium rule open to every pod and the whole internet" in text
    # The policy's own page lists the finding.
    policy_page = client_as("viewer").get(policy_url).content.decode()
    assert "NP043" in policy_page


CALICO = Path(__file__).resolve().parent / "fixtures" / "cli" / "calico.yaml"

# No order: Calico applies it after the Kubernetes NetworkPolicy shop/web-from-monitoring
# (default tier, order 1000), whose Allow of monitoring then decides first (Calico Tier
# reference, "How Policy Is Evaluated").
NO_MONITORING = """
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: no-monitoring}
spec:
  selector: app == 'web'
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    source: {namespaceSelector: kubernetes.io/metadata.name == 'monitoring'}
    destination: {ports: [8080]}
"""


def test_np045_on_a_calico_policy_links_it_and_the_allow_before_it(client_as, db, tmp_path):
    (tmp_path / "calico.yaml").write_text(CALICO.read_text() + NO_MONITORING)
    snapshot = _snapshot(tmp_path, "calico-order")
    finding = Finding.objects.get(snapshot=snapshot, rule="NP045")
    text = (
        client_as("viewer")
        .get(reverse("webui:finding", args=["calico-order", finding.pk]))
        .content.decode()
    )
    gnp_url = reverse(
        "webui:cluster_policy", args=["calico-order", "CalicoGlobalNetworkPolicy", "no-monitoring"]
    )
    assert gnp_url in text
    assert reverse("webui:policy", args=["calico-order", "shop", "web-from-monitoring"]) in text
    assert "spec.ingress[0]" in text
    assert "NP045" in client_as("viewer").get(gnp_url).content.decode()
    assert Finding.objects.filter(snapshot=snapshot, rule="NP044").count() == 1
