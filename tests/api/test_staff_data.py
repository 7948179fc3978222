"""The staff endpoints for the subject's data: build and deliver an export, approve an erasure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.storage import FileSystemStorage
from django.urls import reverse

from policies.models import PolicyVersion, RequestType
from requests_app.models import SubjectRequest
from requests_app.workflow import request_mark_verified
from tests.api.conftest import as_user
from tests.tracker import file_request, publish_version

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _exports_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": FileSystemStorage.__module__ + ".FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "exports"},
        },
    }


@pytest.fixture
def data_version(organization: Any) -> PolicyVersion:
    return publish_version(
        organization,
        {RequestType.ACCESS: {}, RequestType.DELETION: {}},
        label="data",
    )


@pytest.fixture
def exporter(officer: User) -> User:
    """An officer who may also build and deliver export packages, as in the admin."""
    officer.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_exportpackage", "deliver_exportpackage"])
    )
    return User.objects.get(pk=officer.pk)  # a fresh object: permissions are cached


def _verified(version: PolicyVersion, request_type: str) -> SubjectRequest:
    return request_mark_verified(request=file_request(version, request_type))


def _act(user: User, request: SubjectRequest, action: str) -> Any:
    return as_user(user).post(reverse(f"api:staff_{action}", args=[request.reference]))


def test_an_officer_builds_and_delivers_an_export_through_the_api(
    data_version: PolicyVersion, exporter: User
) -> None:
    request = _verified(data_version, RequestType.ACCESS)

    built = _act(exporter, request, "build_export")
    delivered = _act(exporter, request, "deliver_export")

    assert built.status_code == 200, built.content
    assert delivered.status_code == 200, delivered.content
    [package] = delivered.json()["exports"]
    assert package["status"] == "delivered"
    assert package["link_expires_at"]


def test_delivering_without_a_ready_export_is_409(
    data_version: PolicyVersion, exporter: User
) -> None:
    request = _verified(data_version, RequestType.ACCESS)

    response = _act(exporter, request, "deliver_export")

    assert response.status_code == 409
    assert response.json()["code"] == "no_export_ready"


def test_an_export_of_a_deletion_request_is_refused_with_409(
    data_version: PolicyVersion, exporter: User
) -> None:
    request = _verified(data_version, RequestType.DELETION)

    response = _act(exporter, request, "build_export")

    assert response.status_code == 409
    assert response.json()["code"] == "export_refused"


def test_the_export_steps_need_the_export_permissions(
    data_version: PolicyVersion, auditor: User
) -> None:
    # Auditors see every request but, unlike privacy officers, build and deliver no export.
    request = _verified(data_version, RequestType.ACCESS)

    assert _act(auditor, request, "build_export").status_code == 403
    assert _act(auditor, request, "deliver_export").status_code == 403
    assert not request.export_packages.exists()


def test_an_officer_approves_an_erasure_once(data_version: PolicyVersion, officer: User) -> None:
    request = _verified(data_version, RequestType.DELETION)

    first = _act(officer, request, "approve_erasure")
    second = _act(officer, request, "approve_erasure")

    assert first.status_code == 200, first.content
    assert first.json()["status"] == "in_progress"
    assert first.json()["erasure"]["status"] == "scheduled"
    assert second.status_code == 409
    assert second.json()["code"] == "illegal_action"


def test_an_agent_cannot_approve_an_erasure(data_version: PolicyVersion, agent: User) -> None:
    request = _verified(data_version, RequestType.DELETION)
    SubjectRequest.objects.filter(pk=request.pk).update(assignee=agent)

    response = _act(agent, request, "approve_erasure")

    assert response.status_code == 403
    assert not hasattr(SubjectRequest.objects.get(pk=request.pk), "erasure")
