"""OpenDSR processors: the tracker, as controller, forwards a task to a processor (OpenDSR v2).

A system of kind ``opendsr`` names the processor's base URL (``endpoint_url``: the one under which
``v1/discovery`` is) and, in ``connection_env``, the variable holding the API key the processor
gave us (``Authorization: Bearer <key>``, the scheme of our own ``/v1/`` endpoints; the spec
leaves controller authentication to the processor). Export tasks become ``access`` requests
(``portability`` when the subject asked for portability), erasure tasks ``erasure`` requests.

Sending a task:

1. ``GET v1/discovery``; the certificate it names must be on the processor's own host (https
   unless ``SYSTEM_HTTP_ALLOW_HTTP``), name that host and be valid today; discovery's own answer
   must be signed by it. The certificate is pinned on the task (``evidence["opendsr"]``): every
   later answer and status callback for the task is checked against it.
2. ``POST v1/requests`` with a ``subject_request_id`` chosen once per task and kept in
   ``external_ref`` before the first attempt, so a retry is the same request to the processor.
   The signed 201 receipt puts the task in progress.
3. The processor's status callbacks (``callback_views.opendsr``) and, when an officer retries the
   task, ``GET v1/requests/{id}`` move it on: ``pending`` and ``in_progress`` keep it in
   progress, ``completed`` settles it done, ``cancelled`` fails it for an officer to look at.

A processor's results stay with the processor: the task records ``results_url`` and
``results_count`` when it gives them, for staff to follow; they are not merged into our export.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from policies.models import RequestType
from systems.connections import ConnectionUnavailable, read_url
from systems.handlers import AnswerRefused, task_answer, task_fail
from systems.models import SystemTask, TaskAction, TaskStatus
from systems.webhooks import (
    RETRYABLE_STATUSES,
    USER_AGENT,
    WebhookError,
    declared_length,
    endpoint_problem,
    excerpt,
    http_session,
    read_limited,
)

# OpenDSR messages are a few hundred bytes; a certificate a few kilobytes.
MAX_MESSAGE_BYTES = 64 * 1024
SIGNATURE_HEADERS = ("X-OpenDSR-Signature", "X-OpenGDPR-Signature")
STATUSES = ("pending", "in_progress", "completed", "cancelled")
REGULATION = "gdpr"


class ProcessorError(Exception):
    """The processor cannot be used for the task as it stands; the message says why."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class SignatureInvalid(ProcessorError):
    """An answer or callback is not signed by the processor's pinned certificate."""


class NotThisRequest(ProcessorError):
    """A callback names another request than the one the task sent."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            payload = json.loads(self.body)
        except ValueError:
            raise ProcessorError(_("the processor's answer is not JSON")) from None
        if not isinstance(payload, dict):
            raise ProcessorError(_("the processor's answer is not a JSON object"))
        return payload


# --- HTTP ------------------------------------------------------------------------------------


def _call(
    method: str,
    url: str,
    *,
    key: str = "",
    body: bytes | None = None,
    accept: str = "application/json",
) -> Reply:
    problem = endpoint_problem(url)
    if problem:
        raise ProcessorError(problem)
    headers = {"Accept": accept, "User-Agent": USER_AGENT}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if body is not None:
        headers["Content-Type"] = "application/json"
    timeouts = (
        settings.SYSTEM_HTTP_CONNECT_TIMEOUT_SECONDS,
        settings.SYSTEM_HTTP_READ_TIMEOUT_SECONDS,
    )
    deadline = time.monotonic() + settings.SYSTEM_HTTP_ANSWER_SECONDS
    try:
        with (
            http_session() as session,
            session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=timeouts,
                allow_redirects=False,
                stream=True,
            ) as response,
        ):
            raw = read_limited(
                response.iter_content(8192),
                declared=declared_length(response.headers),
                deadline=deadline,
                limit=MAX_MESSAGE_BYTES,
            )
            reply = Reply(response.status_code, response.headers, raw)
    except WebhookError as error:
        raise ProcessorError(str(error), retryable=error.retryable) from None
    except requests.Timeout:
        raise ProcessorError(_("the processor did not answer in time"), retryable=True) from None
    except requests.RequestException:
        raise ProcessorError(_("the processor cannot be reached"), retryable=True) from None
    if 300 <= reply.status < 400:
        raise ProcessorError(
            f"the processor answered with a redirect (HTTP {reply.status}); redirects are not "
            "followed: set the base URL to the final address"
        )
    return reply


def _failure(reply: Reply, asked: str) -> ProcessorError:
    """What an error answer says (the spec's error object), as one line."""
    message = ""
    try:
        error = json.loads(reply.body).get("error", {})
        message = excerpt(str(error.get("message", "")))
    except (ValueError, AttributeError):
        pass
    detail = f": {message}" if message else ""
    retryable = reply.status in RETRYABLE_STATUSES or reply.status >= 500
    return ProcessorError(
        _("the processor answered HTTP %(status)d to %(asked)s%(detail)s")
        % {"status": reply.status, "asked": asked, "detail": detail},
        retryable=retryable,
    )


# --- The certificate and signatures ------------------------------------------------------------


def base_url(endpoint_url: str) -> str:
    return endpoint_url.rstrip("/") + "/"


def _names(certificate: x509.Certificate) -> set[str]:
    names: set[str] = set()
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names |= {name.lower() for name in extension.value.get_values_for_type(x509.DNSName)}
        names |= {str(ip) for ip in extension.value.get_values_for_type(x509.IPAddress)}
    except x509.ExtensionNotFound:
        pass
    for attribute in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        names.add(str(attribute.value).lower())
    return names


def _host_form(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower().rstrip(".")


def certificate_check(certificate: x509.Certificate, host: str, *, at: datetime) -> None:
    """Refuse a certificate that does not name ``host`` or is not valid at ``at``."""
    if _host_form(host) not in _names(certificate):
        raise ProcessorError(
            _("the processor's certificate is not issued for %(host)s") % {"host": host}
        )
    if not certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc:
        raise ProcessorError(_("the processor's certificate is not valid today"))


def signature_verify(
    certificate: x509.Certificate, body: bytes, headers: Mapping[str, str]
) -> None:
    """Check the base64 signature of ``body`` in the OpenDSR (or OpenGDPR) header."""
    given = next((headers.get(name) for name in SIGNATURE_HEADERS if headers.get(name)), "")
    if not given:
        raise SignatureInvalid(_("the processor's answer is not signed (X-OpenDSR-Signature)"))
    try:
        raw = base64.b64decode(given, validate=True)
        key = certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(raw, body, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, body, ec.ECDSA(hashes.SHA256()))
        else:
            raise SignatureInvalid(
                _("the processor's certificate holds neither an RSA nor an EC key")
            )
    except (InvalidSignature, ValueError):
        raise SignatureInvalid(
            _("the signature does not match the processor's certificate")
        ) from None


def discovery_fetch(endpoint_url: str, *, at: datetime) -> tuple[dict[str, Any], bytes]:
    """The processor's discovery document, checked, and its certificate (PEM)."""
    reply = _call("GET", urljoin(base_url(endpoint_url), "v1/discovery"))
    if reply.status != 200:
        raise _failure(reply, _("discovery"))
    discovery = reply.json()
    location = str(discovery.get("processor_certificate", ""))
    host = urlsplit(endpoint_url).hostname or ""
    if urlsplit(location).hostname != host:
        raise ProcessorError(
            _("discovery names a certificate on another host than the processor's")
        )
    answer = _call("GET", location, accept="application/x-pem-file")
    if answer.status != 200:
        raise _failure(answer, _("the request for its certificate"))
    try:
        certificate = x509.load_pem_x509_certificate(answer.body)
    except ValueError:
        raise ProcessorError(_("the processor's certificate is not a PEM certificate")) from None
    certificate_check(certificate, host, at=at)
    signature_verify(certificate, reply.body, reply.headers)
    return discovery, answer.body


def _pinned(task: SystemTask) -> x509.Certificate:
    pem = (task.evidence or {}).get("opendsr", {}).get("certificate", "")
    if not pem:
        raise SignatureInvalid(_("no certificate was pinned for this task's processor"))
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


# --- The request -------------------------------------------------------------------------------


def request_type(task: SystemTask) -> str:
    if task.action == TaskAction.ERASE:
        return "erasure"
    if task.action == TaskAction.EXPORT:
        portable = task.request.request_type == RequestType.PORTABILITY
        return "portability" if portable else "access"
    raise ProcessorError(
        _("OpenDSR has no request type for the action %(action)s") % {"action": task.action}
    )


def status_callback_url(task: SystemTask) -> str:
    return settings.SITE_URL + reverse("systems_callbacks:opendsr", args=[task.pk])


def request_body(task: SystemTask, subject_request_id: str) -> dict[str, Any]:
    request = task.request
    identities = [
        {"identity_type": "email", "identity_value": request.email, "identity_format": "raw"}
    ]
    if request.account_identifier:
        identities.append(
            {
                "identity_type": "controller_customer_id",
                "identity_value": request.account_identifier,
                "identity_format": "raw",
            }
        )
    return {
        "regulation": REGULATION,
        "subject_request_id": subject_request_id,
        "subject_request_type": request_type(task),
        "submitted_time": request.received_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "subject_identities": identities,
        "api_version": "2.0",
        "status_callback_urls": [status_callback_url(task)],
    }


def _api_key(task: SystemTask) -> str:
    system = task.system
    if not system.connection_env:
        raise ProcessorError(
            _("the system %(system)s names no variable holding its API key")
            % {"system": system.name}
        )
    try:
        return read_url(system.connection_env)
    except ConnectionUnavailable as error:
        raise ProcessorError(
            _("the API key of %(system)s: %(error)s") % {"system": system.name, "error": error}
        ) from None


def _evidence_update(task: SystemTask, **opendsr: Any) -> None:
    with transaction.atomic():
        locked = SystemTask.objects.select_for_update().get(pk=task.pk)
        evidence = dict(locked.evidence or {})
        evidence["opendsr"] = {**evidence.get("opendsr", {}), **opendsr}
        SystemTask.objects.filter(pk=task.pk).update(evidence=evidence)
    task.evidence = evidence


def _subject_request_id(task: SystemTask) -> str:
    """The id the processor knows the task by: chosen once, kept before it is first sent."""
    if task.external_ref:
        return task.external_ref
    chosen = str(uuid.uuid4())
    SystemTask.objects.filter(pk=task.pk, external_ref="").update(external_ref=chosen)
    task.refresh_from_db(fields=["external_ref"])
    return task.external_ref


def forward(task: SystemTask, *, at: datetime | None = None) -> str:
    """Send (or, once sent, look up) the task's request at the processor; return its status."""
    now = at or datetime.now(UTC)
    key = _api_key(task)
    subject_request_id = _subject_request_id(task)
    discovery, pem = discovery_fetch(task.system.endpoint_url, at=now)
    wanted = request_type(task)
    if wanted not in discovery.get("supported_subject_request_types", []):
        raise ProcessorError(
            _("the processor does not support %(type)s requests") % {"type": wanted}
        )
    _evidence_update(task, certificate=pem.decode("ascii"), subject_request_id=subject_request_id)
    certificate = _pinned(task)
    requests_url = urljoin(base_url(task.system.endpoint_url), "v1/requests")
    looked_up = _call("GET", f"{requests_url}/{subject_request_id}", key=key)
    if looked_up.status == 200:
        signature_verify(certificate, looked_up.body, looked_up.headers)
        return status_apply(task, looked_up.json())
    if looked_up.status != 404:
        raise _failure(looked_up, _("the status lookup"))
    body = json.dumps(request_body(task, subject_request_id)).encode("utf-8")
    receipt = _call("POST", requests_url, key=key, body=body)
    if receipt.status != 201:
        raise _failure(receipt, _("the request"))
    signature_verify(certificate, receipt.body, receipt.headers)
    payload = receipt.json()
    if payload.get("subject_request_id") != subject_request_id:
        raise ProcessorError(_("the processor's receipt is for another request"))
    _evidence_update(
        task,
        received_time=str(payload.get("received_time", "")),
        expected_completion_time=str(payload.get("expected_completion_time", "")),
    )
    expected = payload.get("expected_completion_time", "")
    task_answer(
        task,
        status=TaskStatus.IN_PROGRESS,
        note=_("Received by the processor; expected completion %(time)s.") % {"time": expected},
        by=task.system.name,
    )
    return "pending"


def status_apply(task: SystemTask, payload: Mapping[str, Any]) -> str:
    """Move the task on by the processor's status (a callback's or a lookup's); return it."""
    status = payload.get("request_status")
    if status not in STATUSES:
        raise ProcessorError(_("the processor's status is not one of OpenDSR's"))
    results = {name: payload[name] for name in ("results_url", "results_count") if name in payload}
    _evidence_update(task, request_status=status, **results)
    task.refresh_from_db()
    if not task.is_open:
        return str(status)
    by = task.system.name
    if status == "completed":
        note = _("The processor completed the request.")
        if "results_url" in results:
            note += " " + _("Its results: %(url)s") % {"url": results["results_url"]}
        task_answer(task, status=TaskStatus.DONE, note=note, by=by)
    elif status == "cancelled":
        task_fail(task, _("the processor cancelled the request"), retryable=False)
    return str(status)


def callback_receive(task: SystemTask, raw: bytes, headers: Mapping[str, str]) -> str:
    """Check a status callback for ``task`` and apply it; return the task's status after it.

    Raise ``SignatureInvalid`` (not signed by the pinned certificate), ``NotThisRequest`` or
    ``ProcessorError`` (malformed); nothing changes then. A callback repeated, or arriving
    after the task settled, changes nothing.
    """
    signature_verify(_pinned(task), raw, headers)
    payload = Reply(200, headers, raw).json()
    if not task.external_ref or payload.get("subject_request_id") != task.external_ref:
        raise NotThisRequest(_("the callback is for another request than this task's"))
    try:
        status_apply(task, payload)
    except AnswerRefused as error:
        raise ProcessorError(str(error)) from None
    task.refresh_from_db()
    return task.status


class ProcessorHandler:
    """Sends the tasks of ``opendsr`` systems (``systems.handlers``)."""

    def send(self, task: SystemTask) -> None:
        try:
            forward(task)
        except ProcessorError as error:
            task_fail(task, str(error), retryable=error.retryable)
