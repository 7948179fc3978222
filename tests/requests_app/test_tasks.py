from __future__ import annotations

from datetime import timedelta
from smtplib import SMTPServerDisconnected
from typing import Any

import pytest
import time_machine
from celery.exceptions import Retry
from django.core import mail
from django.utils import timezone

from config.celery import app as celery_app
from policies.models import PolicyVersion
from requests_app.models import RequestStatus, SubjectRequest
from requests_app.tasks import expire_unverified_requests, send_request_email
from tests.tracker import file_request, links_in_outbox

pytestmark = pytest.mark.django_db


def test_the_expiry_job_is_scheduled_every_hour(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["every-hour-expire-unverified-requests"]

    assert entry["task"] == expire_unverified_requests.name
    assert entry["task"] in celery_app.tasks


def test_the_expiry_task_expires_stale_requests(version: PolicyVersion) -> None:
    file_request(version)

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert expire_unverified_requests() == 1

    assert SubjectRequest.objects.get().status == RequestStatus.EXPIRED


def test_the_email_task_sends_the_confirmation_in_text_and_html(version: PolicyVersion) -> None:
    request = file_request(version)

    assert send_request_email(request.pk, "verification") is True

    (message,) = mail.outbox
    assert request.reference in message.subject
    alternatives = message.alternatives  # type: ignore[attr-defined]
    assert [kind for _body, kind in alternatives] == ["text/html"]
    (token,) = links_in_outbox("confirm")
    assert token in message.alternatives[0][0]  # type: ignore[attr-defined]
    assert request.events.filter(kind="email_sent").count() == 1


def test_no_confirmation_is_mailed_for_a_request_no_longer_waiting(version: PolicyVersion) -> None:
    request = file_request(version)
    SubjectRequest.objects.filter(pk=request.pk).update(
        status=RequestStatus.EXPIRED, closed_at=timezone.now()
    )

    assert send_request_email(request.pk, "verification") is False
    assert mail.outbox == []


def test_a_mail_server_failure_is_retried(version: PolicyVersion, settings: Any) -> None:
    settings.EMAIL_BACKEND = "tests.requests_app.test_tasks.FailingBackend"
    request = file_request(version)

    # In-process, Celery raises Retry where a worker would schedule the next attempt.
    with pytest.raises(Retry, match="connection lost"):
        send_request_email.apply(args=(request.pk, "verification"), throw=True)

    assert FailingBackend.attempts >= 1
    # Nothing was sent, so nothing is recorded as sent.
    assert not request.events.filter(kind="email_sent").exists()


class FailingBackend:
    attempts = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send_messages(self, messages: list[Any]) -> int:
        type(self).attempts += 1
        raise SMTPServerDisconnected("connection lost")
