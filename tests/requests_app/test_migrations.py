"""Data migrations of requests_app, run on rows as an older version left them."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from policies.models import PolicyVersion
from requests_app.models import RequestToken, TokenPurpose
from requests_app.verification import InvalidLink, status_request, token_issue
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
