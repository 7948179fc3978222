"""Prepare an embedded installation for a first look: seeds, a demo staff login."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.db import transaction

DEMO_USERNAME = "demo"


class Command(BaseCommand):
    help = (
        "Load the seed policies (when available) and create the demo staff user; print its login."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if "load_seeds" in get_commands():
            call_command("load_seeds", verbosity=0)
            if "generate_demo_data" in get_commands():
                # A small set of POS data to act on; organisations with accounts are skipped.
                call_command("generate_demo_data", verbosity=0)
        username, password = self._demo_user(Path(settings.VAR_DIR) / "demo-login.txt")
        self.stdout.write(f"Demo staff login: {username} / {password}")

    @transaction.atomic
    def _demo_user(self, login_file: Path) -> tuple[str, str]:
        """Return the demo login, creating the user (with a random password) on first use."""
        user_model = get_user_model()
        if login_file.exists() and user_model.objects.filter(username=DEMO_USERNAME).exists():
            return DEMO_USERNAME, login_file.read_text(encoding="utf-8").strip()
        password = secrets.token_urlsafe(12)
        user, _ = user_model.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "demo@localhost"}
        )
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        login_file.parent.mkdir(parents=True, exist_ok=True)
        login_file.write_text(password + "\n", encoding="utf-8")
        login_file.chmod(0o600)
        return DEMO_USERNAME, password
