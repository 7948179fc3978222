"""Prepare an embedded installation for a first look: seeds, demo POS data (Clopos's in a
database of its own), a demo staff login."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

DEMO_USERNAME = "demo"


class Command(BaseCommand):
    help = (
        "Load the seed policies (when available) and create the demo staff user; print its login."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        commands = get_commands()
        if "load_seeds" in commands:
            call_command("load_seeds", verbosity=0)
            external = self._external_pos() if "clopos_demo_db" in commands else []
            if "generate_demo_data" in commands:
                # A small set of POS data to act on; organisations with accounts are skipped,
                # and so is the one whose POS lives in a database of its own.
                call_command("generate_demo_data", verbosity=0, exclude=external)
        username, password = self._demo_user(Path(settings.VAR_DIR) / "demo-login.txt")
        self.stdout.write(f"Demo staff login: {username} / {password}")

    def _external_pos(self) -> list[str]:
        """Put Clopos's POS in a database of its own (``CLOPOS_POS_DATABASE_URL``: a SQLite file
        under ``var/`` on ``make run``), described by ``seeds/systems/clopos.toml``; return the
        organisations so served. Without the variable, nothing happens."""
        organization, slug, variable = "clopos", "clopos-pos", "CLOPOS_POS_DATABASE_URL"
        url = os.environ.get(variable, "")
        if not url:
            return []
        with contextlib.suppress(CommandError):  # the database exists already: keep its data
            call_command("clopos_demo_db", url, stdout=io.StringIO())
        call_command(
            "systems",
            "add",
            slug,
            f"--organization={organization}",
            "--name=Clopos POS database",
            f"--connection-env={variable}",
            "--owner-email=it@clopos.example",
            stdout=io.StringIO(),
        )
        seed_map = Path(settings.BASE_DIR) / "seeds" / "systems" / "clopos.toml"
        call_command("systems", "load", slug, str(seed_map), stdout=io.StringIO())
        self.stdout.write(f"Clopos's POS: its own database ({variable}), system {slug}")
        return [organization]

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
