"""Email through a real SMTP server, webhooks to a real HTTP receiver: signatures,
retries with backoff, and receivers that are down or refuse."""

from __future__ import annotations

import hashlib
import hmac
import io
import json

import pytest
from pypdf import PdfReader

from auditor.models import Delivery, Report, ReportSchedule
from auditor.reports import services
from auditor.reports.delivery import SIGNATURE_HEADER

from .conftest import take_snapshot
from .helpers import build, make_schedule

pytestmark = pytest.mark.django_db
SECRET = "s3cret-for-hmac"


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (docs/reports.md): HMAC the raw body, compare in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def send_all(report: Report) -> list[Delivery]:
    for delivery in report.deliveries.all():
        services.delivery_send(delivery_id=delivery.pk)
    return list(report.deliveries.order_by("channel", "id"))


@pytest.fixture
def analysed(demo_cluster):
    take_snapshot(demo_cluster)
    return demo_cluster


def webhook_schedule(cluster, url, **fields) -> ReportSchedule:
    schedule = make_schedule(cluster, webhook_url=url, **fields)
    schedule.set_webhook_secret(SECRET)
    schedule.save()
    return schedule


def test_email_arrives_through_smtp_with_the_pdf_and_a_link(analysed, smtp_sink, smtp_settings):
    smtp_settings.SITE_URL = "https://audit.example.com"
    schedule = make_schedule(analysed, recipients="ciso@example.com, oncall@example.com")
    report = build(schedule)
    deliveries = send_all(report)
    assert [(d.target, d.status, d.attempts) for d in deliveries] == [
        ("ciso@example.com", "sent", 1),
        ("oncall@example.com", "sent", 1),
    ]
    assert sorted(m["to"][0] for m in smtp_sink.messages) == [
        "ciso@example.com",
        "oncall@example.com",
    ]
    message = smtp_sink.parsed()[0]
    assert message["Subject"].startswith("[Netpol Auditor] demo: Weekly review: score 45")
    assert "7 high" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    link = f"https://audit.example.com/clusters/demo/reports/{report.pk}/"
    assert link in text and "Score: 45" in text and "WHAT CHANGED" in text
    # the score's sentence, as the overview gives it
    assert report.content["summary"]["headline"]["reason"] in text
    assert link in message.get_body(("html",)).get_content()
    [pdf] = [
        part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"
    ]
    assert pdf.get_filename() == f"netpol-report-demo-{report.pk}.pdf"
    pages = PdfReader(io.BytesIO(pdf.get_content())).pages
    assert "Network policy audit: demo" in pages[0].extract_text()


def test_email_without_the_pdf_when_the_schedule_says_so(analysed, smtp_sink, smtp_settings):
    report = build(make_schedule(analysed, recipients="ciso@example.com", attach_pdf=False))
    send_all(report)
    assert list(smtp_sink.parsed()[0].iter_attachments()) == []


def test_a_refused_recipient_fails_at_once_and_the_others_still_get_it(
    analysed, smtp_sink, smtp_settings
):
    smtp_sink.refuse.add("gone@example.com")
    report = build(make_schedule(analysed, recipients="gone@example.com\nciso@example.com"))
    gone, ciso = send_all(report)
    assert (gone.status, gone.attempts, gone.response_code) == ("failed", 1, 550)
    assert "refused gone@example.com" in gone.last_error
    assert ciso.status == "sent"


def test_email_without_a_configured_server_fails_visibly(analysed, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = ""
    [delivery] = send_all(build(make_schedule(analysed, recipients="ciso@example.com")))
    assert delivery.status == "failed" and "set EMAIL_HOST" in delivery.last_error


def test_webhook_posts_signed_json_with_links_and_changes(analysed, receiver, changing_demo):
    _, change = changing_demo
    schedule = webhook_schedule(analysed, receiver.url)
    build(schedule)
    change()
    take_snapshot(analysed)
    report = build(schedule)
    [delivery] = send_all(report)[-1:]
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("sent", 1, 200)
    request = receiver.requests[-1]
    headers = request["headers"]
    assert verify(SECRET, request["body"], headers[SIGNATURE_HEADER])
    assert not verify("another secret", request["body"], headers[SIGNATURE_HEADER])
    assert (
        headers["Content-Type"] == "application/json"
        and headers["X-Netpol-Event"] == "report.created"
    )
    assert headers["X-Netpol-Delivery"] == str(delivery.pk)
    payload = json.loads(request["body"])
    assert payload["report"]["id"] == report.pk and payload["cluster"] == "demo"
    assert payload["report"]["links"]["pdf"].endswith(
        f"/clusters/demo/reports/{report.pk}/export.pdf"
    )
    assert (
        payload["changes"]["new_count"] >= 1
        and payload["changes"]["baseline"]["report_id"] == report.previous_id
    )
    assert payload["summary"]["counts"]["high"] == report.counts["high"]
    # the headline without its per-namespace rows (in the JSON export): small at 2,000 namespaces
    headline = report.content["summary"]["headline"]
    assert payload["summary"]["headline"] == {k: v for k, v in headline.items() if k != "namespaces"}
    assert headline["namespaces"] and "namespaces" not in payload["summary"]["headline"]
    assert payload["sent_at"] and payload["delivery"] == delivery.pk
    # The delivery row shows where it went without the path (a Slack URL's secret).
    assert delivery.target == f"{receiver.url.split('/hooks')[0]}/…"


def test_slack_compatible_text(analysed, receiver):
    schedule = webhook_schedule(
        analysed, receiver.url, webhook_format=ReportSchedule.WebhookFormat.SLACK
    )
    report = build(schedule)
    send_all(report)
    body = json.loads(receiver.requests[0]["body"])
    assert set(body) == {"text"}
    assert body["text"].startswith("*Netpol Auditor: demo* (Weekly review)")
    assert (
        "Score *45/100*" in body["text"]
        and f"/reports/{report.pk}/|Open the report>" in body["text"]
    )
    assert report.content["summary"]["headline"]["reason"] in body["text"]


def test_unsigned_when_the_schedule_has_no_secret(analysed, receiver):
    send_all(build(make_schedule(analysed, webhook_url=receiver.url)))
    assert SIGNATURE_HEADER not in receiver.requests[0]["headers"]


def test_webhook_is_retried_with_backoff_until_the_receiver_accepts(analysed, receiver, settings):
    settings.REPORT_DELIVERY_BACKOFF = 30
    receiver.answers = [503, 429]
    report = build(webhook_schedule(analysed, receiver.url))
    [delivery] = report.deliveries.all()
    with pytest.raises(services.DeliveryRetry) as first:
        services.delivery_send(delivery_id=delivery.pk)
    assert first.value.countdown == 30
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("retrying", 1, 503)
    assert "answered HTTP 503" in delivery.last_error and delivery.next_attempt_at is not None
    with pytest.raises(services.DeliveryRetry) as second:
        services.delivery_send(delivery_id=delivery.pk)
    assert second.value.countdown == 60
    services.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 3, "")
    assert len(receiver.requests) == 3
    # Every attempt carries the same signed body shape.
    assert all(verify(SECRET, r["body"], r["headers"][SIGNATURE_HEADER]) for r in receiver.requests)
    # A redelivered task for a sent delivery does nothing.
    assert services.delivery_send(delivery_id=delivery.pk) is None and len(receiver.requests) == 3


def test_a_receiver_that_is_down_fails_after_the_attempts_and_the_report_is_kept(
    analysed, down_url, settings
):
    settings.REPORT_DELIVERY_ATTEMPTS = 3
    report = build(webhook_schedule(analysed, down_url))
    [delivery] = report.deliveries.all()
    for _ in range(2):
        with pytest.raises(services.DeliveryRetry):
            services.delivery_send(delivery_id=delivery.pk)
    services.delivery_send(delivery_id=delivery.pk)  # the last attempt: no retry
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error.startswith(
        "gave up after 3 attempts: cannot reach http://127.0.0.1:"
    )
    report.refresh_from_db()
    assert report.status == "complete" and report.content["summary"]["score"] == 45
    # Sent again by hand from a fresh count, once the receiver is fixed.
    assert services.delivery_retry(delivery=delivery)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)


@pytest.mark.parametrize(
    ("code", "status"), [(404, "failed"), (401, "failed"), (302, "failed"), (500, "retrying")]
)
def test_permanent_http_answers_are_not_retried(analysed, receiver, code, status):
    receiver.answers = [code]
    report = build(webhook_schedule(analysed, receiver.url))
    [delivery] = report.deliveries.all()
    try:
        services.delivery_send(delivery_id=delivery.pk)
    except services.DeliveryRetry:
        pass
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_code) == (status, code)
    if code == 302:
        assert "not followed" in delivery.last_error
    assert len(receiver.requests) == 1  # the redirect was not followed


def test_backoff_doubles_and_is_capped(settings):
    settings.REPORT_DELIVERY_BACKOFF = 30
    assert [services.backoff(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert services.backoff(20) == services.BACKOFF_CAP
