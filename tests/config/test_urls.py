from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_site_root_leads_to_the_list_of_organisations(client):
    response = client.get("/", secure=True)

    assert response.status_code == 302
    assert response["Location"] == "/privacy/"
