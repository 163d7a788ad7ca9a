from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from . import services
from .models import Analysis, Cluster, Finding, Snapshot, Waiver


class ClusterForm(forms.ModelForm):
    # Write-only: the stored token is never rendered back, only replaced.
    token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Bearer token for the 'API URL and bearer token' source. Stored encrypted; "
        "leave empty to keep the current one.",
    )
    clear_token = forms.BooleanField(required=False, help_text="Forget the stored token.")
    api_url = forms.URLField(required=False, assume_scheme="https", max_length=500,
                             help_text="For example https://k8s.example.com:6443")

    class Meta:
        model = Cluster
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("clear_token"):
            self.instance.token_encrypted = ""
        if cleaned.get("token"):
            self.instance.set_token(cleaned["token"])
        return cleaned


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    form = ClusterForm
    list_display = ("name", "source", "enabled", "snapshot_interval", "last_snapshot")
    list_filter = ("source", "enabled")
    search_fields = ("name", "description")
    actions = ["snapshot_now"]
    fieldsets = [
        (None, {"fields": ["name", "description", "enabled", "snapshot_interval"]}),
        ("Source", {"fields": ["source", "kubeconfig_path", "kubeconfig_context", "api_url", "token",
                               "clear_token", "token_file", "ca_file", "verify_tls", "manifest_path"]}),
        ("Declared ranges", {"fields": ["pod_cidrs", "service_cidrs", "node_cidrs"]}),
    ]

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
