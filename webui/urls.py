from django.urls import path

from .views import cluster, findings, graph, history, namespace, objects, overview, teams, whatif

app_name = "webui"
urlpatterns = [
    path("", overview.home, name="home"),
    path("clusters/<slug:name>/", cluster.namespaces, name="cluster"),
    path("clusters/<slug:name>/snapshot/", overview.snapshot_now, name="snapshot_now"),
    path("clusters/<slug:name>/progress/", overview.snapshot_progress, name="snapshot_progress"),
    path("clusters/<slug:name>/snapshots/", overview.cluster_snapshots, name="cluster_snapshots"),
    path("clusters/<slug:name>/findings/", findings.finding_list, name="findings"),
    path("clusters/<slug:name>/findings/waive/", findings.finding_waive_selection, name="findings_waive"),
    path("clusters/<slug:name>/findings/<int:pk>/", findings.finding_detail, name="finding"),
    # A finding's stable link: its latest occurrence, whichever snapshot that is.
    path("clusters/<slug:name>/findings/fp/<str:fingerprint>/", findings.finding_by_fingerprint, name="finding_fp"),
    path("clusters/<slug:name>/findings/<int:pk>/waive/", findings.finding_waive, name="finding_waive"),
    path("clusters/<slug:name>/waivers/", findings.waiver_list, name="waivers"),
    path("clusters/<slug:name>/waivers/<int:pk>/revoke/", findings.waiver_revoke, name="waiver_revoke"),
    path("clusters/<slug:name>/diff/", history.snapshot_diff, name="diff"),
    # Objects of the current (or ?snapshot=ID) snapshot.
    path("clusters/<slug:name>/pods/<str:namespace>/<str:pod>/", objects.pod_detail, name="pod"),
    path("clusters/<slug:name>/workloads/<str:namespace>/<str:kind>/<str:workload>/", objects.workload_detail, name="workload"),
    path("clusters/<slug:name>/policies/<str:namespace>/<str:policy>/", objects.policy_detail, name="policy"),
    # Policies of the other kinds (ClusterNetworkPolicy, AdminNetworkPolicy, Cilium...), by
    # their API kind: cluster-scoped, and namespaced.
    path("clusters/<slug:name>/cluster-policies/<str:kind>/<str:policy>/", objects.kind_policy_detail, name="cluster_policy"),
    path("clusters/<slug:name>/kind-policies/<str:kind>/<str:namespace>/<str:policy>/", objects.kind_policy_detail, name="kind_policy"),
    path("clusters/<slug:name>/reach/", objects.explain_connection, name="reach"),
    # Graphs: the page, and the Cytoscape elements it loads.
    path("clusters/<slug:name>/graph/", graph.graph_page, name="graph"),
    path("clusters/<slug:name>/graph/elements.json", graph.graph_elements, name="graph_elements"),
    path("clusters/<slug:name>/what-if/", whatif.whatif_page, name="whatif"),
    path("clusters/<slug:name>/what-if/runs/<int:pk>/", whatif.whatif_run, name="whatif_run"),
    path("clusters/<slug:name>/namespaces/<str:namespace>/", namespace.namespace_page, name="namespace"),
    path("clusters/<slug:name>/teams/", teams.teams_page, name="teams"),
]

# --- Reports: schedules, stored reports, exports and deliveries (webui/views/reports.py)
from .views import reports  # noqa: E402

urlpatterns += [
    path("clusters/<slug:name>/reports/", reports.report_list, name="reports"),
    path("clusters/<slug:name>/reports/<int:pk>/", reports.report_detail, name="report"),
    path("clusters/<slug:name>/reports/<int:pk>/export.<str:fmt>", reports.report_export, name="report_export"),
    path("clusters/<slug:name>/reports/schedules/new/", reports.schedule_create, name="report_schedule_new"),
    path("clusters/<slug:name>/reports/schedules/<int:pk>/", reports.schedule_edit, name="report_schedule"),
    path("clusters/<slug:name>/reports/schedules/<int:pk>/delete/", reports.schedule_delete, name="report_schedule_delete"),
    path("clusters/<slug:name>/reports/schedules/<int:pk>/run/", reports.schedule_run, name="report_schedule_run"),
    path("clusters/<slug:name>/reports/deliveries/<int:pk>/retry/", reports.delivery_retry, name="report_delivery_retry"),
    # Any complete snapshot's report, built on demand and cached (auditor/reports/ondemand.py).
    path("clusters/<slug:name>/snapshots/<int:pk>/report.<str:fmt>", reports.snapshot_report, name="snapshot_report"),
]

# --- Attack paths to the cluster's crown jewels (webui/views/paths.py)
from .views import paths  # noqa: E402

urlpatterns += [
    path("clusters/<slug:name>/attack-paths/", paths.attack_paths_page, name="attack_paths"),
]

# --- Observed flows: import and replay (webui/views/flows.py)
from .views import flows  # noqa: E402

urlpatterns += [
    path("clusters/<slug:name>/flows/", flows.flows_page, name="flows"),
    path("clusters/<slug:name>/flows/suggest/", flows.suggest_page, name="flows_suggest"),
    path("clusters/<slug:name>/flows/runs/<int:pk>/", flows.flows_run, name="flows_run"),
]
