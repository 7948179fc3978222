from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_site_root_leads_to_the_list_of_organisations(client):
    response = client.get("/", secure=True)

    assert response.status_code == 302
    assert response["Location"] == "/privacy/"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/admin/requests_app/exportpackage/", "/admin/exports/exportpackage/"),
        ("/admin/requests_app/purgerun/7/change/", "/admin/retention/purgerun/7/change/"),
        (
            "/admin/requests_app/erasureschedule/?status__exact=done",
            "/admin/erasure/erasureschedule/?status__exact=done",
        ),
        ("/admin/requests_app/controller/3/change/", "/admin/opendsr/controller/3/change/"),
    ],
)
def test_an_old_admin_address_of_a_moved_model_leads_to_its_new_place(
    client: Client, old: str, new: str
) -> None:
    response = client.get(old, secure=True)

    assert response.status_code == 301
    assert response["Location"] == new


def test_the_request_admin_pages_did_not_move(admin_client: Client) -> None:
    assert admin_client.get("/admin/requests_app/subjectrequest/", secure=True).status_code == 200
