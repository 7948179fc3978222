"""Data migrations of requests_app, run on rows as an older version left them."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from policies.models import PolicyVersion
from requests_app.audit import chain_breaks
from requests_app.models import RequestEvent, RequestToken, TokenPurpose
from requests_app.verification import InvalidLink, status_request, token_issue
from requests_app.workflow import request_mark_verified
from tests.requests_app import attacks
from tests.tracker import file_request

pytestmark = pytest.mark.django_db


def test_status_links_issued_without_an_expiry_expire_status_link_days_after_issue(
    version: PolicyVersion, settings: Any
) -> None:
    settings.STATUS_LINK_DAYS = 90
    now = timezone.now()
    request = file_request(version)
    old = token_issue(request=request, purpose=TokenPurpose.STATUS, at=now - timedelta(days=91))
    recent = token_issue(request=request, purpose=TokenPurpose.STATUS, at=now - timedelta(days=89))
    token_issue(request=request, purpose=TokenPurpose.VERIFICATION, at=now)
    RequestToken.objects.filter(purpose=TokenPurpose.STATUS).update(expires_at=None)
    confirmation_expiry = RequestToken.objects.get(purpose=TokenPurpose.VERIFICATION).expires_at

    migration = import_module("requests_app.migrations.0008_status_links_expire")
    migration.expire_status_links(apps, SimpleNamespace(connection=connection))

    with pytest.raises(InvalidLink):
        status_request(token=old, at=now)
    assert status_request(token=recent, at=now + timedelta(days=1, seconds=-1)) == request
    with pytest.raises(InvalidLink):
        status_request(token=recent, at=now + timedelta(days=1))
    assert RequestToken.objects.get(purpose=TokenPurpose.VERIFICATION).expires_at == (
        confirmation_expiry
    )


def test_events_from_before_seals_are_sealed_with_their_hashes_unchanged(
    version: PolicyVersion, settings: Any
) -> None:
    request = request_mark_verified(request=file_request(version))
    with attacks.trigger_off("replica") as cursor:
        attacks.strip_seals(cursor, request)
    hashes = list(RequestEvent.objects.values_list("hash", flat=True))
    settings.AUDIT_KEYS = {"k2": "k" * 32}

    migration = import_module("requests_app.migrations.0010_audit_events_are_sealed")
    migration.seal_existing_events(apps, SimpleNamespace(connection=connection, execute=_execute))

    assert list(RequestEvent.objects.values_list("hash", flat=True)) == hashes
    assert set(RequestEvent.objects.values_list("key_id", flat=True)) == {"k2"}
    assert list(chain_breaks()) == []
    call_command("verify_audit_chain")
    # The trigger is back on.
    with pytest.raises(IntegrityError), transaction.atomic():
        RequestEvent.objects.filter(request=request).update(note="edited")


def _execute(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)
