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
