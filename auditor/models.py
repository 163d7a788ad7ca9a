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

from netpol.collect.kinds import KIND_TABLE
from netpol.engine import InputError
from netpol.findings.catalogue import SEVERITIES
from netpol.paths import DEFAULT_CROWN_JEWELS, parse_selector

# The one table of colours. Badges are drawn by name: ``.badge-<name>`` and
# ``.sev-<severity>`` in static/css/app.css hold these values (a test checks), and the PDF
# prints them as they are.
PALETTE = {
    "grey": (152, 162, 179),
    "blue": (47, 111, 219),
    "green": (31, 157, 85),
    "orange": (224, 123, 0),
    "red": (214, 69, 69),
    "purple": (107, 33, 168),
    "yellow": (201, 161, 0),
}
# Every status of snapshots, analyses, reports and deliveries, by value.
STATUS_COLOURS = {
    "pending": "grey", "running": "blue", "complete": "green", "failed": "red",
    "sending": "blue", "retrying": "orange", "sent": "green", "skipped": "grey",
}
# In the catalogue's order, most severe first.
SEVERITY_COLOURS = dict(zip(SEVERITIES, ("purple", "red", "orange", "yellow", "grey"), strict=True))
# The serious ones: the namespaces page's "high+" column and a report's top offenders.
HIGH_OR_ABOVE = SEVERITIES[: SEVERITIES.index("high") + 1]


def validate_crown_jewels(value: str) -> None:
    if value.strip():
        try:
            parse_selector(value)
        except InputError as exc:
            raise ValidationError(str(exc)) from None


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
    # netpol.teams: the team mapping (TeamAssignment rows) wins over this label.
    team_label = models.CharField(
        max_length=317, blank=True, default="team",
        help_text="The namespace label that names its team; the namespace → team mapping below wins over it. "
        "Empty: only the mapping assigns teams.",
    )
    # netpol.paths: attack paths lead to the workloads whose pods carry these labels.
    crown_jewels = models.CharField(
        max_length=500, blank=True, default=DEFAULT_CROWN_JEWELS,
        validators=[validate_crown_jewels],
        help_text="Crown-jewel workloads: labels their pods carry, as k=v,k2=v2 (attack paths lead to them). "
        "Empty: no crown jewels.",
    )
    # auditor.flows: NP048, a rule no imported flow used in this many days (0: off).
    unused_rule_window = models.PositiveIntegerField(
        default=30, verbose_name="Unused-rule window (days)",
        help_text="A policy rule that no imported flow used in this many days is a finding (NP048), once the "
        "imported flows cover that many days. 0: no such finding.",
    )

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

    def team_rule(self):
        """How this cluster assigns namespaces to teams (``netpol.teams``)."""
        from netpol.teams import TeamRule

        return TeamRule.of(self.team_label, self.team_assignments.values_list("namespace", "team"))

    @property
    def declared_cidrs(self) -> dict[str, list[str]]:
        return {
            "pod": split_cidrs(self.pod_cidrs),
            "service": split_cidrs(self.service_cidrs),
            "node": split_cidrs(self.node_cidrs),
        }


class TeamAssignment(models.Model):
    """A namespace given to a team by hand: it wins over the cluster's team label."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="team_assignments")
    namespace = models.CharField(max_length=253)
    team = models.CharField(max_length=100)

    class Meta:
        ordering = ["namespace"]
        constraints = [models.UniqueConstraint(fields=["cluster", "namespace"], name="unique_team_assignment")]

    def __str__(self) -> str:
        return f"{self.namespace} → {self.team}"

    def clean(self) -> None:
        from netpol.teams import NO_TEAM

        if self.team.strip() == NO_TEAM:
            raise ValidationError({"team": f"'{NO_TEAM}' stands for 'no team' in filters; name a team."})


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
    cluster_policy_count = models.PositiveIntegerField(default=0)  # the three kinds together
    cilium_policy_count = models.PositiveIntegerField(default=0)  # namespaced and clusterwide
    # Calico's policies, tiers and network sets; its Staged* policies apart (never enforced).
    calico_policy_count = models.PositiveIntegerField(default=0)
    staged_policy_count = models.PositiveIntegerField(default=0)
    service_account_count = models.PositiveIntegerField(default=0)
    # sha256 of the stored records and the declared CIDRs (auditor.history): equal hashes,
    # equal analyses. Empty for snapshots stored before it existed.
    content_hash = models.CharField(max_length=64, blank=True, db_index=True)

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
        return STATUS_COLOURS[self.status]

    def object_counts(self) -> dict[str, int]:
        """Objects collected, by kind, named as ``KIND_TABLE`` names them (``pods``, ``policies``...)."""
        return {info.argument: getattr(self, info.count_field) for info in KIND_TABLE.values()}

    def other_policy_counts(self) -> list[tuple[str, int]]:
        """The policy objects besides NetworkPolicies, by family, those the snapshot has."""
        families = (
            ("cluster-wide", self.cluster_policy_count),
            ("Cilium", self.cilium_policy_count),
            ("Calico", self.calico_policy_count),  # policies, tiers and network sets
            ("Calico staged", self.staged_policy_count),
        )
        return [(family, count) for family, count in families if count]

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
    service_account = models.CharField(max_length=253, blank=True)  # spec.serviceAccountName

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "namespace", "name"], name="unique_pod")]


class NetworkPolicy(SnapshotObject):
    namespace = models.CharField(max_length=253)
    name = models.CharField(max_length=253)
    spec = models.JSONField(default=dict)  # verbatim

    class Meta:
        verbose_name_plural = "network policies"
        constraints = [models.UniqueConstraint(fields=["snapshot", "namespace", "name"], name="unique_policy")]


class ClusterPolicy(SnapshotObject):
    """A ClusterNetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy."""

    kind = models.CharField(max_length=40)
    name = models.CharField(max_length=253)
    spec = models.JSONField(default=dict)  # verbatim

    class Meta:
        verbose_name_plural = "cluster policies"
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "kind", "name"], name="unique_cluster_policy"
            )
        ]


class CniObject(SnapshotObject):
    """A Cilium or Calico object: Cilium's two policy kinds; Calico's policies, tiers,
    network sets and staged policies (either Calico group). ``kind`` with ``api_version``
    tells Calico's NetworkPolicy from others; Cilium rows leave ``api_version`` and
    ``labels`` empty (Cilium's kinds are unique and need neither)."""

    kind = models.CharField(max_length=40)
    api_version = models.CharField(max_length=60, blank=True)
    namespace = models.CharField(max_length=253, blank=True)  # "" for cluster-wide kinds
    name = models.CharField(max_length=253)
    labels = models.JSONField(default=dict)
    spec = models.JSONField(null=True, blank=True)  # verbatim
    specs = models.JSONField(null=True, blank=True)  # Cilium's list form, verbatim

    class Meta:
        verbose_name = "CNI object"
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "kind", "api_version", "namespace", "name"],
                name="unique_cni_object",
            )
        ]


class ServiceAccount(SnapshotObject):
    namespace = models.CharField(max_length=253)
    name = models.CharField(max_length=253)
    labels = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "namespace", "name"], name="unique_service_account"
            )
        ]


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


Severity = models.TextChoices("Severity", [(s.upper(), (s, s.capitalize())) for s in SEVERITIES])


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
    # Every workload the cause affects ("Deployment/shop/web"), complete and sorted.
    workloads = models.JSONField(default=list)
    # Fingerprints of the per-workload findings this one replaced: waivers made on all of
    # them waive it too (selectors.findings_of).
    aliases = models.JSONField(default=list)

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


# --- API tokens: read-only access to the JSON API (auditor.api) ------------------------


class ApiToken(models.Model):
    """A user's key to the JSON API. Only the sha256 of the key is stored: the key itself
    is shown once, when it is made. A token acts with its user's role at each request,
    so taking the user out of every group cuts its access at once."""

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What it is for, e.g. 'grafana' or 'ci'.")
    # The key's first characters, so a listing can tell tokens apart without the secret.
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# --- Reports: scheduled audit reports and their deliveries (auditor.reports) ----------


def validate_cron(value: str) -> None:
    """Five fields, as crontab(5) reads them: minute hour day-of-month month day-of-week."""
    from celery.schedules import crontab

    parts = value.split()
    if len(parts) != 5:
        raise ValidationError("Five fields: minute hour day-of-month month day-of-week, e.g. '0 7 * * 1'.")
    try:
        crontab(*parts)
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"Not a cron expression: {exc}") from None


def split_emails(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").replace(";", ",").split(",") if part.strip()]


def validate_email_list(value: str) -> None:
    from django.core.validators import validate_email

    for item in split_emails(value):
        try:
            validate_email(item)
        except ValidationError:
            raise ValidationError(f"{item!r} is not an email address") from None


class ReportSchedule(models.Model):
    """When to build a cluster's report, and where to send it."""

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        CRON = "cron", "Cron expression"

    class Weekday(models.TextChoices):
        # crontab's own names, so the beat entry takes them as they are.
        MON = "mon", "Monday"
        TUE = "tue", "Tuesday"
        WED = "wed", "Wednesday"
        THU = "thu", "Thursday"
        FRI = "fri", "Friday"
        SAT = "sat", "Saturday"
        SUN = "sun", "Sunday"

    class Send(models.TextChoices):
        ALWAYS = "always", "Always"
        CHANGED = "changed", "Only when something changed"

    class WebhookFormat(models.TextChoices):
        JSON = "json", "JSON report summary"
        SLACK = "slack", 'Slack-compatible {"text": ...}'

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="report_schedules")
    name = models.CharField(max_length=100, help_text="For example 'Weekly security review'.")
    team = models.CharField(max_length=100, blank=True,
                            help_text="Only this team's namespaces ('-': those with no team); empty: the whole cluster.")
    enabled = models.BooleanField(default=True)
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.WEEKLY)
    time_of_day = models.TimeField(default="08:00", help_text="Daily and weekly: when, in the server's TIME_ZONE.")
    day_of_week = models.CharField(max_length=3, choices=Weekday.choices, default=Weekday.MON, help_text="Weekly: which day.")
    cron = models.CharField(max_length=100, blank=True, validators=[validate_cron],
                            help_text="Cron: 'minute hour day-of-month month day-of-week', in the server's TIME_ZONE.")
    send = models.CharField(max_length=10, choices=Send.choices, default=Send.ALWAYS,
                            help_text="'Only when something changed' still stores every report; it sends none "
                            "when no finding is new or resolved and coverage did not move.")
    recipients = models.TextField(blank=True, validators=[validate_email_list],
                                  help_text="Email addresses, separated by commas or new lines.")
    attach_pdf = models.BooleanField(default=True, help_text="Attach the PDF to emails (the link is always there).")
    webhook_url = models.URLField(max_length=500, blank=True, help_text="Receives a POST for each report.")
    # Fernet ciphertext (auditor.crypto) of the HMAC key; never rendered back.
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    webhook_format = models.CharField(max_length=10, choices=WebhookFormat.choices, default=WebhookFormat.JSON)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, editable=False, on_delete=models.SET_NULL
    )
    created_by = models.ForeignKey("auth.User", null=True, blank=True, editable=False, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cluster__name", "name"]
        constraints = [models.UniqueConstraint(fields=["cluster", "name"], name="unique_report_schedule_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.cluster})"

    def clean(self) -> None:
        errors = {}
        if self.frequency == self.Frequency.CRON and not self.cron.strip():
            errors["cron"] = "Required for the cron frequency."
        if self.webhook_url and not self.webhook_url.lower().startswith(("http://", "https://")):
            errors["webhook_url"] = "Only http:// and https:// webhooks."
        if errors:
            raise ValidationError(errors)

    def crontab_fields(self) -> dict[str, str]:
        """The beat crontab this schedule means."""
        if self.frequency == self.Frequency.CRON:
            minute, hour, day_of_month, month_of_year, day_of_week = self.cron.split()
        else:
            t = self.time_of_day
            if isinstance(t, str):  # the default, before a save converts it
                from datetime import time

                t = time.fromisoformat(t)
            minute, hour, day_of_month, month_of_year = str(t.minute), str(t.hour), "*", "*"
            day_of_week = self.day_of_week if self.frequency == self.Frequency.WEEKLY else "*"
        return {"minute": minute, "hour": hour, "day_of_month": day_of_month,
                "month_of_year": month_of_year, "day_of_week": day_of_week}

    @property
    def when(self) -> str:
        """The schedule in words, for lists."""
        if self.frequency == self.Frequency.CRON:
            return f"cron {self.cron}"
        fields = self.crontab_fields()
        at = f"{int(fields['hour']):02d}:{int(fields['minute']):02d}"
        if self.frequency == self.Frequency.WEEKLY:
            return f"weekly, {self.get_day_of_week_display()} {at}"
        return f"daily {at}"

    @property
    def recipient_list(self) -> list[str]:
        return split_emails(self.recipients)

    @property
    def has_webhook_secret(self) -> bool:
        return bool(self.webhook_secret_encrypted)

    def set_webhook_secret(self, secret: str) -> None:
        from .crypto import encrypt

        self.webhook_secret_encrypted = encrypt(secret) if secret else ""

    def get_webhook_secret(self) -> str:
        from .crypto import decrypt

        return decrypt(self.webhook_secret_encrypted) if self.webhook_secret_encrypted else ""


class Report(models.Model):
    """One run of a schedule: the report of the latest analysed snapshot, kept as JSON.

    ``content`` is the source of every format (HTML, PDF, JSON, CSV, SARIF): it is
    written once, so an old report renders the same later, whatever changed since.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Building"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="reports")
    # Reports outlive their schedule: deleting a schedule keeps what it sent.
    schedule = models.ForeignKey(ReportSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="reports")
    snapshot = models.ForeignKey(Snapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The report this one's changes are counted from (the schedule's previous one).
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # None until built; False: nothing new, resolved or moved since the previous report.
    changed = models.BooleanField(null=True)
    score = models.FloatField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)  # open findings by severity
    # Since the baseline; None when there was nothing to compare with (a first report).
    new_count = models.PositiveIntegerField(null=True, blank=True)
    resolved_count = models.PositiveIntegerField(null=True, blank=True)
    content = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["schedule", "status", "-created_at"]),
                   models.Index(fields=["cluster", "-created_at"])]
        constraints = [
            # One report on its way per schedule: a late beat tick and "run now" cannot both build.
            models.UniqueConstraint(fields=["schedule"], condition=Q(status__in=["pending", "running"]),
                                    name="one_active_report_per_schedule"),
        ]

    def __str__(self) -> str:
        return f"report #{self.pk} of {self.cluster.name} ({self.status})"

    @property
    def colour(self) -> str:
        return STATUS_COLOURS[self.status]


class Delivery(models.Model):
    """One report sent to one recipient or webhook; failures stay visible here."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Retrying"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Not sent: nothing changed"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # An email address, or the webhook's scheme and host only: its path may hold a token.
    target = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response_code = models.PositiveIntegerField(null=True, blank=True, help_text="HTTP status or SMTP reply code.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["report", "channel", "id"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.channel} to {self.target} ({self.status})"

    @property
    def colour(self) -> str:
        return STATUS_COLOURS[self.status]



class AuthFailure(models.Model):
    """Wrong credentials counted per client address or token prefix (auditor.throttle).
    In the database so that every web process, on SQLite or PostgreSQL, counts the same."""

    key = models.CharField(max_length=200, unique=True)  # e.g. "api:address:10.0.0.7"
    failures = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.failures}"


class WhatIfRun(models.Model):
    """A what-if *Run* on a large snapshot, computed by a worker (``auditor.whatif``): what
    was tried, how far it got, and the bounded result the page draws once it is there."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="whatif_runs")
    user = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    yaml = models.TextField(blank=True)  # the pasted policies, as pasted
    remove = models.JSONField(default=list, blank=True)  # namespace/name keys marked for removal
    notes = models.JSONField(default=list, blank=True)  # what reading the paste noted
    progress = models.CharField(max_length=200, blank=True)
    result = models.JSONField(null=True, blank=True)  # netpol.whatif.bounded(compare(...))
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Refreshed while it runs: a running run with an old heartbeat lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"what-if #{self.pk} on snapshot #{self.snapshot_id} ({self.status})"

    @property
    def colour(self) -> str:
        return STATUS_COLOURS[self.status]


class FlowReplayRun(models.Model):
    """The imported flows of a cluster replayed on a large snapshot by a worker
    (``auditor.replay``): which imports, for what (``kind``: the Flows page's replay, a
    suggestion, a what-if's would-deny), how far it got, and the bounded result the page
    draws (``auditor.flows.bounded_replay``, ``auditor.flows.suggestion_result``)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        REPLAY = "replay", "Replay"
        SUGGEST = "suggest", "Suggestion"
        WHATIF = "whatif", "What-if replay"
        IMPORT = "import", "Import"

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="flow_replay_runs")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REPLAY)
    # What the kind needs besides the flows: suggest {"namespace", "workload"}; whatif
    # {"yaml", "remove"}; import {"file" (under VAR_DIR/flows), "name", "user"}; replay {}. params_key (auditor.replay.services.params_key)
    # finds the run of the same question.
    params = models.JSONField(default=dict, blank=True)
    params_key = models.CharField(max_length=64, blank=True)
    # What was replayed (auditor.flows.imports_key): other imports, another run.
    imports_key = models.CharField(max_length=64)
    window_days = models.PositiveIntegerField(default=0)  # the unused-rule window applied; 0: none
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.CharField(max_length=200, blank=True)  # the step, in words
    done = models.BigIntegerField(default=0)  # conversations replayed so far (import: bytes read)
    total = models.BigIntegerField(default=0)  # conversations to replay (import: the file's bytes)
    result = models.JSONField(null=True, blank=True)  # auditor.flows.bounded_replay(...)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Refreshed while it runs: a running run with an old heartbeat lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display().lower()} #{self.pk} on snapshot #{self.snapshot_id} ({self.status})"

    @property
    def fraction(self) -> float:
        """How far the replay got, 0 to 1 (the conversations read and matched)."""
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def colour(self) -> str:
        return STATUS_COLOURS[self.status]


class FlowImport(models.Model):
    """One flow file imported for a cluster (``auditor.flows``): what reading it found,
    and where its distinct conversations are stored (a file under ``VAR_DIR/flows``,
    replayed by the Flows and what-if pages against whichever snapshot they show)."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="flow_imports")
    name = models.CharField(max_length=255)  # the file's name as uploaded or given
    format = models.CharField(max_length=10)  # netpol.flows.FORMATS
    size = models.BigIntegerField(default=0)  # bytes read
    lines = models.BigIntegerField(default=0)
    flows = models.BigIntegerField(default=0)  # flows worth replaying
    conversations = models.IntegerField(default=0)  # distinct ones, as stored
    # Against the snapshot current at import time (null: no snapshot then).
    matched = models.BigIntegerField(null=True, blank=True)
    unmatched = models.BigIntegerField(null=True, blank=True)
    malformed = models.BigIntegerField(default=0)
    examples = models.JSONField(default=list, blank=True)  # the first malformed lines, file:line: why
    skipped = models.JSONField(default=dict, blank=True)  # records not replayed, by reason
    first_seen = models.CharField(max_length=40, blank=True)  # as the file writes times
    last_seen = models.CharField(max_length=40, blank=True)
    stored = models.CharField(max_length=255)  # file name under VAR_DIR/flows
    imported_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-imported_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.format}) for {self.cluster_id}"
