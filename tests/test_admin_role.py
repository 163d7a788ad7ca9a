"""The admin group manages clusters and users in Django's admin, as the README says;
the other roles do not get in."""

from __future__ import annotations

import pytest

from auditor.models import Cluster


def test_the_admin_group_manages_clusters_and_users(client_as, personas):
    # The role alone is enough: neither staff nor superuser.
    type(personas["admin"]).objects.filter(pk=personas["admin"].pk).update(is_staff=False)
    admin = client_as("admin")
    for url in ("/admin/", "/admin/auditor/cluster/", "/admin/auditor/cluster/add/",
                "/admin/auth/user/", f"/admin/auth/user/{personas['viewer'].pk}/change/"):
        assert admin.get(url).status_code == 200, url
    response = admin.post("/admin/auditor/cluster/add/", {
        "name": "added-by-admin-role", "source": "manifests", "manifest_path": "auditor/demo_cluster",
        "snapshot_interval": 3600, "enabled": "on", "unused_rule_window": 30,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Cluster.objects.filter(name="added-by-admin-role").exists()


@pytest.mark.parametrize("role", ["viewer", "auditor", "stranger"])
def test_other_roles_are_sent_to_log_in_as_someone_else(client_as, role):
    response = client_as(role).get("/admin/auditor/cluster/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
