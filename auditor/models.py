"""Clusters, their snapshots, and the objects each snapshot holds.

A snapshot is written whole or not at all: the collected objects are inserted in one
transaction together with the switch to ``complete``, and nothing changes afterwards.
Only complete snapshots are ever *current* (see ``selectors.latest_snapshot``).
"""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


def validate_cidr_list(value: str) -> None:
    for item in split_cidrs(value):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValidationError(f"{item!r} is not a CIDR such as 10.244.0.0/16 or fd00::/108") from None


def split_cidrs(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


class Cluster(models.Model):
    class Source(models.TextChoices):
        KUBECONFIG = "kubeconfig", "Kubeconfig file and context"
        IN_CLUSTER = "in_cluster", "In-cluster service account"
        TOKEN = "token", "API URL and bearer token"
        MANIFESTS = "manifests", "Manifest directory"

    name = models.SlugField(max_length=100, unique=True, help_text="Short name, used in URLs and commands.")
    description = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    kubeconfig_path = models.CharField(max_length=500, blank=True)
    kubeconfig_context = models.CharField(max_length=200, blank=True, help_text="Empty: the current context.")
    api_url = models.URLField(max_length=500, blank=True)
    # Fernet ciphertext (auditor.crypto); never rendered. Or a file the worker reads.
    token_encrypted = models.TextField(blank=True, editable=False)
    token_file = models.CharField(max_length=500, blank=True, help_text="Read the bearer token from this file instead.")
    ca_file = models.CharField(max_length=500, blank=True, help_text="CA bundle for the API server's certificate.")
    verify_tls = models.BooleanField(default=True)
    manifest_path = models.CharField(max_length=500, blank=True, help_text="A file or directory of YAML/JSON manifests.")

    snapshot_interval = models.PositiveIntegerField(default=900, help_text="Seconds between scheduled snapshots.")
    enabled = models.BooleanField(default=True, help_text="Disabled clusters are not snapshotted on schedule.")
    pod_cidrs = models.TextField(blank=True, validators=[validate_cidr_list], help_text="Comma-separated; inferred from nodes when empty.")
    service_cidrs = models.TextField(blank=True, validators=[validate_cidr_list], help_text="Comma-separated.")
    node_cidrs = models.TextField(blank=True, validators=[validate_cidr_list], help_text="Comma-separated; inferred from node addresses when empty.")

    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, editable=False, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        required = {
            self.Source.KUBECONFIG: ["kubeconfig_path"],
            self.Source.TOKEN: ["api_url"],
            self.Source.MANIFESTS: ["manifest_path"],
        }.get(self.source, [])
        errors = {name: "Required for this source." for name in required if not getattr(self, name)}
        if self.source == self.Source.TOKEN and not (self.token_encrypted or self.token_file):
            errors["token_file"] = "Give a token (it is stored encrypted) or a token file."
        if self.snapshot_interval is not None and self.snapshot_interval < 30:
            errors["snapshot_interval"] = "At least 30 seconds."
        if errors:
            raise ValidationError(errors)

    def set_token(self, token: str) -> None:
        from .crypto import encrypt

        self.token_encrypted = encrypt(token) if token else ""

    def get_token(self) -> str:
        from .crypto import decrypt

        if self.token_file:
            with open(self.token_file) as handle:
                return handle.read().strip()
        return decrypt(self.token_encrypted) if self.token_encrypted else ""

    @property
    def declared_cidrs(self) -> dict[str, list[str]]:
        return {
            "pod": split_cidrs(self.pod_cidrs),
            "service": split_cidrs(self.service_cidrs),
            "node": split_cidrs(self.node_cidrs),
        }


class Snapshot(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Manual"
        COMMAND = "command", "Command line"

    ACTIVE = (Status.PENDING, Status.RUNNING)
    # Badge colours, so templates draw a status without logic.
    COLOURS = {"pending": "grey", "running": "blue", "complete": "green", "failed": "red"}

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="snapshots")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Refreshed while collecting: a running snapshot with an old heartbeat lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    progress = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    server_version = models.CharField(max_length=100, blank=True)
    namespace_count = models.PositiveIntegerField(default=0)
    pod_count = models.PositiveIntegerField(default=0)
    policy_count = models.PositiveIntegerField(default=0)
    node_count = models.PositiveIntegerField(default=0)
    service_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"
        constraints = [
            # One snapshot at a time per cluster, enforced by the database itself.
            models.UniqueConstraint(
                fields=["cluster"],
                condition=Q(status__in=["pending", "running"]),
                name="one_active_snapshot_per_cluster",
            )
        ]
        indexes = [models.Index(fields=["cluster", "status", "-finished_at"])]

    def __str__(self) -> str:
        return f"{self.cluster.name} #{self.pk} ({self.status})"

    @property
    def colour(self) -> str:
        return self.COLOURS[self.status]

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class SnapshotObject(models.Model):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


class Namespace(SnapshotObject):
    name = models.CharField(max_length=253)
    labels = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "name"], name="unique_namespace")]


class Pod(SnapshotObject):
    namespace = models.CharField(max_length=253)
    name = models.CharField(max_length=253)
    labels = models.JSONField(default=dict)
    ips = models.JSONField(default=list)
    host_network = models.BooleanField(default=False)
    phase = models.CharField(max_length=20, blank=True)
    node_name = models.CharField(max_length=253, blank=True)
    workload_kind = models.CharField(max_length=50, blank=True)
    workload_name = models.CharField(max_length=253, blank=True)
    container_ports = models.JSONField(default=list)  # [{"name", "port", "protocol"}]
    from_template = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "namespace", "name"], name="unique_pod")]


class NetworkPolicy(SnapshotObject):
    namespace = models.CharField(max_length=253)
    name = models.CharField(max_length=253)
    spec = models.JSONField(default=dict)  # verbatim

    class Meta:
        verbose_name_plural = "network policies"
        constraints = [models.UniqueConstraint(fields=["snapshot", "namespace", "name"], name="unique_policy")]


class Node(SnapshotObject):
    name = models.CharField(max_length=253)
    labels = models.JSONField(default=dict)
    pod_cidrs = models.JSONField(default=list)
    internal_ips = models.JSONField(default=list)
    external_ips = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "name"], name="unique_node")]


class Service(SnapshotObject):
    namespace = models.CharField(max_length=253)
    name = models.CharField(max_length=253)
    type = models.CharField(max_length=30, default="ClusterIP")
    cluster_ips = models.JSONField(default=list)
    selector = models.JSONField(default=dict)
    ports = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "namespace", "name"], name="unique_service")]


# --- Analysis: what the findings code concluded about one complete snapshot -----------


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    INFO = "info", "Info"


SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
SEVERITY_COLOURS = {"critical": "purple", "high": "red", "medium": "orange", "low": "yellow", "info": "grey"}


class Analysis(models.Model):
    """Coverage, score and compliance of one snapshot; its findings hang off the snapshot."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"

    snapshot = models.OneToOneField(Snapshot, on_delete=models.CASCADE, related_name="analysis")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    score = models.FloatField(null=True, blank=True)
    # The report as the findings package renders it, less the findings themselves.
    report = models.JSONField(default=dict, blank=True)
    finding_counts = models.JSONField(default=dict, blank=True)  # {"high": 3, ...}

    class Meta:
        verbose_name_plural = "analyses"

    def __str__(self) -> str:
        return f"analysis of {self.snapshot}"


class Finding(models.Model):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="findings")
    rule = models.CharField(max_length=10)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    title = models.CharField(max_length=200)
    message = models.TextField()
    namespace = models.CharField(max_length=253, blank=True)
    # ["Pod/shop/web-1", "NetworkPolicy/shop/allow-all"]; "objects" in reports and the API.
    object_refs = models.JSONField(default=list)
    evidence = models.JSONField(default=dict)
    snippet = models.TextField(blank=True)
    warnings = models.JSONField(default=list)
    # Stable across snapshots for the same problem: waivers follow it.
    fingerprint = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["rule", "namespace", "id"]
        indexes = [
            models.Index(fields=["snapshot", "severity"]),
            models.Index(fields=["snapshot", "rule"]),
            models.Index(fields=["snapshot", "namespace"]),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.title}"

    @property
    def colour(self) -> str:
        return SEVERITY_COLOURS[self.severity]


class Waiver(models.Model):
    """A reviewer's acceptance of a finding, following it across snapshots until it expires."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="waivers")
    fingerprint = models.CharField(max_length=64, db_index=True)
    rule = models.CharField(max_length=10)
    summary = models.CharField(max_length=300, help_text="The finding's title and objects when it was waived.")
    reason = models.TextField()
    author = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"waiver of {self.rule} on {self.cluster} until {self.expires_at:%Y-%m-%d}"

    def is_active(self, at=None) -> bool:
        from django.utils import timezone

        at = at or timezone.now()
        return self.revoked_at is None and self.expires_at > at
