"""Reports on demand: any complete, analysed snapshot in HTML, PDF, CSV, JSON or SARIF.

No schedule and no ``Report`` row: the content is built from the snapshot (compared with
the analysed snapshot before it, as a schedule's first report is) and each format is
written once to ``VAR_DIR/report-cache``. The file's name holds what its bytes depend
on: the snapshot, its analysis (id and finish time, so a re-analysis misses the cache),
the waivers in force (a waiver changes what is open), the content's version and the
site's address (its links). Writes go through a temporary file and a rename, so two
requests building the same report at once never serve half a file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from auditor.models import Analysis, Report, Snapshot, Waiver
from auditor.selectors import team_namespaces

from . import exports, selectors
from .content import VERSION, build_content
from .html import display

logger = logging.getLogger(__name__)

# format -> (content type, disposition)
FORMATS = {
    "html": ("text/html; charset=utf-8", "inline"),
    "pdf": ("application/pdf", "inline"),
    "csv": ("text/csv; charset=utf-8", "attachment"),
    "json": ("application/json", "attachment"),
    "sarif": ("application/sarif+json", "attachment"),
}


class NotReportable(ValueError):
    """The snapshot has no complete analysis to report on."""


@dataclass(frozen=True)
class Built:
    body: bytes
    content_type: str
    disposition: str
    filename: str
    cached: bool  # served from the cache, not built by this call
    seconds: float  # time taken by this call


def cache_dir() -> Path:
    return Path(settings.VAR_DIR) / "report-cache"


def _analysis(snapshot: Snapshot) -> Analysis:
    analysis = getattr(snapshot, "analysis", None)  # None when the analysis row is missing
    if (
        snapshot.status != Snapshot.Status.COMPLETE
        or analysis is None
        or analysis.status != Analysis.Status.COMPLETE
    ):
        raise NotReportable(
            f"Snapshot #{snapshot.pk} of {snapshot.cluster.name} has no complete analysis yet: "
            "a report needs its findings."
        )
    return analysis


def cache_key(snapshot: Snapshot, fmt: str, team: str = "") -> str:
    analysis = _analysis(snapshot)
    now = timezone.now()
    in_force = sorted(
        Waiver.objects.filter(
            cluster_id=snapshot.cluster_id, revoked_at__isnull=True, expires_at__gt=now
        ).values_list("pk", flat=True)
    )
    stamp = json.dumps(
        [
            VERSION,
            snapshot.pk,
            analysis.pk,
            analysis.finished_at.isoformat() if analysis.finished_at else "",
            in_force,
            settings.SITE_URL,
            # A team's report: the team and who is in it (the mapping can change under it).
            team,
            sorted(team_namespaces(snapshot.cluster, snapshot, team) or ()),
        ]
    )
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:20]
    return f"{snapshot.cluster.name}-snapshot-{snapshot.pk}-{digest}.{fmt}"


def filename(snapshot: Snapshot, fmt: str, team: str = "") -> str:
    of_team = f"-team-{slugify(team) or 'none'}" if team else ""
    return f"netpol-report-{snapshot.cluster.name}-snapshot-{snapshot.pk}{of_team}.{fmt}"


def snapshot_link(snapshot: Snapshot, team: str = "") -> str:
    """The absolute address of the snapshot's findings, for the report's 'Online' link."""
    query = urlencode({"snapshot": snapshot.pk, **({"team": team} if team else {})})
    return f"{settings.SITE_URL}{reverse('webui:findings', args=[snapshot.cluster.name])}?{query}"


def content_of(snapshot: Snapshot, team: str = "") -> dict:
    _analysis(snapshot)
    report = Report(cluster=snapshot.cluster, trigger=Report.Trigger.MANUAL)
    content = build_content(
        report=report,
        snapshot=snapshot,
        previous=None,
        baseline_snapshot=selectors.analysed_snapshot_before(snapshot),
        team=team,
        namespaces=team_namespaces(snapshot.cluster, snapshot, team),
    )
    content["trigger"] = "on demand"
    content["link"] = snapshot_link(snapshot, team)
    return content


def render(content: dict, fmt: str) -> bytes:
    if fmt == "pdf":
        from .pdf import render_pdf

        return render_pdf(content, link=content.get("link", ""))
    if fmt == "json":
        return exports.report_json(content).encode()
    if fmt == "csv":
        return exports.report_csv(content).encode()
    if fmt == "sarif":
        return json.dumps(exports.report_sarif(content), indent=2).encode()
    if fmt == "html":
        return render_to_string("reports/standalone.html", {"c": display(content)}).encode()
    raise ValueError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")


_STYLE = re.compile(rb"<style>(.*?)</style>", re.S)


def html_csp(body: bytes) -> str:
    """The Content-Security-Policy of a standalone HTML report: its inline styles by hash
    (a cached file cannot carry a per-request nonce), no scripts, nothing fetched."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in _STYLE.finditer(body)
    )
    styles = hashes or "'none'"
    return (
        f"default-src 'none'; style-src {styles}; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def snapshot_report(snapshot: Snapshot, fmt: str, team: str = "") -> Built:
    """The report of ``snapshot`` in ``fmt``, from the cache or built and cached now; of
    ``team``'s namespaces only when given (the caller checked the team exists)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")
    started = time.perf_counter()
    path = cache_dir() / cache_key(snapshot, fmt, team)
    content_type, disposition = FORMATS[fmt]
    name = filename(snapshot, fmt, team)
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        pass
    else:
        return Built(body, content_type, disposition, name, True, time.perf_counter() - started)
    body = render(content_of(snapshot, team), fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".building-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - started
    logger.info(
        "report of snapshot #%s as %s built in %.2f s (%d bytes)",
        snapshot.pk,
        fmt,
        seconds,
        len(body),
    )
    return Built(body, content_type, disposition, name, False, seconds)
