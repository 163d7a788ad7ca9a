"""The API, the API tokens page and /metrics; included at the site root by config.urls."""

from django.urls import path, re_path

from auditor import metrics

from . import pages, views

app_name = "api"
urlpatterns = [
    path("api/v1/schema.json", views.schema, name="schema"),
    path("api/v1/me", views.me, name="me"),
    path("api/v1/clusters", views.cluster_list, name="clusters"),
    path("api/v1/clusters/<slug:name>", views.cluster_detail, name="cluster"),
    path("api/v1/clusters/<slug:name>/snapshots", views.snapshot_list, name="snapshots"),
    path("api/v1/clusters/<slug:name>/snapshots/<int:pk>", views.snapshot_detail, name="snapshot"),
    path("api/v1/clusters/<slug:name>/findings", views.finding_list, name="findings"),
    path(
        "api/v1/clusters/<slug:name>/findings/groups",
        views.finding_group_list,
        name="finding_groups",
    ),
    path("api/v1/clusters/<slug:name>/findings/<int:pk>", views.finding_detail, name="finding"),
    path("api/v1/clusters/<slug:name>/reach", views.reach, name="reach"),
    path("api/v1/clusters/<slug:name>/reports", views.report_list, name="reports"),
    path("api/v1/clusters/<slug:name>/teams", views.team_list, name="teams"),
    path("api/v1/clusters/<slug:name>/reports/<int:pk>", views.report_detail, name="report"),
    re_path(r"^api/", views.not_found),  # any other path under api/, newlines included
    path("account/api-tokens/", pages.token_list, name="tokens"),
    path("account/api-tokens/<int:pk>/revoke/", pages.token_revoke, name="token_revoke"),
    path("metrics", metrics.metrics_view, name="metrics"),
]
