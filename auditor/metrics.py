"""Prometheus ``/metrics``: each cluster's coverage, findings, score and snapshot health.

Computed from the database at scrape time by a custom collector, so every web process
answers the same and nothing has to be kept in step with the worker. A scrape costs four
queries whatever the number of clusters: the clusters with their current and last
finished snapshot ids, those snapshots with their analyses, the failed snapshots per
cluster, and the current findings grouped by rule, severity and waiver.

Access: clients from ``METRICS_ALLOWED_NETWORKS`` scrape without credentials; others
need ``Authorization: Bearer <METRICS_TOKEN>``. The address is the connection's own
(``REMOTE_ADDR``): behind a reverse proxy that is the proxy's, so use the token there.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, Subquery
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import CollectorRegistry

from netpol.collect.kinds import KIND_TABLE
from netpol.findings.catalogue import RULES, SEVERITIES
from netpol.findings.stored import cluster_counts

from . import throttle
from .models import Analysis, Cluster, Finding, Snapshot, Waiver
from .selectors import waived_through_aliases

# The metrics' "kind" label (the plural the engine takes them by) and the snapshot's count.
OBJECT_KINDS = {info.argument: info.count_field for info in KIND_TABLE.values()}


def _latest(cluster_ref, statuses) -> Subquery:
    return Subquery(
        Snapshot.objects.filter(cluster=cluster_ref, status__in=statuses)
        .order_by("-finished_at", "-id")
        .values("pk")[:1]
    )


class AuditorCollector:
    """Reads the database on each ``collect()``: one consistent picture per scrape."""

    def collect(self):
        now = timezone.now()
        g = {
            "coverage": GaugeMetricFamily(
                "netpol_coverage_ratio",
                "Share of running pods isolated by a NetworkPolicy, per direction (current snapshot).",
                labels=["cluster", "direction"],
            ),
            "workload_coverage": GaugeMetricFamily(
                "netpol_workload_coverage_ratio",
                "Share of workloads whose pods are all isolated, per direction (current snapshot).",
                labels=["cluster", "direction"],
            ),
            "findings": GaugeMetricFamily(
                "netpol_findings",
                'Findings of the current snapshot by severity; waived="true" counts those a waiver accepts.',
                labels=["cluster", "severity", "waived"],
            ),
            "by_rule": GaugeMetricFamily(
                "netpol_findings_by_rule",
                'Findings of the current snapshot by rule; waived="true" counts those a waiver accepts.',
                labels=["cluster", "rule", "waived"],
            ),
            "score": GaugeMetricFamily(
                "netpol_score", "Score of the current snapshot, 0-100.", labels=["cluster"]
            ),
            "objects": GaugeMetricFamily(
                "netpol_snapshot_objects",
                "Objects in the current snapshot, by kind.",
                labels=["cluster", "kind"],
            ),
            "age": GaugeMetricFamily(
                "netpol_snapshot_age_seconds",
                "Seconds since the current (newest complete) snapshot finished.",
                labels=["cluster"],
            ),
            "duration": GaugeMetricFamily(
                "netpol_snapshot_duration_seconds",
                "How long the current (newest complete) snapshot took to collect.",
                labels=["cluster"],
            ),
            "success": GaugeMetricFamily(
                "netpol_last_snapshot_success",
                "1 when the last finished snapshot completed, 0 when it failed.",
                labels=["cluster"],
            ),
        }
        failures = CounterMetricFamily(
            "netpol_snapshot_failures",
            "Failed snapshots of the cluster (those still in the database).",
            labels=["cluster"],
        )

        clusters = list(
            Cluster.objects.annotate(
                current_id=_latest(OuterRef("pk"), [Snapshot.Status.COMPLETE]),
                last_id=_latest(OuterRef("pk"), [Snapshot.Status.COMPLETE, Snapshot.Status.FAILED]),
            ).order_by("name")
        )
        ids = {c.current_id for c in clusters if c.current_id} | {
            c.last_id for c in clusters if c.last_id
        }
        snapshots = Snapshot.objects.select_related("analysis").in_bulk(ids)
        failed = {
            row["cluster_id"]: row["n"]
            for row in Snapshot.objects.filter(status=Snapshot.Status.FAILED)
            .order_by()  # the model's ordering would split the groups
            .values("cluster_id")
            .annotate(n=Count("id"))
        }
        grouped = self._finding_groups([c.current_id for c in clusters if c.current_id], now)

        for cluster in clusters:
            name = cluster.name
            failures.add_metric([name], failed.get(cluster.pk, 0))
            last = snapshots.get(cluster.last_id)
            if last is not None:
                g["success"].add_metric([name], 1 if last.status == Snapshot.Status.COMPLETE else 0)
            current = snapshots.get(cluster.current_id)
            if current is None:
                continue
            if current.finished_at:
                g["age"].add_metric([name], max(0.0, (now - current.finished_at).total_seconds()))
            if current.duration is not None:
                g["duration"].add_metric([name], current.duration.total_seconds())
            for kind, field in OBJECT_KINDS.items():
                g["objects"].add_metric([name, kind], getattr(current, field))
            analysis = getattr(current, "analysis", None)
            if analysis is None or analysis.status != Analysis.Status.COMPLETE:
                continue
            if analysis.score is not None:
                g["score"].add_metric([name], analysis.score)
            coverage = cluster_counts(analysis.report)
            for counts in (coverage.ingress, coverage.egress):
                if counts.pod_ratio is not None:
                    g["coverage"].add_metric([name, counts.direction], counts.pod_ratio)
                if counts.workload_ratio is not None:
                    g["workload_coverage"].add_metric([name, counts.direction], counts.workload_ratio)
            # Every severity and catalogue rule, zeros included, so graphs and alerts see 0
            # rather than a series that vanished.
            counts = grouped.get(current.pk, {})
            for waived in (False, True):
                label = "true" if waived else "false"
                for severity in SEVERITIES:
                    n = sum(
                        v for (rule, sev, w), v in counts.items() if sev == severity and w == waived
                    )
                    g["findings"].add_metric([name, severity, label], n)
                rules = sorted(set(RULES) | {rule for rule, _, _ in counts})
                for rule in rules:
                    n = sum(v for (r, _, w), v in counts.items() if r == rule and w == waived)
                    g["by_rule"].add_metric([name, rule, label], n)

        yield from g.values()
        yield failures

    @staticmethod
    def _finding_groups(
        snapshot_ids: list[int], now
    ) -> dict[int, dict[tuple[str, str, bool], int]]:
        """snapshot id -> {(rule, severity, waived): count}, "waived" as
        ``selectors.findings_of`` decides it; the same few queries for any number of
        clusters."""
        if not snapshot_ids:
            return {}
        in_force = Waiver.objects.filter(
            cluster_id=OuterRef("snapshot__cluster_id"),
            fingerprint=OuterRef("fingerprint"),
            revoked_at__isnull=True,
            expires_at__gt=now,
        )
        through_aliases = waived_through_aliases(snapshot_ids, now)
        waived = Exists(in_force)
        if through_aliases:
            waived = ExpressionWrapper(Q(waived) | Q(pk__in=through_aliases), output_field=BooleanField())
        rows = (
            Finding.objects.filter(snapshot_id__in=snapshot_ids)
            .annotate(waived=waived)
            .order_by()
            .values("snapshot_id", "rule", "severity", "waived")
            .annotate(n=Count("id"))
        )
        out: dict[int, dict[tuple[str, str, bool], int]] = {}
        for row in rows:
            out.setdefault(row["snapshot_id"], {})[
                row["rule"], row["severity"], bool(row["waived"])
            ] = row["n"]
        return out


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(AuditorCollector())


# --- Access -----------------------------------------------------------------------------


def _client_in_allowed_networks(request) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # a dual-stack socket's view of an IPv4 client
    return any(
        address in ipaddress.ip_network(net, strict=False)
        for net in settings.METRICS_ALLOWED_NETWORKS
    )


def _bearer_matches(request) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


@csrf_exempt  # no cookies are read: any method gets its 405 rather than a CSRF page
def metrics_view(request):
    if request.method != "GET":
        response = HttpResponse("Only GET.\n", status=405, content_type="text/plain")
        response["Allow"] = "GET"
        return response
    if not _client_in_allowed_networks(request):
        denied = _token_denied(request)
        if denied is not None:
            return denied
    response = HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response["Cache-Control"] = "no-store"
    return response


def _token_denied(request):
    """None when the request carries METRICS_TOKEN; else the 401, 403 or 429 (after too
    many wrong tokens from the address) to answer."""
    keys = throttle.keys_for("metrics", request)
    wait = throttle.retry_after(keys) if settings.METRICS_TOKEN else 0
    if wait:
        response = HttpResponse(
            f"Too many wrong tokens from this address: try again in {wait} s.\n",
            status=429,
            content_type="text/plain",
        )
        response["Retry-After"] = str(wait)
        return response
    if not _bearer_matches(request):
        if settings.METRICS_TOKEN:
            if request.headers.get("Authorization"):
                throttle.record_failure(keys)
            response = HttpResponse(
                "Send 'Authorization: Bearer <METRICS_TOKEN>'.\n",
                status=401,
                content_type="text/plain",
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return HttpResponse(
            "Your address is not in METRICS_ALLOWED_NETWORKS.\n",
            status=403,
            content_type="text/plain",
        )
    return None
