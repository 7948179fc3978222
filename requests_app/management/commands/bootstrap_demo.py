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
        username, password = self._demo_user(Path(settings.VAR_DIR) / "demo-login.txt")
        if "load_seeds" in commands:
            call_command("load_seeds", verbosity=0)
            external = self._external_pos() if "clopos_demo_db" in commands else []
            if "generate_demo_data" in commands:
                # A small set of POS data to act on; organisations with accounts are skipped,
                # and so is the one whose POS lives in a database of its own.
                call_command("generate_demo_data", verbosity=0, exclude=external)
            if "systems" in commands:
                self._demo_systems(username, external=external)
                self._demo_http_systems(username)
        self.stdout.write(f"Demo staff login: {username} / {password}")

    def _demo_systems(self, username: str, *, external: list[str]) -> None:
        """Give every seed organisation a task per system on each request: its POS (the
        project's models, unless its POS has a database of its own) and a support mailbox that
        only a person can search, owned by the demo officer (answered through the link the
        demo mail shows)."""
        from policies.models import Organization

        for organization in Organization.objects.order_by("slug"):
            if organization.slug not in external:
                call_command(
                    "systems",
                    "add",
                    f"{organization.slug[:30]}-pos",
                    f"--organization={organization.slug}",
                    "--name=POS",
                    "--kind=django",
                    f"--owner-user={username}",
                    stdout=io.StringIO(),
                )
            call_command(
                "systems",
                "add",
                f"{organization.slug[:30]}-support",
                f"--organization={organization.slug}",
                "--name=Support mailbox",
                "--kind=manual",
                f"--owner-user={username}",
                stdout=io.StringIO(),
            )

    def _demo_http_systems(self, username: str) -> None:
        """Give every seed organisation a newsletter tool reached over HTTP: the reference
        receiver ``make run`` starts (``DEMO_RECEIVER_URL``, secret in ``DEMO_WEBHOOK_SECRET``),
        which answers by signed callback (docs/webhooks.md). Without the variables, nothing."""
        from policies.models import Organization

        url, variable = os.environ.get("DEMO_RECEIVER_URL", ""), "DEMO_WEBHOOK_SECRET"
        if not url or not os.environ.get(variable):
            return
        for organization in Organization.objects.order_by("slug"):
            call_command(
                "systems",
                "add",
                f"{organization.slug[:30]}-newsletter",
                f"--organization={organization.slug}",
                "--name=Newsletter (HTTP)",
                "--kind=http",
                f"--endpoint-url={url}",
                f"--connection-env={variable}",
                "--actions=export,erase,opt_out",
                f"--owner-user={username}",
                stdout=io.StringIO(),
            )
        self.stdout.write(f"Newsletter (HTTP): the reference receiver at {url}")

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
