"""Observed flows: import flow files for a cluster, and replay them on the snapshot shown
(which flows the policies allow and deny, by which rule, the rules nobody used, and the
ends that match no pod). The what-if page asks ``whatif_flows`` for its would-deny list."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.timesince import timesince
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from auditor.access import has_role, require_role
from auditor.flows import (
    SHOWN,
    FlowImportError,
    bounded_replay,
    flows_import_delete,
    flows_import_upload,
    flows_replay,
    replay_namespaces,
    suggestion_result,
    unused_window,
    whatif_replay,
)
from auditor.models import FlowImport, FlowReplayRun, Namespace
from auditor.replay.services import (
    flows_changed,
    flows_import_run_request,
    flows_replay_run_fail_stale,
    flows_replay_run_for,
    flows_replay_run_request,
    import_summary,
    reanalysing,
    replays_inline,
    run_error,
)
from auditor.selectors import latest_snapshot
from auditor.storage import engine_model
from netpol.engine import InputError
from netpol.suggest import SuggestionError

from .common import get_cluster, policy_page_url, snapshot_for


class FlowUploadLimit(FileUploadHandler):
    """Stops an upload as soon as it is over ``FLOWS_UPLOAD_MAX_BYTES``: the rest of the
    body is read and dropped, never stored, and the page says which limit it passed.
    First of the request's handlers; Django's own then write the file to a temporary file
    past ``FILE_UPLOAD_MAX_MEMORY_SIZE``, never to memory."""

    def __init__(self, request, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.exceeded = False

    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler makes the file


@csrf_exempt  # checked by _post, once the upload handlers are in place
@require_http_methods(["GET", "POST"])
@require_role("viewer")
def flows_page(request, name):
    """The imported flows replayed on the snapshot: inside the request for a snapshot of
    up to ``FLOWS_INLINE_MAX_PODS`` pods, else by a worker (``auditor.replay``), the page
    showing its progress (``static/js/flows.js`` polls ``flows_run``) until the stored
    result is there."""
    cluster = get_cluster(name)
    if request.method == "POST":
        # Before anything reads the body (the CSRF check does): the upload's limit.
        limit = FlowUploadLimit(request, settings.FLOWS_UPLOAD_MAX_BYTES)
        request.upload_handlers.insert(0, limit)
        return csrf_protect(_post)(request, cluster, limit)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    pinned = bool(request.GET.get("snapshot"))
    keep = str(snapshot.pk) if pinned else ""
    imports = list(cluster.flow_imports.select_related("imported_by"))
    window = unused_window(cluster, imports)
    context = {
        "cluster": cluster,
        "snapshot": snapshot,
        "pinned": pinned,
        "imports": imports,
        "window": {**window, "covered_days": _days(window["covered"])},
        "max_size": _size(settings.FLOWS_UPLOAD_MAX_BYTES),
        "max_bytes": settings.FLOWS_UPLOAD_MAX_BYTES,
        "can_import": has_role(request.user, "auditor"),
        "reanalysing": reanalysing(snapshot, imports),
    }
    asked = request.GET.get("import", "")
    if asked.isdigit():
        context["import_run"] = flows_replay_run_fail_stale(
            run=get_object_or_404(
                FlowReplayRun,
                pk=int(asked),
                kind=FlowReplayRun.Kind.IMPORT,
                snapshot__cluster=cluster,
            )
        )
    bounded = None
    if imports and replays_inline(snapshot):
        try:
            result = flows_replay(
                cluster=cluster,
                model=engine_model(snapshot),
                window_days=window["days"] if window["applies"] else 0,
            )
        except OSError as exc:  # a stored file gone from VAR_DIR/flows
            context["problem"] = (
                f"An imported file's stored flows cannot be read ({exc.strerror or exc}): "
                "remove that import below and import its file again."
            )
            result = None
        bounded = None if result is None else bounded_replay(result)
    elif imports:
        run = flows_replay_run_fail_stale(run=flows_replay_run_for(snapshot=snapshot))
        context["run"] = run
        if run.status == FlowReplayRun.Status.COMPLETE:
            bounded = run.result
        elif run.status == FlowReplayRun.Status.FAILED:
            context["problem"] = run.error
    if bounded is not None:
        context["replay"] = shown_replay(bounded, cluster, keep)
        context["suggest_namespaces"] = bounded["namespaces"]
    return render(request, "webui/flows.html", context)


def _days(days: float | None) -> str | None:
    """Days covered, as the window message says them: "40 days", "1 day", "less than a day"."""
    if days is None:
        return None
    if days < 1:
        return "less than a day"
    return "1 day" if int(days) == 1 else f"{int(days):,} days"


@require_role("viewer")
def flows_run(request, name, pk):
    """A flows run's state, polled by static/js/flows.js until it is complete or failed;
    a finished what-if run also gives the what-if page's flows section, drawn (``html``),
    since that page may be a POST a reload would send again."""
    cluster = get_cluster(name)
    run = get_object_or_404(FlowReplayRun, pk=pk, snapshot__cluster=cluster)
    run = flows_replay_run_fail_stale(run=run)
    html = ""
    if run.kind == FlowReplayRun.Kind.IMPORT:
        done_text = f"{_size(run.done)} of {_size(run.total)} read"
    else:
        done_text = f"{run.done:,} of {run.total:,} conversations"
    finished = run.status in (FlowReplayRun.Status.COMPLETE, FlowReplayRun.Status.FAILED)
    if run.kind == FlowReplayRun.Kind.WHATIF and finished:
        flows = _whatif_flows_of(run, cluster)
        html = render_to_string(
            "webui/_whatif_flows.html", {"flows": flows, "cluster": cluster}, request=request
        )
    return JsonResponse(
        {
            "id": run.pk,
            "kind": run.kind,
            "label": run.get_kind_display(),
            "html": html,
            "status": run.status,
            "progress": run.progress or "waiting for a worker",
            "done": run.done,
            "total": run.total,
            "done_text": done_text,
            "percent": round(100 * run.fraction),
            "error": run.error,
            "since": timesince(run.started_at or run.created_at),
            "waited_seconds": int((timezone.now() - run.created_at).total_seconds()),
        }
    )


def _pk(value: str) -> int:
    if not value.isdigit():
        raise Http404("no such flow replay")
    return int(value)


def _post(request, cluster, limit: FlowUploadLimit):
    if not has_role(request.user, "auditor"):
        raise PermissionDenied(
            "This needs the auditor role. Ask an admin to add you to the 'auditor' group."
        )
    back = reverse("webui:flows", args=[cluster.name])
    if "replay" in request.POST:
        run = get_object_or_404(
            FlowReplayRun, snapshot__cluster=cluster, pk=_pk(request.POST["replay"])
        )
        if run.status == FlowReplayRun.Status.FAILED and run.kind != FlowReplayRun.Kind.IMPORT:
            flows_replay_run_request(snapshot=run.snapshot, kind=run.kind, params=run.params)
        return redirect(_run_page(run, cluster, request.POST.get("next", "")))
    if "delete" in request.POST:
        pk = request.POST["delete"]
        if not pk.isdigit():
            raise Http404("no such flow import")
        flow_import = get_object_or_404(FlowImport, cluster=cluster, pk=pk)
        applied_before = unused_window(cluster)["applies"]
        flows_import_delete(flow_import=flow_import)
        flows_changed(cluster=cluster, applied_before=applied_before)
        messages.success(request, f"Removed the flows of {flow_import.name}.")
        return redirect(back)
    return _answer(request, _upload(request, cluster, limit, back))


def _upload(request, cluster, limit: FlowUploadLimit, back: str) -> str:
    """Import the uploaded file, or queue its import; the page to go to next."""
    upload = request.FILES.get("file")
    most = settings.FLOWS_UPLOAD_MAX_BYTES
    if limit.exceeded or (upload is not None and upload.size > most):
        messages.error(
            request,
            f"{limit.file_name or upload.name} is over the upload limit of {_size(most)} "
            f"(FLOWS_UPLOAD_MAX_BYTES, which the server's environment can raise). Import it "
            f"on the server with: manage.py import_flows {cluster.name} FILE",
        )
        return back
    if upload is None:
        messages.error(request, "Choose a flow file to import.")
        return back
    snapshot = latest_snapshot(cluster)
    small = upload.size <= settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    if snapshot is not None and not (small and replays_inline(snapshot)):
        # Counting a large file takes seconds to minutes: a worker does it, the page
        # showing how many bytes it read.
        run = flows_import_run_request(snapshot=snapshot, upload=upload, user=request.user)
        return f"{back}?{urlencode({'import': run.pk})}"
    applied_before = unused_window(cluster)["applies"]
    try:
        flow_import = flows_import_upload(cluster=cluster, upload=upload, user=request.user)
    except FlowImportError as exc:
        messages.error(request, str(exc))
        return back
    flows_changed(cluster=cluster, applied_before=applied_before)
    messages.success(request, import_summary(flow_import)["text"])
    return back


def _answer(request, url: str):
    """A redirect, or for the page's upload script (XMLHttpRequest) where to go: a
    redirect it followed would read the messages meant for the next page."""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return JsonResponse({"redirect": url})
    return redirect(url)


def _run_page(run: FlowReplayRun, cluster, given: str) -> str:
    """The page that asked for ``run``, to go back to once it is asked for again."""
    if run.kind == FlowReplayRun.Kind.SUGGEST:
        query = {k: v for k, v in run.params.items() if v}
        url = reverse("webui:flows_suggest", args=[cluster.name])
        return f"{url}?{urlencode({**query, 'snapshot': run.snapshot_id})}"
    if run.kind == FlowReplayRun.Kind.WHATIF and url_has_allowed_host_and_scheme(
        given, allowed_hosts=None
    ):
        return given  # the what-if page, as it was
    return f"{reverse('webui:flows', args=[cluster.name])}?snapshot={run.snapshot_id}"


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} bytes"


def shown_replay(bounded: dict, cluster, keep: str) -> dict:
    """A bounded replay (``auditor.flows.bounded_replay``) as the pages draw it: totals,
    lists of at most ``SHOWN`` rows, each deciding rule linked to its policy."""

    def rows(part: dict) -> list[dict]:
        return [{**e, "rules": _rules(e["rule"], cluster, keep)} for e in part["rows"][:SHOWN]]

    unused = [
        {**r, "url": _policy_url(cluster, r, keep)} for r in bounded["unused_rules"]["rows"][:SHOWN]
    ]
    return {
        "matched": bounded["matched"],
        "unmatched": bounded["unmatched"],
        "allowed": bounded["allowed"]["flows"],
        "denied": bounded["denied"]["flows"],
        "outside": bounded["outside_policy"]["flows"],
        "denied_rows": rows(bounded["denied"]),
        "denied_total": bounded["denied"]["total"],
        "would_deny_rows": rows(bounded["would_deny"]),
        "would_deny_total": bounded["would_deny"]["total"],
        "would_deny_flows": bounded["would_deny"]["flows"],
        "disagreements": rows(bounded["disagreements"]),
        "disagreements_total": bounded["disagreements"]["total"],
        "unused": unused,
        "unused_total": bounded["unused_rules"]["total"],
        "unused_since": bounded.get("unused_since"),
        "unmatched_ends": bounded["unmatched_ends"]["rows"][:SHOWN],
        "unmatched_ends_total": bounded["unmatched_ends"]["total"],
    }


def _rules(rules: list[dict], cluster, keep: str) -> list[dict]:
    out = []
    for r in rules:
        kind = r.get("kind", "NetworkPolicy")
        named = r["policy"] if kind == "NetworkPolicy" else f"{kind} {r['policy']}"
        if r["rule"]:
            text = f"{named}, {r['rule']}"
        elif kind == "NetworkPolicy":
            text = f"{named} (no rule allows it)"
        else:
            text = f"{named} (decided here)"
        out.append(
            {"direction": r["direction"], "text": text, "url": _policy_url(cluster, r, keep)}
        )
    return out


def _policy_url(cluster, r: dict, keep: str) -> str | None:
    """The page of a replay entry's policy (any kind), at the rule when there is one."""
    policy, rule = r["policy"], r["rule"]
    if not policy or "/" not in policy:
        return None
    url = policy_page_url(cluster.name, r.get("kind", "NetworkPolicy"), policy)
    query = {"snapshot": keep} if keep else {}
    anchor = ""
    if rule and "[" in rule:
        direction = rule.removeprefix("spec.").split("[", 1)[0]
        anchor = f"{direction}-{rule.rsplit('[', 1)[1].rstrip(']')}"
        query["rule"] = anchor
    return url + (f"?{urlencode(query)}" if query else "") + (f"#{anchor}" if anchor else "")


def whatif_flows(cluster, snapshot, text: str, remove) -> dict | None:
    """The what-if page's "would deny N observed flows" (``_whatif_flows.html``): the
    cluster's imported flows replayed on the snapshot and on the snapshot with the change
    (``text``, the pasted policies, and ``remove``); inside the request for a snapshot of
    up to ``FLOWS_INLINE_MAX_PODS`` pods, else by a worker (a ``whatif`` run the section
    polls). None when none were imported. Its keys: ``replay`` (``shown_replay``), or
    ``run`` while a worker computes it, or ``problem``."""
    if not cluster.flow_imports.exists():
        return None
    if replays_inline(snapshot):
        result = whatif_replay(
            cluster=cluster, model=engine_model(snapshot), text=text, remove=remove
        )
        return None if result is None else {"replay": shown_replay(result, cluster, "")}
    params = {"yaml": text, "remove": sorted(remove)}
    run = flows_replay_run_for(snapshot=snapshot, kind=FlowReplayRun.Kind.WHATIF, params=params)
    return _whatif_flows_of(flows_replay_run_fail_stale(run=run), cluster)


def _whatif_flows_of(run: FlowReplayRun, cluster) -> dict:
    if run.status == FlowReplayRun.Status.COMPLETE:
        if run.result is None:  # the imports were removed meanwhile
            return {"problem": "The flows were removed while they were replayed."}
        return {"replay": shown_replay(run.result, cluster, "")}
    flows = {"run": run, "snapshot": run.snapshot}
    if run.status == FlowReplayRun.Status.FAILED:
        flows["problem"] = run.error
    return flows


# --- least-privilege suggestions from the imported flows (netpol/suggest.py) ------------


@require_http_methods(["GET"])
@require_role("viewer")
def suggest_page(request, name):
    """Suggested policies for a namespace or a workload (``?namespace=`` or ``?workload=
    ns/Kind/name``) from the imported flows, verified by the engine before they are shown,
    with a button that runs them as a what-if. Inside the request for a snapshot of up to
    ``FLOWS_INLINE_MAX_PODS`` pods, else by a worker (a ``suggest`` run the page polls)."""
    cluster = get_cluster(name)
    snapshot, empty = snapshot_for(request, cluster)
    if empty:
        return empty
    namespace = request.GET.get("namespace", "").strip()
    workload = request.GET.get("workload", "").strip()
    context = {
        "cluster": cluster,
        "snapshot": snapshot,
        "pinned": bool(request.GET.get("snapshot")),
        "namespace": namespace,
        "workload": workload,
        "can_try": has_role(request.user, "auditor"),
        "can_import": has_role(request.user, "auditor"),
    }
    status = 200
    if not cluster.flow_imports.exists():
        context["no_flows"] = True
    elif replays_inline(snapshot):
        model = engine_model(snapshot)
        result = flows_replay(cluster=cluster, model=model)
        context["suggest_namespaces"] = replay_namespaces(result)
        if namespace or workload:
            try:
                context["suggestion"] = suggestion_result(
                    model, result, namespace=namespace, workload=workload
                )
            except InputError as exc:
                context["problem"] = str(exc)
                status = 400
            except SuggestionError as exc:
                context["problem"] = run_error(exc)
                status = 500
    else:
        context["suggest_namespaces"] = _namespaces_without_replay(snapshot)
        if namespace and workload:
            context["problem"] = "choose a namespace or a workload, not both"
            status = 400
        elif namespace or workload:
            params = {"namespace": namespace, "workload": workload}
            run = flows_replay_run_for(
                snapshot=snapshot, kind=FlowReplayRun.Kind.SUGGEST, params=params
            )
            run = flows_replay_run_fail_stale(run=run)
            context["run"] = run
            if run.status == FlowReplayRun.Status.COMPLETE:
                context["suggestion"] = run.result
            elif run.status == FlowReplayRun.Status.FAILED:
                context["problem"] = run.error
    return render(request, "webui/flows_suggest.html", context, status=status)


def _namespaces_without_replay(snapshot) -> list[str]:
    """The suggestion form's namespaces on a large snapshot: those the flows name once the
    Flows page's replay is stored, else every namespace of the snapshot."""
    replay = FlowReplayRun.objects.filter(
        snapshot=snapshot, kind=FlowReplayRun.Kind.REPLAY, status=FlowReplayRun.Status.COMPLETE
    ).first()
    if replay is not None and replay.result:
        return replay.result["namespaces"]
    return list(
        Namespace.objects.filter(snapshot=snapshot).order_by("name").values_list("name", flat=True)
    )
