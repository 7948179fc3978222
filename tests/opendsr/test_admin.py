"""Registering controllers in the admin: the API key is shown once and only its hash is kept."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from opendsr.models import Controller, OpenDSRRequest, api_key_hash
from tests.api.conftest import CommittingClient
from tests.opendsr.conftest import opendsr_request, post_request

pytestmark = pytest.mark.django_db

KEY = re.compile(r"<code>(odsr_[A-Za-z0-9_-]+)</code>")


def _works(key: str) -> bool:
    client = CommittingClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    answer = client.get(
        reverse("opendsr:request_detail", args=[opendsr_request()["subject_request_id"]])
    )
    return bool(answer.status_code == 404)  # known controller, unknown request


def test_adding_a_controller_shows_its_key_once_and_keeps_only_its_hash(
    admin_client: Client, organization: Any
) -> None:
    response = admin_client.post(
        reverse("admin:opendsr_controller_add"),
        {
            "organization": organization.pk,
            "name": "Kafe Oqtepa",
            "identifier": "oqtepa",
            "callback_hosts": "dsr.oqtepa.example",
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    [key] = KEY.findall(response.content.decode())
    controller = Controller.objects.get()
    assert controller.api_key_hash == api_key_hash(key)
    assert key not in str(Controller.objects.values().get())
    assert _works(key)
    change_page = admin_client.get(reverse("admin:opendsr_controller_change", args=[controller.pk]))
    assert key not in change_page.content.decode()
    assert controller.api_key_hint in change_page.content.decode()


def test_a_new_key_replaces_the_old_one(admin_client: Client, controller: Controller) -> None:
    old_key = controller.api_key  # type: ignore[attr-defined]

    response = admin_client.post(
        reverse("admin:opendsr_controller_changelist"),
        {"action": "issue_new_key", "_selected_action": [controller.pk]},
    )

    [new_key] = KEY.findall(response.content.decode())
    assert new_key != old_key
    assert _works(new_key)
    assert not _works(old_key)


def test_the_opendsr_admin_pages_render(
    admin_client: Client, opendsr: CommittingClient, controller: Controller
) -> None:
    post_request(opendsr, opendsr_request())
    link = OpenDSRRequest.objects.get()

    pages = [
        reverse("admin:opendsr_controller_changelist"),
        reverse("admin:opendsr_controller_change", args=[controller.pk]),
        reverse("admin:opendsr_opendsrrequest_changelist"),
        reverse("admin:opendsr_opendsrrequest_change", args=[link.pk]),
    ]

    assert [admin_client.get(page).status_code for page in pages] == [200, 200, 200, 200]
