"""Systems reached over HTTP (webhooks): the signed message, its answer, and one exchange.

The protocol is documented for the businesses that implement it in ``docs/webhooks.md``; the
answer's JSON Schema is ``systems/schemas/webhook-answer.json``. In short: the tracker POSTs a
JSON message to the system's endpoint, signed with HMAC-SHA256 under a secret both sides hold
(``X-DSR-Signature: sha256=<hex>`` over ``<timestamp>.<body>``, ``X-DSR-Timestamp`` in Unix
seconds). The system answers at once (200 with its answer) or later (202, then a signed POST of
its answer to the message's ``callback_url``). Every answer is signed the same way, checked
before it is read, refused outside the replay window, limited in size and validated against the
schema; nothing of an answer that fails any check is kept.

The secret is never stored: ``System.connection_env`` names the environment variable holding it
(or a ``*_FILE`` variable naming a file that does). Endpoints must use https unless
``SYSTEM_HTTP_ALLOW_HTTP`` (local evaluation) and be on a host of ``SYSTEM_HTTP_ALLOWED_HOSTS``;
redirects are never followed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from policies.models import DataCategory
from requests_app.text import plain_text
from systems.connections import ConnectionUnavailable, read_url
from systems.handlers import AnswerRefused, task_answer, task_fail
from systems.models import System, SystemTask, TaskAction, TaskStatus

PROTOCOL = "dsr-tracker-webhook/1"
SIGNATURE_HEADER = "X-DSR-Signature"
TIMESTAMP_HEADER = "X-DSR-Timestamp"
TASK_HEADER = "X-DSR-Task"
DELIVERY_HEADER = "X-DSR-Delivery"
SIGNATURE_SCHEME = "sha256="
# 32 characters of a random secret (e.g. `openssl rand -hex 32` gives 64) resist guessing.
MIN_SECRET_LENGTH = 32
CHUNK_BYTES = 64 * 1024
# Statuses after which the same message may well succeed later.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
ANSWER_STATUSES = ("accepted", "done", "nothing_found", "failed")
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "webhook-answer.json"
USER_AGENT = "DSR-Tracker-webhooks/1"


class WebhookError(Exception):
    """An exchange that did not give a usable answer; the message says why, for staff.

    ``retryable``: the same message may succeed later (the system was down, slow, or busy).
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class SignatureRefused(WebhookError):
    """A signature is missing or wrong, or its timestamp is outside the replay window."""


@dataclass(frozen=True)
class Answer:
    """A system's answer, validated."""

    status: str
    reference: str = ""
    data: dict[str, list[dict[str, Any]]] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    kept: list[dict[str, str]] = field(default_factory=list)
    note: str = ""
    error: str = ""
    retryable: bool = False


@dataclass(frozen=True)
class Exchange:
    """What happened on one POST to a system, for the task's record (no personal data)."""

    delivery: str
    url: str
    started_at: float
    seconds: float = 0.0
    http_status: int | None = None
    bytes_read: int = 0
    outcome: str = ""

    def record(self) -> dict[str, Any]:
        return {
            "delivery": self.delivery,
            "url": self.url,
            "at": int(self.started_at),
            "seconds": round(self.seconds, 3),
            "http_status": self.http_status,
            "bytes": self.bytes_read,
            "outcome": self.outcome,
        }


# --- The secret and the endpoint -------------------------------------------------------------


def secret_read(system: System) -> bytes:
    """The system's shared secret, from the variable (or file) it names; never stored or shown."""
    if not system.connection_env:
        raise WebhookError(
            _(
                "the system %(system)s names no variable holding its shared secret "
                "(connection variable)"
            )
            % {"system": system.name}
        )
    try:
        secret = read_url(system.connection_env)
    except ConnectionUnavailable as error:
        raise WebhookError(
            _("the shared secret of %(system)s: %(error)s")
            % {"system": system.name, "error": error}
        ) from None
    if len(secret) < MIN_SECRET_LENGTH:
        raise WebhookError(
            _("the shared secret of %(system)s is shorter than %(length)d characters")
            % {"system": system.name, "length": MIN_SECRET_LENGTH}
        )
    return secret.encode("utf-8")


def endpoint_problem(url: str) -> str | None:
    """Why the tracker may not POST to ``url``, or None when it may."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return _("the endpoint URL cannot be read")
    allowed_schemes = {"https", "http"} if settings.SYSTEM_HTTP_ALLOW_HTTP else {"https"}
    if parts.scheme not in allowed_schemes:
        return _("the endpoint URL must use https")
    if not host:
        return _("the endpoint URL names no host")
    if parts.username or parts.password:
        return _("the endpoint URL must not hold a user name or password")
    allowed = {name.strip().rstrip(".").lower() for name in settings.SYSTEM_HTTP_ALLOWED_HOSTS}
    if host not in allowed:
        return _("the host %(host)s is not in SYSTEM_HTTP_ALLOWED_HOSTS") % {"host": host}
    return None


# --- Signatures ------------------------------------------------------------------------------


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return SIGNATURE_SCHEME + digest.hexdigest()


def signed_headers(secret: bytes, body: bytes, *, at: float | None = None) -> dict[str, str]:
    """The headers that sign ``body`` now (or at ``at``, Unix seconds)."""
    timestamp = str(int(time.time() if at is None else at))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def signature_check(
    secret: bytes, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> int:
    """Check the signature of ``body``; return its timestamp.

    ``headers`` is looked up case-insensitively by the caller's mapping (``requests`` and Django
    both give one). Raise ``SignatureRefused`` when the headers are missing or malformed, the
    timestamp is outside the replay window, or the signature does not match.
    """
    timestamp = (headers.get(TIMESTAMP_HEADER) or "").strip()
    given = (headers.get(SIGNATURE_HEADER) or "").strip()
    if not timestamp or not given:
        raise SignatureRefused(
            _("the answer is not signed (%(headers)s)")
            % {"headers": f"{TIMESTAMP_HEADER}, {SIGNATURE_HEADER}"}
        )
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureRefused(_("%(header)s must be Unix seconds") % {"header": TIMESTAMP_HEADER})
    moment = int(timestamp)
    window = settings.SYSTEM_HTTP_REPLAY_SECONDS
    if abs((time.time() if now is None else now) - moment) > window:
        raise SignatureRefused(
            _(
                "the signature's timestamp is more than %(seconds)d seconds away from now: "
                "refused as a possible replay (check the system's clock)"
            )
            % {"seconds": window}
        )
    if not hmac.compare_digest(signature(secret, timestamp, body), given.lower()):
        raise SignatureRefused(_("the signature does not match the body and the shared secret"))
    return moment


# --- The message -----------------------------------------------------------------------------


def callback_url(task: SystemTask) -> str:
    return settings.SITE_URL + reverse("systems_callbacks:webhook", args=[task.pk])


def task_categories(task: SystemTask) -> list[str]:
    """The data categories the message names: every category the tracker's policies use.

    The tracker knows a system of this kind only by what it declares, so the message lists them
    all and the system maps its own records onto them.
    """
    return list(DataCategory.values)


def message_build(task: SystemTask, *, sent_at: float, delivery: str) -> dict[str, Any]:
    """The message for ``task``: what is asked, about whom, by when, and where to answer."""
    request = task.request
    deadline = task.due_at or request.effective_due_at
    message: dict[str, Any] = {
        "protocol": PROTOCOL,
        "task_id": str(task.pk),
        "delivery": delivery,
        "request_reference": request.reference,
        "request_type": request.request_type,
        "action": task.action,
        "subject": {
            "email": request.email,
            # Filed on someone's behalf: the name of the person the request is for.
            "name": request.on_behalf_subject_name or request.name,
            "account_identifier": request.account_identifier,
        },
        "categories": task_categories(task),
        "deadline": deadline.isoformat() if deadline else None,
        "callback_url": callback_url(task),
        "sent_at": int(sent_at),
    }
    if task.action == TaskAction.CORRECT:
        details = request.details if isinstance(request.details, dict) else {}
        message["corrections"] = [
            {"field": str(item.get("field", "")), "value": str(item.get("value", ""))}
            for item in details.get("corrections", [])
            if isinstance(item, dict)
        ]
    return message


def compact(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- The answer ------------------------------------------------------------------------------


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(part) for part in error.absolute_path)
    return path or _("the answer")


def _describe(error: jsonschema.ValidationError) -> str:
    """One readable line for a schema error, naming the place but never quoting a value."""
    keyword, rule = error.validator, error.validator_value
    where = _where(error)
    values = {"where": where, "rule": rule}
    messages: dict[str, Callable[[], str]] = {
        "required": lambda: (
            _("%(where)s: %(member)s is missing") % {"where": where, "member": _missing(error)}
        ),
        "additionalProperties": lambda: (
            _("%(where)s holds a member the format does not have") % values
        ),
        "type": lambda: (
            _("%(where)s must be of type %(types)s")
            % {"where": where, "types": " | ".join(_as_list(rule))}
        ),
        "enum": lambda: (
            _("%(where)s must be one of: %(choices)s")
            % {"where": where, "choices": ", ".join(map(str, rule))}
        ),
        "const": lambda: _("%(where)s must be %(rule)s") % values,
        "minimum": lambda: _("%(where)s must be at least %(rule)s") % values,
        "maxLength": lambda: _("%(where)s is longer than %(rule)s characters") % values,
        "minLength": lambda: _("%(where)s is empty") % values,
        "maxItems": lambda: _("%(where)s has more than %(rule)s items") % values,
        "maxProperties": lambda: _("%(where)s has more than %(rule)s members") % values,
        "pattern": lambda: _("%(where)s has a name or value of the wrong form") % values,
        "propertyNames": lambda: _("%(where)s has a member whose name is not allowed") % values,
    }
    if str(keyword) in messages:
        text = messages[str(keyword)]()
    else:
        text = _("%(where)s breaks the rule %(keyword)s") % {"where": where, "keyword": keyword}
    return _("the answer does not match the documented format: %(problem)s") % {"problem": text}


def _missing(error: jsonschema.ValidationError) -> str:
    """The required member a ``required`` error is about (its name is in the schema)."""
    present = error.instance if isinstance(error.instance, dict) else {}
    missing = [name for name in error.validator_value if name not in present]
    return missing[0] if missing else "?"


def _as_list(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _plain(value: str, *, where: str, multiline: bool = False) -> str:
    try:
        return plain_text(value, multiline=multiline)
    except ValidationError as error:
        raise WebhookError(
            _("the answer does not match the documented format: %(problem)s")
            % {"problem": f"{where}: {error.messages[0]}"}
        ) from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def answer_parse(raw: bytes, *, task: SystemTask) -> Answer:
    """Read and validate an answer to ``task``; raise ``WebhookError`` saying what is wrong."""
    try:
        payload = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookError(_("the answer is not valid JSON (UTF-8)")) from None
    errors = sorted(_validator().iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        raise WebhookError(_describe(errors[0]))
    if payload["task_id"] != str(task.pk):
        raise WebhookError(_("the answer is for another task (task_id)"))
    status = payload["status"]
    data = payload.get("data")
    exporting = task.action == TaskAction.EXPORT
    if data is not None and not (exporting and status == "done"):
        raise WebhookError(_("data belongs only in a done answer to an export (access) task"))
    if exporting and status == "done" and data is None:
        raise WebhookError(
            "a done answer to an export (access) task must hold the subject's data (data); "
            "answer nothing_found when the system holds none"
        )
    counts = dict(payload.get("counts", {}))
    if data is not None and not counts:
        counts = {name: len(rows) for name, rows in data.items()}
    return Answer(
        status=status,
        reference=_plain(payload.get("reference", ""), where="reference"),
        data=data,
        counts=counts,
        kept=[
            {
                "what": _plain(item["what"], where="kept.what"),
                "basis": _plain(item["basis"], where="kept.basis"),
                **({"until": item["until"]} if "until" in item else {}),
            }
            for item in payload.get("kept", [])
        ],
        note=_plain(payload.get("note", ""), where="note", multiline=True),
        error=_plain(payload.get("error", ""), where="error", multiline=True),
        retryable=bool(payload.get("retryable", False)),
    )


def data_chunks(data: Mapping[str, Any]) -> Iterator[bytes]:
    """The subject's data as JSON, in chunks of about ``CHUNK_BYTES``."""
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    pending: list[bytes] = []
    size = 0
    for part in encoder.iterencode(data):
        encoded = part.encode("utf-8")
        pending.append(encoded)
        size += len(encoded)
        if size >= CHUNK_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def read_limited(
    chunks: Iterator[bytes], *, declared: int | None, deadline: float, limit: int | None = None
) -> bytes:
    """Read an answer body from ``chunks`` up to ``limit`` (``SYSTEM_ANSWER_MAX_BYTES``) bytes.

    Raise ``WebhookError`` when it is (or says it is) larger, or takes past ``deadline``
    (``time.monotonic()``): the part read so far is dropped.
    """
    limit = limit or settings.SYSTEM_ANSWER_MAX_BYTES
    too_large = WebhookError(
        _("the answer is larger than %(limit)d bytes: nothing was kept") % {"limit": limit}
    )
    if declared is not None and declared > limit:
        raise too_large
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spool:
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise too_large
            if time.monotonic() > deadline:
                raise WebhookError(
                    _("the answer took longer than %(seconds)d seconds")
                    % {"seconds": settings.SYSTEM_HTTP_ANSWER_SECONDS},
                    retryable=True,
                )
            spool.write(chunk)
        spool.seek(0)
        return spool.read()


# --- One exchange ----------------------------------------------------------------------------


def http_session() -> requests.Session:
    session = requests.Session()
    # No proxies or .netrc from the environment: the tracker talks to the endpoint itself. TLS
    # certificates are checked against certifi's roots, or the bundle the setting names (a
    # system behind a private CA).
    session.trust_env = False
    session.verify = settings.SYSTEM_HTTP_CA_BUNDLE or True
    return session


def declared_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def excerpt(raw: bytes | str, length: int = 200) -> str:
    """The start of what a system said, on one line, printable characters only (PostgreSQL
    stores no NUL, and staff read it)."""
    text = raw[:length].decode("utf-8", "replace") if isinstance(raw, bytes) else raw[:length]
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _http_failure(status: int, body: bytes) -> WebhookError:
    said = excerpt(body)
    detail = f": {said}" if said else ""
    if 300 <= status < 400:
        return WebhookError(
            _(
                "the system answered with a redirect (HTTP %(status)d); redirects are not "
                "followed: set the endpoint URL to the final address"
            )
            % {"status": status}
        )
    retryable = status in RETRYABLE_STATUSES or status >= 500
    return WebhookError(
        _("the system answered HTTP %(status)d%(detail)s") % {"status": status, "detail": detail},
        retryable=retryable,
    )


def exchange(task: SystemTask, *, on_record: Any = None) -> Answer:
    """POST ``task``'s message to its system and return the validated answer.

    ``on_record(Exchange)`` is called once with what happened, whatever the outcome. Raise
    ``WebhookError`` (``retryable`` when trying later may help) when there is no usable answer.
    """
    system = task.system
    delivery = str(uuid.uuid4())
    started = time.time()
    record = Exchange(delivery=delivery, url=system.endpoint_url, started_at=started)
    clock = time.monotonic()
    http_status: int | None = None
    size = 0
    outcome = _("the exchange stopped on an unexpected error")
    try:
        problem = endpoint_problem(system.endpoint_url)
        if problem:
            raise WebhookError(problem)
        if system.actions and task.action not in system.actions:
            raise WebhookError(
                _("the system %(system)s does not support %(action)s")
                % {"system": system.name, "action": task.action}
            )
        secret = secret_read(system)
        body = compact(message_build(task, sent_at=started, delivery=delivery))
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": USER_AGENT,
            TASK_HEADER: str(task.pk),
            DELIVERY_HEADER: delivery,
            **signed_headers(secret, body, at=started),
        }
        timeouts = (
            settings.SYSTEM_HTTP_CONNECT_TIMEOUT_SECONDS,
            settings.SYSTEM_HTTP_READ_TIMEOUT_SECONDS,
        )
        deadline = clock + settings.SYSTEM_HTTP_ANSWER_SECONDS
        with (
            http_session() as session,
            session.post(
                system.endpoint_url,
                data=body,
                headers=headers,
                timeout=timeouts,
                allow_redirects=False,
                stream=True,
            ) as response,
        ):
            http_status = response.status_code
            raw = read_limited(
                response.iter_content(CHUNK_BYTES),
                declared=declared_length(response.headers),
                deadline=deadline,
            )
            size = len(raw)
            if http_status not in (200, 202):
                raise _http_failure(http_status, raw)
            signature_check(secret, response.headers, raw)
            answer = answer_parse(raw, task=task)
            if http_status == 202 and answer.status != "accepted":
                raise WebhookError(_("a 202 answer must have the status accepted"))
        outcome = answer.status
        return answer
    except requests.Timeout:
        outcome = _("the system did not answer in time (connect or read timeout)")
        raise WebhookError(outcome, retryable=True) from None
    except requests.exceptions.SSLError:
        outcome = _("the system's TLS certificate cannot be verified")
        raise WebhookError(outcome, retryable=True) from None
    except requests.ConnectionError as error:
        outcome = _("the system cannot be reached (%(reason)s)") % {"reason": _reason(error)}
        raise WebhookError(outcome, retryable=True) from None
    except requests.RequestException as error:
        outcome = _("the exchange with the system failed (%(error)s)") % {
            "error": type(error).__name__
        }
        raise WebhookError(outcome, retryable=True) from None
    except WebhookError as error:
        outcome = str(error)
        raise
    finally:
        if on_record is not None:
            on_record(
                Exchange(
                    delivery=record.delivery,
                    url=record.url,
                    started_at=record.started_at,
                    seconds=time.monotonic() - clock,
                    http_status=http_status,
                    bytes_read=size,
                    outcome=outcome[:300],
                )
            )


def _reason(error: requests.ConnectionError) -> str:
    text = str(error).lower()
    reasons = {
        "connection refused": _("connection refused"),
        "name or service not known": _("unknown host name"),
        "timed out": _("timed out"),
        "reset": _("connection reset"),
    }
    return next((said for found, said in reasons.items() if found in text), _("connection error"))


# --- The handler: an answer or a failure lands on the task -----------------------------------

# The last exchanges and accepted callbacks kept on a task's evidence.
KEPT_RECORDS = 20


def exchange_record(task_id: int, exchange: Exchange) -> None:
    """Keep what happened on one POST in the task's evidence (the last ``KEPT_RECORDS``)."""
    with transaction.atomic():
        task = SystemTask.objects.select_for_update().filter(pk=task_id).first()
        if task is None:
            return
        evidence = dict(task.evidence or {})
        exchanges = [*evidence.get("http_exchanges", []), exchange.record()]
        evidence["http_exchanges"] = exchanges[-KEPT_RECORDS:]
        SystemTask.objects.filter(pk=task_id).update(evidence=evidence)


def answer_apply(task: SystemTask, answer: Answer, *, by: str) -> SystemTask:
    """Land a validated answer on ``task``: an answer, a failure, or the promise of a callback.

    Raise ``handlers.AnswerRefused`` (nothing changed) when the task does not take it.
    """
    if answer.reference and answer.reference != task.external_ref:
        SystemTask.objects.filter(pk=task.pk).update(external_ref=answer.reference)
        task.external_ref = answer.reference
    if answer.status == "failed":
        return task_fail(
            task,
            _("the system reports a failure: %(error)s") % {"error": answer.error},
            retryable=answer.retryable,
        )
    status = {
        "accepted": TaskStatus.IN_PROGRESS,
        "done": TaskStatus.DONE,
        "nothing_found": TaskStatus.NOTHING_FOUND,
    }[answer.status]
    note = answer.note
    if answer.status == "accepted" and not note:
        note = _("Accepted by the system; its answer follows by callback.")
    return task_answer(
        task,
        status=status,
        counts=answer.counts,
        kept=answer.kept,
        note=note,
        data=data_chunks(answer.data) if answer.data is not None else None,
        by=by,
    )


class WebhookHandler:
    """Sends the tasks of ``http`` systems (``systems.handlers``)."""

    def send(self, task: SystemTask) -> None:
        try:
            answer = exchange(task, on_record=functools.partial(exchange_record, task.pk))
        except WebhookError as error:
            task_fail(task, str(error), retryable=error.retryable)
            return
        try:
            answer_apply(task, answer, by=task.system.name)
        except AnswerRefused as error:
            task_fail(
                task, _("the answer was refused: %(error)s") % {"error": error}, retryable=False
            )
