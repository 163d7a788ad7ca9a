import json

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html

from netpol.teams import NO_TEAM

from . import services
from .masked import MaskedUrlsMixin, mask_api_url
from .models import Analysis, Cluster, Finding, Snapshot, TeamAssignment, Waiver

# The fields each source reads; the form shows only the chosen source's (cluster_admin.js)
# and forgets a stored token when the source no longer uses one.
SOURCE_FIELDS: dict[str, list[str]] = {
    Cluster.Source.KUBECONFIG: ["kubeconfig_path", "kubeconfig_context"],
    Cluster.Source.IN_CLUSTER: [],
    Cluster.Source.TOKEN: ["api_url", "token", "clear_token", "token_file", "ca_file", "verify_tls"],
    Cluster.Source.MANIFESTS: ["manifest_path"],
}


class ClusterForm(MaskedUrlsMixin, forms.ModelForm):
    masked_urls = {"api_url": mask_api_url}  # user:password@ shown as ***@
    # Write-only: the stored token is never rendered back, only replaced.
    token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Bearer token for the 'API URL and bearer token' source. Stored encrypted; "
        "leave empty to keep the current one.",
    )
    clear_token = forms.BooleanField(required=False, help_text="Forget the stored token.")
    api_url = forms.URLField(required=False, assume_scheme="https", max_length=500, label="API URL",
                             help_text="For example https://k8s.example.com:6443. A user:password@ in a saved "
                             "URL is shown as ***@: leave it so to keep it.")

    class Meta:
        model = Cluster
        fields = "__all__"
        labels = {
            "api_url": "API URL",
            "ca_file": "CA file",
            "verify_tls": "Verify TLS",
            "pod_cidrs": "Pod CIDRs",
            "service_cidrs": "Service CIDRs",
            "node_cidrs": "Node CIDRs",
        }
        help_texts = {
            "pod_cidrs": "Comma-separated. When empty: the Nodes' podCIDRs, or, with no Node "
            "giving one, the /16 around the pod IPs (the analysis then says they were inferred).",
        }
        widgets = {
            name: forms.Textarea(attrs={"rows": 2, "cols": 60})
            for name in ("pod_cidrs", "service_cidrs", "node_cidrs")
        }

    # The namespace → team mapping (TeamAssignment rows), one "namespace=team" a line.
    team_mapping = forms.CharField(
        required=False, label="Teams by namespace",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60, "placeholder": "payments=shop\nlegacy-billing=finance"}),
        help_text="One 'namespace=team' a line. It wins over the team label and applies to every snapshot at once.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].widget.attrs["data-source-fields"] = json.dumps(SOURCE_FIELDS)
        if self.instance.pk:
            self.fields["team_mapping"].initial = "\n".join(
                f"{a.namespace}={a.team}" for a in self.instance.team_assignments.all()
            )

    def clean_team_mapping(self) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data.get("team_mapping", "").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            namespace, equals, team = (part.strip() for part in line.partition("="))
            if not (equals and namespace and team):
                raise forms.ValidationError(f"Line {number}: write 'namespace=team', not '{line[:60]}'.")
            if team == NO_TEAM or len(team) > 100 or len(namespace) > 253:
                raise forms.ValidationError(
                    f"Line {number}: a team name of at most 100 characters other than '{NO_TEAM}' "
                    "(which filters stand for 'no team'), and a namespace name."
                )
            if namespace in mapping and mapping[namespace] != team:
                raise forms.ValidationError(f"Line {number}: {namespace} is already mapped to {mapping[namespace]}.")
            mapping[namespace] = team
        return mapping

    def save_team_mapping(self, cluster: Cluster) -> None:
        """Replace the cluster's mapping with the form's (after the cluster is saved)."""
        mapping = self.cleaned_data.get("team_mapping") or {}
        with transaction.atomic():
            cluster.team_assignments.all().delete()
            TeamAssignment.objects.bulk_create(
                TeamAssignment(cluster=cluster, namespace=n, team=t) for n, t in sorted(mapping.items())
            )

    def clean(self):
        cleaned = super().clean()
        self.restore_masked_urls(cleaned)
        uses_token = cleaned.get("source") == Cluster.Source.TOKEN
        if cleaned.get("clear_token") or not uses_token:
            self.instance.token_encrypted = ""  # no secret kept for a source that needs none
        if uses_token and cleaned.get("token"):
            self.instance.set_token(cleaned["token"])
        return cleaned


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    form = ClusterForm
    list_display = ("name", "source", "enabled", "snapshot_interval", "last_snapshot")

    class Media:
        js = ["js/cluster_admin.js"]
    list_filter = ("source", "enabled")
    search_fields = ("name", "description")
    actions = ["snapshot_now"]
    fieldsets = [
        (None, {"fields": ["name", "description", "enabled", "snapshot_interval"]}),
        ("Source", {"fields": ["source", "kubeconfig_path", "kubeconfig_context", "api_url", "token",
                               "clear_token", "token_file", "ca_file", "verify_tls", "manifest_path"]}),
        ("Declared ranges", {"fields": ["pod_cidrs", "service_cidrs", "node_cidrs"]}),
        ("Teams", {"fields": ["team_label", "team_mapping"]}),
        ("Attack paths", {"fields": ["crown_jewels"]}),
        ("Observed flows", {"fields": ["unused_rule_window"]}),
    ]

    def save_model(self, request, obj, form, change):
        # A new unused-rule window may add or remove NP048 findings: the current snapshot
        # is analysed again, as after a flow import, rather than at the next snapshot.
        applied_before = None
        if change and "unused_rule_window" in form.changed_data:
            from .flows import unused_window
            from .replay.services import flows_changed

            applied_before = unused_window(Cluster.objects.get(pk=obj.pk))["applies"]
        super().save_model(request, obj, form, change)
        if applied_before is not None:
            transaction.on_commit(
                lambda: flows_changed(cluster=obj, applied_before=applied_before)
            )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.save_team_mapping(form.instance)

    @admin.display(description="Last snapshot")
    def last_snapshot(self, cluster):
        snapshot = cluster.snapshots.first()
        if not snapshot:
            return "—"
        return format_html('<span class="badge-{}">{}</span> {}', snapshot.colour, snapshot.get_status_display(),
                           snapshot.created_at.strftime("%Y-%m-%d %H:%M"))

    @admin.action(description="Snapshot now")
    def snapshot_now(self, request, queryset):
        for cluster in queryset:
            snapshot = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL)
            if snapshot:
                self.message_user(request, f"{cluster.name}: snapshot #{snapshot.pk} queued.")
            else:
                self.message_user(request, f"{cluster.name}: a snapshot is already running; skipped.", messages.WARNING)


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    """Read-only: a snapshot is a record of what the cluster looked like."""

    list_display = ("id", "cluster", "status", "trigger", "created_at", "finished_at", "pod_count", "policy_count")
    list_filter = ("status", "cluster", "trigger")
    readonly_fields = [f.name for f in Snapshot._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Computed records: visible, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Analysis)
class AnalysisAdmin(ReadOnlyAdmin):
    list_display = ("snapshot", "status", "score", "finding_counts", "finished_at")
    list_filter = ("status",)


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ("rule", "severity", "title", "namespace", "snapshot")
    list_filter = ("severity", "rule", "snapshot__cluster")
    search_fields = ("title", "message", "namespace", "fingerprint")


@admin.register(Waiver)
class WaiverAdmin(admin.ModelAdmin):
    list_display = ("rule", "cluster", "summary", "author", "expires_at", "revoked_at")
    list_filter = ("cluster", "rule")
    search_fields = ("summary", "reason", "fingerprint")
    readonly_fields = ("fingerprint", "rule", "summary", "author", "created_at")


# --- API tokens (auditor.api) ------------------------------------------------------------

from django.template.response import TemplateResponse  # noqa: E402

from .api.tokens import api_token_revoke, issue_key  # noqa: E402
from .models import ApiToken  # noqa: E402


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Made here for any user; the key is shown once, on the page after *Save*."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "user__username")
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name"]
        return ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["user", "prefix", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj._new_key = issue_key(obj)
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        # Rendered, not redirected: the key never travels in a message cookie.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "token": obj,
            "key": obj._new_key,
            "title": "API token created",
        }
        return TemplateResponse(request, "api/admin_token_created.html", context)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        revoked = sum(api_token_revoke(token=token) for token in queryset)
        self.message_user(request, f"{revoked} token(s) revoked.")


# --- Reports: schedules, reports and deliveries (auditor.reports) ---------------------

from .models import Delivery, Report, ReportSchedule  # noqa: E402
from .reports import services as report_services  # noqa: E402
from .reports.forms import ReportScheduleForm  # noqa: E402


class AdminReportScheduleForm(ReportScheduleForm):
    class Meta(ReportScheduleForm.Meta):
        fields = ["cluster", *ReportScheduleForm.Meta.fields]


@admin.register(ReportSchedule)
class ReportScheduleAdmin(admin.ModelAdmin):
    form = AdminReportScheduleForm
    list_display = ("name", "cluster", "team", "enabled", "when", "send", "recipient_count", "has_webhook", "last_report")
    list_filter = ("cluster", "enabled", "frequency", "send")
    search_fields = ("name", "recipients", "webhook_url")
    actions = ["run_now"]
    fieldsets = [
        (None, {"fields": ["cluster", "name", "team", "enabled"]}),
        ("When", {"fields": ["frequency", "day_of_week", "time_of_day", "cron", "send"]}),
        ("Email", {"fields": ["recipients", "attach_pdf"]}),
        ("Webhook", {"fields": ["webhook_url", "webhook_format", "webhook_secret", "clear_webhook_secret"]}),
    ]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="Recipients")
    def recipient_count(self, schedule):
        return len(schedule.recipient_list)

    @admin.display(description="Webhook", boolean=True)
    def has_webhook(self, schedule):
        return bool(schedule.webhook_url)

    @admin.display(description="Last report")
    def last_report(self, schedule):
        report = schedule.reports.first()
        if not report:
            return "—"
        return format_html('<span class="badge-{}">{}</span> {}', report.colour, report.get_status_display(),
                           report.created_at.strftime("%Y-%m-%d %H:%M"))

    @admin.action(description="Run now (build and send a report)")
    def run_now(self, request, queryset):
        for schedule in queryset.select_related("cluster"):
            report = report_services.report_request(schedule=schedule, trigger=Report.Trigger.MANUAL, user=request.user)
            if report:
                self.message_user(request, f"{schedule}: report #{report.pk} queued.")
            else:
                self.message_user(request, f"{schedule}: a report is already on its way; skipped.", messages.WARNING)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = readonly_fields = ("channel", "target", "status", "attempts", "response_code", "last_error",
                                "last_attempt_at", "next_attempt_at", "sent_at")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    """Reports are records of what was sent: never edited."""

    list_display = ("id", "cluster", "schedule", "status", "trigger", "changed", "score", "created_at")
    list_filter = ("status", "cluster", "trigger", "changed")
    exclude = ("content",)
    readonly_fields = ("cluster", "schedule", "snapshot", "previous", "status", "trigger", "requested_by",
                       "created_at", "started_at", "finished_at", "error", "changed", "score", "counts")
    inlines = [DeliveryInline]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "report", "channel", "target", "status", "attempts", "response_code", "last_attempt_at")
    list_filter = ("status", "channel")
    search_fields = ("target", "last_error")
    actions = ["send_again"]

    @admin.action(description="Send again (failed or skipped deliveries)")
    def send_again(self, request, queryset):
        sent = sum(report_services.delivery_retry(delivery=d) for d in queryset)
        self.message_user(request, f"{sent} delivery(ies) queued again.")
