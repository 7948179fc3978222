"""Every admin page, for every role: the list, the add page and one object's page never fail.

Each registered model admin is opened by a superuser and by a staff user in each role group, on
its changelist, its add page and the change page of one object made for the purpose. A role may
be turned away (403) or sent elsewhere (302: the admin's "does not exist" redirect for an object
the role cannot see), but no page may fail. A superuser sees every list and every object.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from erasure.models import ErasureCertificate, ErasureSchedule
from exports.models import ExportDownload, ExportPackage
from opendsr.models import OpenDSRCallback
from policies.models import Organization, RetentionRule
from requests_app import roles
from requests_app.models import SubjectRequest
from retention.models import PurgeRun, PurgeStep, RetentionNotice
from staff_auth.models import FailedLogin
from staff_auth.tokens import api_token_issue
from tests.factories import (
    AccountFactory,
    AccountUserFactory,
    ConfirmedRequestFactory,
    ControllerFactory,
    DeviceFactory,
    LoginFactory,
    OrganizationFactory,
    PaymentFactory,
    PolicyFactory,
    ProductFactory,
    SaleLineFactory,
    StaffActivityFactory,
    StaffUserFactory,
    SupportMessageFactory,
    export_policy_version,
    forwarded_by_controller,
)

pytestmark = pytest.mark.django_db

SUPERUSER = "superuser"
ROLES = [SUPERUSER, roles.AGENTS, roles.OFFICERS, roles.AUDITORS]
MODELS = sorted(model._meta.label for model in admin.site._registry)
# Changelists the admin refuses even a superuser, on purpose (none today).
FORBIDDEN_TO_SUPERUSERS: frozenset[str] = frozenset()


@pytest.fixture(autouse=True)
def _plain_http(settings: Any) -> None:
    # Production settings redirect HTTP to HTTPS; the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False


# --- One object per admin model --------------------------------------------------------------


def _request() -> SubjectRequest:
    """A confirmed access request with its audit trail, assigned to nobody (every role sees it)."""
    request: SubjectRequest = ConfirmedRequestFactory.create()
    return request


def _package() -> ExportPackage:
    now = timezone.now()
    package = ExportPackage.objects.create(
        request=_request(),
        kind="access",
        status="ready",
        attempts=1,
        started_at=now,
        built_at=now,
        file_path="exports/smoke.zip",
        size=2048,
        sha256="ab" * 32,
        row_counts={"categories": {"contact": 1}, "models": {"pos.accountuser": 1}},
        total_rows=1,
    )
    ExportDownload.objects.create(package=package, route="email_link", started_at=now)
    return package


def _retention_rule() -> RetentionRule:
    organization: Organization = OrganizationFactory.create()
    return export_policy_version(organization).retention_rules.get()


def _purge_run() -> PurgeRun:
    rule = _retention_rule()
    run = PurgeRun.objects.create(
        kind="retention",
        rule=rule,
        organization=rule.version.policy.organization,
        as_of=timezone.localdate(),
        triggered_by="smoke test",
        batch_size=500,
        totals={"pos.account": {"deleted": 1, "anonymised": 0, "kept": 0}},
        retained=[{"model": "pos.payment", "rows": 1, "legal_basis": "Tax Code", "until": None}],
    )
    PurgeStep.objects.create(
        run=run, position=0, model_label="pos.account", action="delete", pk_from=1, pk_to=1
    )
    return run


def _notice() -> RetentionNotice:
    notice: RetentionNotice = RetentionNotice.objects.create(
        rule=_retention_rule(),
        anchor_label="pos.account",
        anchor_pk=1,
        purge_on=date(2027, 3, 1),
        days_before=7,
        created_at=timezone.now(),
    )
    return notice


def _schedule() -> ErasureSchedule:
    now = timezone.now()
    schedule: ErasureSchedule = ErasureSchedule.objects.create(
        request=ConfirmedRequestFactory.create(request_type="deletion"),
        approved_at=now,
        execute_after=now + timedelta(days=7),
    )
    return schedule


def _certificate() -> ErasureCertificate:
    schedule = _schedule()
    content = {"request": schedule.request.reference, "models": {}}
    certificate: ErasureCertificate = ErasureCertificate.objects.create(
        schedule=schedule,
        request=schedule.request,
        issued_at=timezone.now(),
        content=content,
        sha256=ErasureCertificate.digest(content),
    )
    return certificate


def _opendsr_request() -> models.Model:
    forwarded = forwarded_by_controller(_request())
    OpenDSRCallback.objects.create(
        opendsr_request=forwarded,
        url="https://dsr.merchant.example/callbacks",
        request_status="pending",
        created_at=timezone.now(),
    )
    return forwarded


def _token() -> models.Model:
    token, _key = api_token_issue(
        user=StaffUserFactory.create(password=None), name="ticketing system", days=30
    )
    return token


def _failed_login() -> models.Model:
    failed: FailedLogin = FailedLogin.objects.create(
        username="someone",
        ip_address="203.0.113.7",
        user_agent="smoke test",
        http_accept="text/html",
        path_info="/admin/login/",
        get_data="",
        post_data="username=********************",
        failures_since_start=5,
    )
    return failed


MAKERS: dict[str, Callable[[], models.Model]] = {
    "auth.Group": lambda: Group.objects.get(name=roles.AUDITORS),
    "auth.User": lambda: StaffUserFactory.create(password=None, roles=[roles.AGENTS]),
    "staff_auth.ApiToken": _token,
    "staff_auth.FailedLogin": _failed_login,
    "policies.Organization": OrganizationFactory.create,
    "policies.Policy": PolicyFactory.create,
    "policies.PolicyVersion": lambda: export_policy_version(OrganizationFactory.create()),
    "policies.RetentionRule": _retention_rule,
    "requests_app.SubjectRequest": _request,
    "requests_app.RequestEvent": lambda: _request().events.get(sequence=1),
    "exports.ExportPackage": _package,
    "retention.PurgeRun": _purge_run,
    "retention.RetentionNotice": _notice,
    "erasure.ErasureSchedule": _schedule,
    "erasure.ErasureCertificate": _certificate,
    "opendsr.Controller": ControllerFactory.create,
    "opendsr.OpenDSRRequest": _opendsr_request,
    "pos.Account": AccountFactory.create,
    "pos.AccountUser": AccountUserFactory.create,
    "pos.StaffActivity": StaffActivityFactory.create,
    "pos.Product": ProductFactory.create,
    "pos.Sale": lambda: SaleLineFactory.create().sale,
    "pos.Invoice": lambda: PaymentFactory.create().invoice,
    "pos.Device": DeviceFactory.create,
    "pos.Login": LoginFactory.create,
    "pos.SupportMessage": SupportMessageFactory.create,
}


def _login(client: Client, role: str) -> User:
    # No usable password (make_password(None) hashes nothing): the test logs in without one.
    if role == SUPERUSER:
        user: User = StaffUserFactory.create(username="root", is_superuser=True, password=None)
    else:
        user = StaffUserFactory.create(username="staff", roles=[role], password=None)
    client.force_login(user)
    return user


def _url(model: type[models.Model], page: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


@pytest.mark.parametrize("label", MODELS)
@pytest.mark.parametrize("role", ROLES)
def test_every_admin_page_opens_or_refuses_for_every_role_and_never_fails(
    client: Client, role: str, label: str
) -> None:
    roles.roles_sync()  # in case a transactional test flushed the role groups away
    model = next(m for m in admin.site._registry if m._meta.label == label)
    maker = MAKERS.get(label)
    obj = maker() if maker is not None else None
    _login(client, role)

    # The client re-raises a view's exception, so a failing page fails here with its traceback.
    answers = {
        "changelist": client.get(_url(model, "changelist")).status_code,
        "add": client.get(_url(model, "add")).status_code,
    }
    if obj is not None:
        answers["change"] = client.get(_url(model, "change", obj.pk)).status_code

    assert set(answers.values()) <= {200, 302, 403}, answers
    if role == SUPERUSER:
        expected = 403 if label in FORBIDDEN_TO_SUPERUSERS else 200
        assert answers["changelist"] == expected, answers
        assert answers.get("change", 200) == 200, answers  # superusers see every object
