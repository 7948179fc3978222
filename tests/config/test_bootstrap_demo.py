from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_bootstrap_creates_one_demo_staff_user_and_prints_a_working_login(
    settings, tmp_path, capsys
):
    settings.VAR_DIR = tmp_path

    call_command("bootstrap_demo")
    call_command("bootstrap_demo")

    lines = [line for line in capsys.readouterr().out.splitlines() if "Demo staff login" in line]
    assert len(lines) == 2
    assert lines[0] == lines[1]
    username, password = lines[0].split(": ", 1)[1].split(" / ")
    user = get_user_model().objects.get(username=username)
    assert user.is_staff
    assert user.check_password(password)
    assert (tmp_path / "demo-login.txt").stat().st_mode & 0o777 == 0o600


def test_bootstrap_gives_each_seed_organisation_the_demo_receiver_as_an_http_system(
    settings, tmp_path, monkeypatch
):
    from policies.models import Organization
    from systems.models import System, SystemKind

    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("CLOPOS_POS_DATABASE_URL", raising=False)
    monkeypatch.setenv("DEMO_RECEIVER_URL", "http://127.0.0.1:8765/hook")
    monkeypatch.setenv("DEMO_WEBHOOK_SECRET", "demo-only-webhook-secret-change-me-0123456789")

    call_command("bootstrap_demo")

    newsletters = System.objects.filter(kind=SystemKind.HTTP)
    assert newsletters.count() == Organization.objects.count() > 0
    newsletter = newsletters.get(slug="beshqozon-newsletter")
    assert newsletter.endpoint_url == "http://127.0.0.1:8765/hook"
    assert newsletter.connection_env == "DEMO_WEBHOOK_SECRET"
    assert newsletter.actions == ["export", "erase", "opt_out"]


def test_bootstrap_gives_each_organisation_a_pos_and_a_support_mailbox_the_demo_officer_owns(
    settings, tmp_path, monkeypatch
):
    from policies.models import Organization
    from systems.models import System, SystemKind

    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("CLOPOS_POS_DATABASE_URL", raising=False)

    call_command("bootstrap_demo")
    call_command("bootstrap_demo")

    organizations = Organization.objects.count()
    mailboxes = System.objects.filter(kind=SystemKind.MANUAL, name="Support mailbox")
    assert mailboxes.count() == organizations > 0
    assert set(mailboxes.values_list("owner_user__username", flat=True)) == {"demo"}
    assert System.objects.filter(kind=SystemKind.DJANGO, name="POS").count() == organizations
