"""Two-step log-in for staff: a code from an authenticator app after the password (TOTP)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from requests_app.roles import AGENTS, OFFICERS
from tests.factories import StaffUserFactory
from tests.staff_auth.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
SETUP = "/admin/two-factor/"


def _code(device: TOTPDevice) -> str:
    """The code the device's app shows now."""
    generator = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    generator.time = time.time()
    return f"{generator.token():06d}"


def _staff(username: str, *roles: str) -> User:
    user: User = StaffUserFactory.create(username=username, roles=list(roles))
    return user


def _device(user: User) -> TOTPDevice:
    device: TOTPDevice = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return device


def _log_in(client: Client, username: str, code: str = "") -> Any:
    data = {"username": username, "password": PASSWORD}
    if code:
        data["otp_token"] = code
    return client.post(LOGIN, data)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_without_a_device_the_password_alone_logs_in_when_two_step_is_optional() -> None:
    _staff("agnes", AGENTS)
    client = Client()

    response = _log_in(client, "agnes")

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_log_in_page_offers_the_code_field_to_everyone_alike() -> None:
    page = Client().get(LOGIN).content.decode()

    assert 'name="otp_token"' in page
    assert "Code from your authenticator app" in page


def test_with_a_device_the_password_alone_is_refused(settings: Any) -> None:
    _device(_staff("olga", OFFICERS))
    client = Client()

    response = _log_in(client, "olga")

    assert response.status_code == 200
    assert not _logged_in(client)
    assert "Enter the code from your authenticator app." in response.content.decode()


def test_with_a_device_a_wrong_code_is_refused_and_the_right_one_logs_in() -> None:
    device = _device(_staff("olga", OFFICERS))
    client = Client()

    wrong = f"{(int(_code(device)) + 1) % 1_000_000:06d}"
    refused = _log_in(client, "olga", wrong)
    assert refused.status_code == 200
    assert not _logged_in(client)
    assert "That code is not right or was already used" in refused.content.decode()

    device.refresh_from_db()
    device.throttle_reset()
    assert _log_in(client, "olga", _code(device)).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_code_accepted_once_is_refused_the_second_time() -> None:
    device = _device(_staff("olga", OFFICERS))
    code = _code(device)
    assert _log_in(Client(), "olga", code).status_code == 302

    again = Client()
    response = _log_in(again, "olga", code)

    assert response.status_code == 200
    assert not _logged_in(again)


def test_a_wrong_password_with_a_right_code_is_still_refused() -> None:
    device = _device(_staff("olga", OFFICERS))
    client = Client()

    response = client.post(
        LOGIN, {"username": "olga", "password": "wrong", "otp_token": _code(device)}
    )

    assert response.status_code == 200
    assert not _logged_in(client)


def test_an_officer_without_a_device_is_held_on_the_set_up_page_when_officers_must(
    settings: Any,
) -> None:
    settings.STAFF_TWO_FACTOR = "officers"
    _staff("olga", OFFICERS)
    client = Client()

    assert _log_in(client, "olga").status_code == 302
    for page in ("/admin/", "/admin/requests_app/subjectrequest/", "/admin/auth/user/"):
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"] == SETUP
    setup = client.get(SETUP)
    assert setup.status_code == 200
    assert "Your role needs two-step log-in" in setup.content.decode()


def test_an_agent_is_not_held_when_only_officers_must(settings: Any) -> None:
    settings.STAFF_TWO_FACTOR = "officers"
    _staff("agnes", AGENTS)
    client = Client()

    _log_in(client, "agnes")

    assert client.get("/admin/").status_code == 200


def test_every_staff_member_is_held_when_all_must(settings: Any) -> None:
    settings.STAFF_TWO_FACTOR = "all"
    _staff("agnes", AGENTS)
    client = Client()

    _log_in(client, "agnes")

    assert client.get("/admin/")["Location"] == SETUP


def test_a_held_session_does_not_reach_the_staff_api(settings: Any) -> None:
    settings.STAFF_TWO_FACTOR = "officers"
    _staff("olga", OFFICERS)
    client = Client()
    _log_in(client, "olga")

    response = client.get("/api/v1/staff/requests/")

    assert response.status_code in (401, 403)


def test_setting_up_a_device_shows_its_key_once_and_turns_two_step_on(settings: Any) -> None:
    settings.STAFF_TWO_FACTOR = "officers"
    olga = _staff("olga", OFFICERS)
    client = Client()
    _log_in(client, "olga")

    page = client.get(SETUP).content.decode()
    pending = TOTPDevice.objects.get(user=olga, confirmed=False)
    key = re.search(r'<code dir="ltr">([A-Z2-7 ]+)</code>', page)
    assert key is not None
    assert 'src="data:image/svg+xml;base64,' in page
    assert '<form method="post" action="/admin/two-factor/">' in page  # no script needed

    refused = client.post(SETUP, {"token": "000000" if _code(pending) != "000000" else "111111"})
    assert refused.status_code == 400
    assert "That code is not right" in refused.content.decode()

    throttled = client.post(SETUP, {"token": _code(pending)})
    assert "Too many wrong codes" in throttled.content.decode()
    pending.refresh_from_db()
    pending.throttle_reset()  # django-otp's pause after a wrong code is over
    done = client.post(SETUP, {"token": _code(pending)})
    assert done.status_code == 302
    assert TOTPDevice.objects.get(user=olga).confirmed
    assert client.get("/admin/").status_code == 200
    after = client.get(SETUP).content.decode()
    assert key.group(1) not in after
    assert "Two-step log-in is on" in after
    assert LogEntry.objects.filter(user=olga, change_message="Two-step log-in set up").exists()


def test_a_session_older_than_the_device_must_log_in_again_with_a_code() -> None:
    olga = _staff("olga", OFFICERS)
    client = Client()
    _log_in(client, "olga")
    assert client.get("/admin/").status_code == 200

    _device(olga)  # set up in another browser
    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not _logged_in(client)
    assert client.get(SETUP).status_code == 302


def test_an_officer_removes_a_lost_device_and_its_owner_sets_up_a_new_one(settings: Any) -> None:
    settings.STAFF_TWO_FACTOR = "all"
    agnes = _staff("agnes", AGENTS)
    lost = _device(agnes)
    boss = _staff("boss", OFFICERS)
    boss_client = Client()
    boss_device = _device(boss)
    _log_in(boss_client, "boss", _code(boss_device))

    changelist = boss_client.get(reverse("admin:otp_totp_totpdevice_changelist"))
    assert changelist.status_code == 200
    assert "agnes" in changelist.content.decode()
    delete = reverse("admin:otp_totp_totpdevice_delete", args=[lost.pk])
    assert boss_client.post(delete, {"post": "yes"}).status_code == 302

    assert not TOTPDevice.objects.filter(user=agnes).exists()
    client = Client()
    assert _log_in(client, "agnes").status_code == 302
    assert client.get("/admin/")["Location"] == SETUP


def test_an_agent_cannot_see_or_remove_devices(settings: Any) -> None:
    _staff("agnes", AGENTS)
    client = Client()
    _log_in(client, "agnes")

    assert client.get(reverse("admin:otp_totp_totpdevice_changelist")).status_code == 403


def test_the_device_page_never_shows_a_key(settings: Any) -> None:
    olga = _staff("olga", OFFICERS)
    device = _device(olga)
    client = Client()
    _log_in(client, "olga", _code(device))

    page = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))

    assert page.status_code == 200
    assert device.key not in page.content.decode()
    assert "add" not in reverse("admin:otp_totp_totpdevice_changelist")
    assert client.get(reverse("admin:otp_totp_totpdevice_add")).status_code == 403
