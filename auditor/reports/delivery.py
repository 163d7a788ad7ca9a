"""Sending one report: by email, or to a webhook (JSON or Slack-compatible text).

Each sender makes one attempt and raises ``DeliveryError`` on failure, saying whether
another attempt may succeed (``transient``): a refused connection, a timeout, an SMTP
4xx or an HTTP 408/425/429/5xx may pass later; a refused address, an SMTP 5xx or any
other HTTP answer will not. Retrying and recording belong to ``services.delivery_send``.

Webhook signature: ``X-Netpol-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the raw
request body with the schedule's secret. The body's ``sent_at`` is signed with it, so a
receiver can refuse old replays. See docs/reports.md for a verifier.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from netpol.sarif import tool_version

from .html import counts_text

SIGNATURE_HEADER = "X-Netpol-Signature-256"
EVENT = "report.created"
TRANSIENT_HTTP = {408, 425, 429}
CHANGE_LINES = 10


class DeliveryError(Exception):
    def __init__(self, message: str, *, transient: bool, code: int | None = None):
        super().__init__(message)
        self.transient = transient
        self.code = code


def redact_url(url: str) -> str:
    """Scheme and host only: a webhook's path often is its secret (Slack, Teams)."""
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname or ''}"
    if parts.port:
        shown += f":{parts.port}"
    return shown + ("/…" if parts.path.strip("/") or parts.query else "/")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- What is said --------------------------------------------------------------------


@dataclass(frozen=True)
class Links:
    html: str
    pdf: str
    json: str
    csv: str
    sarif: str


def subject(content: dict) -> str:
    summary, changes = content["summary"], content["changes"]
    score = summary["score"]
    parts = [
        f"score {score:g}" if score is not None else "no score",
        counts_text(summary["counts"]),
    ]
    if changes.get("baseline"):
        parts.append(f"{changes['new_count']} new, {changes['resolved_count']} resolved")
    name = (content.get("schedule") or {}).get("name") or "report"
    team = f" ({content['team']['label']})" if content.get("team") else ""
    return f"[Netpol Auditor] {content['cluster']['name']}{team}: {name}: " + "; ".join(parts)


def webhook_payload(content: dict, links: Links, *, delivery_id: int, sent_at: str) -> dict:
    """What a JSON webhook receives: the summary and changes, and links to every format."""
    changes = content["changes"]
    return {
        "event": EVENT,
        "delivery": delivery_id,
        "sent_at": sent_at,
        "report": {
            "id": content["report_id"],
            "generated_at": content["generated_at"],
            "changed": changes["changed"],
            "links": {
                "html": links.html,
                "pdf": links.pdf,
                "json": links.json,
                "csv": links.csv,
                "sarif": links.sarif,
            },
        },
        "cluster": content["cluster"]["name"],
        "team": content.get("team"),
        "schedule": content.get("schedule"),
        "snapshot": content["snapshot"],
        # The headline less its per-namespace rows: those are in the JSON export, linked.
        "summary": {
            **content["summary"],
            **(
                {"headline": {k: v for k, v in content["summary"]["headline"].items() if k != "namespaces"}}
                if content["summary"].get("headline")
                else {}
            ),
        },
        "top_offenders": content["top_offenders"],
        "changes": {**changes, "new": changes["new"][:50], "resolved": changes["resolved"][:50]},
        "waivers": {
            "active": len(content["waivers"]["active"]),
            "expired": len(content["waivers"]["expired"]),
            "expiring_soon": sum(1 for w in content["waivers"]["active"] if w["expires_soon"]),
        },
    }


def _esc(text: str) -> str:
    """Slack's three control characters, so a name cannot become a link or a mention."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(content: dict, links: Links) -> str:
    """Slack mrkdwn; Mattermost, Rocket.Chat and Teams' Slack-compatible hooks read it too."""
    summary, changes = content["summary"], content["changes"]
    cov = summary["coverage"].get("percent")
    score = summary["score"]
    lines = [
        f"*Netpol Auditor: {_esc(content['cluster']['name'])}*"
        + (f" ({_esc(content['schedule']['name'])})" if content.get("schedule") else ""),
        f"Score *{'n/a' if score is None else f'{score:g}'}/100*, coverage *{'-' if cov is None else f'{cov:g}%'}*; "
        f"{counts_text(summary['counts'])}"
        + (f"; {summary['waived']} waived" if summary["waived"] else ""),
    ]
    reason = (summary.get("headline") or {}).get("reason")
    if reason:
        lines.append(_esc(reason))
    if changes.get("baseline"):
        delta = []
        if changes.get("score"):
            delta.append(f"score {changes['score']['change']:+g}")
        if "percent" in changes["coverage"]:
            delta.append(f"coverage {changes['coverage']['percent']['change']:+g} points")
        lines.append(
            f"Since the last report: {changes['new_count']} new, {changes['resolved_count']} resolved"
            + (f", {', '.join(delta)}" if delta else "")
        )
        for verb, findings in (("new", changes["new"]), ("resolved", changes["resolved"])):
            for f in findings[:CHANGE_LINES]:
                where = f" in {_esc(f['namespace'])}" if f["namespace"] else ""
                lines.append(f"• {verb} [{f['severity']}] {f['rule']} {_esc(f['title'])}{where}")
        hidden = max(0, changes["new_count"] - CHANGE_LINES) + max(
            0, changes["resolved_count"] - CHANGE_LINES
        )
        if hidden:
            lines.append(f"…and {hidden} more in the report")
    lines.append(f"<{links.html}|Open the report> · <{links.pdf}|PDF> · <{links.sarif}|SARIF>")
    return "\n".join(lines)


# --- Sending -------------------------------------------------------------------------


def send_email(
    *, to: str, subject_line: str, text: str, html: str, pdf: bytes | None, pdf_name: str
) -> None:
    if (
        settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"
        and not settings.EMAIL_HOST
    ):
        raise DeliveryError(
            "email is not configured: set EMAIL_HOST (see docs/reports.md)", transient=False
        )
    message = EmailMultiAlternatives(
        subject_line,
        text,
        settings.DEFAULT_FROM_EMAIL,
        [to],
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT),
    )
    message.attach_alternative(html, "text/html")
    if pdf is not None:
        message.attach(pdf_name, pdf, "application/pdf")
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()), (None, b""))
        raise DeliveryError(
            f"the server refused {to}: {code} {_text(reply)}",
            transient=_smtp_transient(code),
            code=code,
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}",
            transient=_smtp_transient(exc.smtp_code),
            code=exc.smtp_code,
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(
            f"cannot reach the mail server {settings.EMAIL_HOST}:{settings.EMAIL_PORT}: "
            f"{type(exc).__name__}: {exc}",
            transient=True,
        ) from None


def _smtp_transient(code) -> bool:
    return not (isinstance(code, int) and 500 <= code < 600)


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: re-posting a signed report elsewhere is not ours to decide."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post_webhook(*, url: str, body: bytes, secret: str, delivery_id: int) -> int:
    """POST ``body``; the HTTP status on a 2xx answer, else ``DeliveryError``."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"netpol-auditor/{tool_version()}",
        "X-Netpol-Event": EVENT,
        "X-Netpol-Delivery": str(delivery_id),
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    where = redact_url(url)
    try:
        with _opener.open(request, timeout=settings.REPORT_WEBHOOK_TIMEOUT) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode(errors="replace").strip() if exc.fp else ""
        transient = exc.code >= 500 or exc.code in TRANSIENT_HTTP
        if 300 <= exc.code < 400:
            detail = (
                f"redirect to {exc.headers.get('Location', '?')} not followed; give the final URL"
            )
        raise DeliveryError(
            f"{where} answered HTTP {exc.code}" + (f": {detail}" if detail else ""),
            transient=transient,
            code=exc.code,
        ) from None
    except OSError as exc:  # URLError, refused connections and timeouts are all OSErrors
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach {where}: {reason}", transient=True) from None


def json_body(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
