"""The schedule form, shared by the Reports page and the admin."""

from __future__ import annotations

from django import forms

from auditor.masked import MaskedUrlsMixin, mask_webhook_url
from auditor.models import ReportSchedule
from auditor.selectors import latest_snapshot, namespace_teams
from netpol.teams import describe, team_names


def current_teams(cluster) -> list[str]:
    snapshot = latest_snapshot(cluster)
    return team_names(namespace_teams(snapshot, cluster.team_rule())) if snapshot else []


class ReportScheduleForm(MaskedUrlsMixin, forms.ModelForm):
    masked_urls = {"webhook_url": mask_webhook_url}  # shown as scheme and host only
    # Write-only: the stored secret is never rendered back, only replaced or cleared.
    webhook_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Signs each POST (HMAC-SHA256, header X-Netpol-Signature-256). Stored encrypted; "
        "leave empty to keep the current one.",
    )
    clear_webhook_secret = forms.BooleanField(
        required=False, help_text="Forget the stored secret (send unsigned)."
    )
    webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=500,
        help_text="Receives a POST for each report sent. A saved URL is shown as its scheme and host "
        "(its path may be a secret): leave that as it is to keep it.",
    )

    class Meta:
        model = ReportSchedule
        fields = [
            "name",
            "team",
            "enabled",
            "frequency",
            "day_of_week",
            "time_of_day",
            "cron",
            "send",
            "recipients",
            "attach_pdf",
            "webhook_url",
            "webhook_format",
            "webhook_secret",
            "clear_webhook_secret",
        ]
        widgets = {
            "time_of_day": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "recipients": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, cluster=None, **kwargs):
        super().__init__(*args, **kwargs)
        if cluster is not None:
            self.instance.cluster = cluster
        owner = cluster or (self.instance.cluster if self.instance.cluster_id else None)
        if "team" in self.fields and owner is not None:
            # The teams of the current snapshot, and the schedule's own even if gone since;
            # without a cluster yet (a new schedule in the admin) the team is typed.
            teams = current_teams(owner)
            if self.instance.team and self.instance.team not in teams:
                teams.append(self.instance.team)
            self.fields["team"] = forms.ChoiceField(
                required=False,
                label="Team",
                choices=[("", "Whole cluster")] + [(t, describe(t)) for t in teams],
                help_text="A report of one team's namespaces only (netpol teams: the cluster's mapping, "
                "else its team label).",
            )

    def clean(self):
        cleaned = super().clean()
        self.restore_masked_urls(cleaned)
        if cleaned.get("clear_webhook_secret"):
            self.instance.webhook_secret_encrypted = ""
        if cleaned.get("webhook_secret"):
            self.instance.set_webhook_secret(cleaned["webhook_secret"])
        # The page form has no cluster field, so Django would skip the (cluster, name) check.
        cluster = cleaned.get("cluster") or (
            self.instance.cluster if self.instance.cluster_id else None
        )
        name = cleaned.get("name")
        if cluster and name:
            taken = ReportSchedule.objects.filter(cluster=cluster, name=name).exclude(
                pk=self.instance.pk
            )
            if taken.exists():
                self.add_error("name", f"{cluster.name} already has a schedule named '{name}'.")
        return cleaned
