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
