"""Status callbacks: signed POSTs to the controller on every status change, retried until taken."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache

from config.celery import app as celery_app
from opendsr.callbacks import CallbackFailed, callback_deliver, callbacks_dispatch
from opendsr.models import Controller, OpenDSRCallback, OpenDSRRequest
from policies.models import RequestType
from requests_app.audit import Actor
from requests_app.models import EventKind, SubjectRequest
from requests_app.workflow import (
    request_complete,
    request_extend,
    request_hold,
    request_resume,
    request_start,
)
from tests.api.conftest import CommittingClient
from tests.factories import ControllerFactory, OrganizationFactory
from tests.opendsr.conftest import (
    CallbackServer,
    opendsr_request,
    post_request,
    served_certificate,
    verify_signature,
)
from tests.tracker import publish_version

SYSTEM = Actor.system("test")


@pytest.fixture(autouse=True)
def _http_callbacks_allowed(settings: Any) -> None:
    # The local server speaks plain HTTP; production allows https only.
    settings.OPENDSR_CALLBACK_ALLOW_HTTP = True


def _filed(client: CommittingClient, *urls: str) -> SubjectRequest:
    body = opendsr_request(status_callback_urls=list(urls))
    assert post_request(client, body).status_code == 201
    return SubjectRequest.objects.get(opendsr__subject_request_id=body["subject_request_id"])


@pytest.mark.django_db
def test_a_status_change_is_posted_signed_to_every_callback_url(
    opendsr: CommittingClient,
    api: CommittingClient,
    callback_server: CallbackServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    urls = [callback_server.url("/a"), callback_server.url("/b")]
    request = _filed(opendsr, *urls)
    assert callback_server.received == []  # receiving a request is not a change

    with django_capture_on_commit_callbacks(execute=True):
        request_start(request=request, actor=SYSTEM)

    certificate = served_certificate(api)
    link = OpenDSRRequest.objects.get()
    assert sorted(r.path for r in callback_server.received) == ["/a", "/b"]
    for received in callback_server.received:
        verify_signature(certificate, received.body, received.headers["x-opendsr-signature"])
        body = json.loads(received.body)
        assert body == {
            "controller_id": "oqtepa",
            "expected_completion_time": body["expected_completion_time"],
            "status_callback_url": callback_server.url(received.path),
            "subject_request_id": str(link.subject_request_id),
            "request_status": "in_progress",
            "api_version": "2.0",
        }
    assert link.reported_status == "in_progress"
    assert all(c.delivered_at for c in OpenDSRCallback.objects.all())


@pytest.mark.django_db
def test_the_subject_is_never_emailed_and_the_controller_hears_of_every_change(
    opendsr: CommittingClient,
    callback_server: CallbackServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    body = opendsr_request(
        subject_request_type="access", status_callback_urls=[callback_server.url()]
    )
    assert post_request(opendsr, body).status_code == 201
    request = SubjectRequest.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        request = request_start(request=request, actor=SYSTEM)
    with django_capture_on_commit_callbacks(execute=True):
        request = request_hold(request=request, actor=SYSTEM, question="Which account?")
    with django_capture_on_commit_callbacks(execute=True):
        request = request_resume(request=request, actor=SYSTEM)
    with django_capture_on_commit_callbacks(execute=True):
        request = request_extend(request=request, actor=SYSTEM, amount=10, reason="Busy.")
    with django_capture_on_commit_callbacks(execute=True):
        request_complete(request=request, actor=SYSTEM, outcome="Sent to the controller.")

    assert mail.outbox == []
    assert not request.events.filter(kind=EventKind.EMAIL_SENT).exists()
    assert request.events.get(kind=EventKind.EXTENDED).data["subject_told"] is False
    reported = [json.loads(r.body)["request_status"] for r in callback_server.received]
    # On hold and back is "in_progress" throughout for the controller: nothing new to report.
    assert reported == ["in_progress", "completed"]


@pytest.mark.django_db
def test_every_attempt_is_recorded_until_the_controller_accepts_the_callback(
    opendsr: CommittingClient, callback_server: CallbackServer
) -> None:
    request = _filed(opendsr, callback_server.url())
    request_start(request=request, actor=SYSTEM)
    callbacks_dispatch()
    callback_id = OpenDSRCallback.objects.get().pk
    callback_server.answers = [503]

    with pytest.raises(CallbackFailed):
        callback_deliver(callback_id=callback_id)
    failed = OpenDSRCallback.objects.get()
    delivered = callback_deliver(callback_id=callback_id)
    again = callback_deliver(callback_id=callback_id)

    callback = OpenDSRCallback.objects.get()
    assert (failed.attempts, failed.response_status, failed.delivered_at) == (1, 503, None)
    assert delivered is again is True
    assert (callback.attempts, callback.response_status, callback.last_error) == (2, 200, "")
    assert callback.delivered_at is not None
    assert len(callback_server.received) == 2


@pytest.mark.django_db
def test_each_change_is_reported_once_however_often_dispatch_runs(
    opendsr: CommittingClient, callback_server: CallbackServer
) -> None:
    request = _filed(opendsr, callback_server.url())
    request = request_start(request=request, actor=SYSTEM)

    counts = [callbacks_dispatch(), callbacks_dispatch()]
    request_complete(request=request, actor=SYSTEM, outcome="Erased.")
    counts.append(callbacks_dispatch())

    assert counts == [1, 0, 1]
    assert list(
        OpenDSRCallback.objects.order_by("pk").values_list("request_status", flat=True)
    ) == ["in_progress", "completed"]


@pytest.mark.django_db
def test_a_callback_to_a_host_no_longer_allowed_is_not_sent(
    opendsr: CommittingClient, controller: Controller, callback_server: CallbackServer
) -> None:
    request = _filed(opendsr, callback_server.url())
    request_start(request=request, actor=SYSTEM)
    callbacks_dispatch()
    Controller.objects.filter(pk=controller.pk).update(callback_hosts="dsr.oqtepa.example")

    sent = callback_deliver(callback_id=OpenDSRCallback.objects.get().pk)

    assert sent is False
    assert callback_server.received == []
    assert "no longer allows" in OpenDSRCallback.objects.get().last_error


@pytest.mark.django_db
def test_a_redirect_is_not_followed_and_counts_as_a_failure(
    opendsr: CommittingClient, callback_server: CallbackServer
) -> None:
    request = _filed(opendsr, callback_server.url("/moved"))
    request_start(request=request, actor=SYSTEM)
    callbacks_dispatch()
    callback_server.answers = [302]
    callback_server.redirect_to = callback_server.url("/elsewhere")

    with pytest.raises(CallbackFailed):
        callback_deliver(callback_id=OpenDSRCallback.objects.get().pk)

    assert [r.path for r in callback_server.received] == ["/moved"]
    assert OpenDSRCallback.objects.get().response_status == 302


@pytest.mark.django_db
def test_a_controller_that_cannot_be_reached_is_recorded_and_retried(
    opendsr: CommittingClient, callback_server: CallbackServer
) -> None:
    request = _filed(opendsr, "http://127.0.0.1:9/unreachable")
    request_start(request=request, actor=SYSTEM)
    callbacks_dispatch()

    with pytest.raises(CallbackFailed):
        callback_deliver(callback_id=OpenDSRCallback.objects.get().pk)

    callback = OpenDSRCallback.objects.get()
    assert callback.attempts == 1
    assert callback.delivered_at is None
    assert "URLError" in callback.last_error


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_retries_a_callback_with_backoff_after_it_fails_once(
    celery_worker: subprocess.Popen[bytes], callback_server: CallbackServer, settings: Any
) -> None:
    settings.SECURE_SSL_REDIRECT = False
    cache.clear()
    celery_app.conf.task_always_eager = False
    organization = OrganizationFactory.create(slug="worker-processor")
    publish_version(organization, {RequestType.DELETION: {"response_period": 30}})
    controller = ControllerFactory.create(organization=organization, callback_hosts="127.0.0.1")
    client = CommittingClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {controller.api_key}")
    callback_server.answers = [500]
    request = _filed(client, callback_server.url())

    request_start(request=request, actor=SYSTEM)  # commits: the worker takes it from here

    deadline = time.monotonic() + 60
    callback = None
    while time.monotonic() < deadline:
        callback = OpenDSRCallback.objects.filter(delivered_at__isnull=False).first()
        if callback is not None:
            break
        time.sleep(0.2)
    assert callback is not None, "the worker did not deliver the callback within 60 s"
    assert callback.attempts == 2
    assert [json.loads(r.body)["request_status"] for r in callback_server.received] == [
        "in_progress",
        "in_progress",
    ]
    certificate = served_certificate(client)
    verify_signature(
        certificate,
        callback_server.received[-1].body,
        callback_server.received[-1].headers["x-opendsr-signature"],
    )
