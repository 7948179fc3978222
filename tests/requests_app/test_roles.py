"""The three staff roles: created by the migration, enforced by the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from policies.models import PolicyVersion
from requests_app import roles
from requests_app.models import SubjectRequest
from requests_app.roles import AGENTS, AUDITORS, OFFICERS, ROLES
from requests_app.workflow import request_mark_verified
from tests.factories import StaffUserFactory
from tests.tracker import file_request

pytestmark = pytest.mark.django_db


def _group_permissions() -> dict[str, set[str]]:
    return {
        group.name: {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        for group in Group.objects.filter(name__in=ROLES).prefetch_related(
            "permissions__content_type"
        )
    }


def test_the_migration_creates_the_roles_as_roles_py_describes_them() -> None:
    assert _group_permissions() == {name: set(perms) for name, perms in ROLES.items()}


def test_syncing_repairs_a_role_edited_by_hand() -> None:
    officers = Group.objects.get(name=OFFICERS)
    officers.permissions.clear()
    Group.objects.filter(name=AUDITORS).delete()

    roles.roles_sync()
    roles.roles_sync()

    assert _group_permissions() == {name: set(perms) for name, perms in ROLES.items()}


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (AGENTS, {"process_request"}),
        (
            OFFICERS,
            {
                "process_request",
                "view_all_requests",
                "assign_request",
                "extend_request",
                "reject_request",
                "approve_erasure",
                "view_evidence",
                "export_evidence",
                "manage_retention",
                "view_metrics",
            },
        ),
        (AUDITORS, {"view_all_requests", "view_evidence", "export_evidence", "view_metrics"}),
    ],
)
def test_each_role_holds_exactly_its_request_permissions(role: str, allowed: set[str]) -> None:
    user = StaffUserFactory.create(roles=[role])
    custom = {codename for codename, _name in SubjectRequest._meta.permissions}

    held = {name.split(".")[1] for name in user.get_all_permissions()} & custom

    assert held == allowed
    assert not user.has_perm("requests_app.delete_subjectrequest")
    assert not user.has_perm("requests_app.change_requestevent")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (AGENTS, {"view_exportpackage", "view_exportdownload"}),
        (
            OFFICERS,
            {
                "view_exportpackage",
                "view_exportdownload",
                "add_exportpackage",
                "deliver_exportpackage",
            },
        ),
        (AUDITORS, {"view_exportpackage", "view_exportdownload"}),
    ],
)
def test_only_officers_build_and_deliver_exports_every_role_sees_them(
    role: str, allowed: set[str]
) -> None:
    user = StaffUserFactory.create(roles=[role])
    export_models = ("exportpackage", "exportdownload", "exportlink")

    held = {
        codename
        for codename in (name.split(".")[1] for name in user.get_all_permissions())
        if codename.endswith(export_models)
    }

    assert held == allowed
    assert user.has_perm(roles.BUILD_EXPORT) is (role == OFFICERS)
    assert user.has_perm(roles.DELIVER_EXPORT) is (role == OFFICERS)


def test_agents_cannot_manage_retention_settings_officers_can() -> None:
    agent = StaffUserFactory.create(roles=[AGENTS])
    officer = StaffUserFactory.create(roles=[OFFICERS])

    assert not agent.has_perm("policies.change_retentionrule")
    assert officer.has_perm("policies.change_retentionrule")
    assert officer.has_perm(roles.MANAGE_RETENTION)


def test_requests_can_be_assigned_only_to_active_staff_who_process_them() -> None:
    agent = StaffUserFactory.create(username="agent", roles=[AGENTS])
    officer = StaffUserFactory.create(username="officer", roles=[OFFICERS])
    StaffUserFactory.create(username="auditor", roles=[AUDITORS])
    StaffUserFactory.create(username="gone", roles=[AGENTS], is_active=False)
    StaffUserFactory.create(username="root", is_superuser=True)

    assert list(roles.assignable_users()) == [agent, officer, User.objects.get(username="root")]


def test_escalations_go_to_the_officers_or_else_to_the_superusers() -> None:
    root = StaffUserFactory.create(username="root", is_superuser=True)
    assert list(roles.officers()) == [root]

    officer = StaffUserFactory.create(username="officer", roles=[OFFICERS])
    StaffUserFactory.create(username="mute", roles=[OFFICERS], email="")

    assert list(roles.officers()) == [officer]


def test_nobody_deletes_a_request_or_an_event_through_the_admin(
    client: Client, version: PolicyVersion
) -> None:
    request = request_mark_verified(request=file_request(version))
    event = request.events.first()
    assert event is not None
    client.force_login(StaffUserFactory.create(username="root", is_superuser=True))

    responses = [
        client.post(
            reverse("admin:requests_app_subjectrequest_delete", args=[request.pk]), {"post": "yes"}
        ),
        client.post(
            reverse("admin:requests_app_requestevent_delete", args=[event.pk]), {"post": "yes"}
        ),
        client.post(
            reverse("admin:requests_app_requestevent_change", args=[event.pk]), {"note": "edited"}
        ),
        client.post(reverse("admin:requests_app_subjectrequest_add"), {}),
    ]

    assert [response.status_code for response in responses] == [403, 403, 403, 403]
    assert SubjectRequest.objects.filter(pk=request.pk).exists()
    event.refresh_from_db()
    assert event.note == ""


def test_an_agent_sees_their_requests_and_the_unassigned_pool_only(
    client: Client, version: PolicyVersion
) -> None:
    agent = StaffUserFactory.create(username="agent", roles=[AGENTS])
    other = StaffUserFactory.create(username="other", roles=[AGENTS])
    mine = file_request(version, email="mine@example.com")
    pool = file_request(version, email="pool@example.com")
    theirs = file_request(version, email="theirs@example.com")
    SubjectRequest.objects.filter(pk=mine.pk).update(assignee=agent)
    SubjectRequest.objects.filter(pk=theirs.pk).update(assignee=other)
    client.force_login(agent)

    listing = client.get(reverse("admin:requests_app_subjectrequest_changelist"))
    hidden = client.get(reverse("admin:requests_app_subjectrequest_change", args=[theirs.pk]))
    events = client.get(reverse("admin:requests_app_requestevent_changelist"))

    shown = {row.reference for row in listing.context["cl"].result_list}
    assert shown == {mine.reference, pool.reference}
    assert hidden.status_code == 302  # the admin's "does not exist" redirect
    assert {e.request_id for e in events.context["cl"].result_list} == {mine.pk, pool.pk}
