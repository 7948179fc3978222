"""Issue a staff API token from the command line; print only its key (shown this once)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from staff_auth.tokens import api_token_issue


class Command(BaseCommand):
    help = (
        "Issue an API token for a staff member and print its key, e.g. "
        "export STAFF_TOKEN=$(manage.py create_api_token alice --name ticketing). "
        "Only its hash is stored: the key cannot be shown again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The staff member the API will act as.")
        parser.add_argument("--name", required=True, help="What uses the token.")
        parser.add_argument(
            "--days",
            type=int,
            default=settings.API_TOKEN_DAYS,
            help=f"Days it is valid (default {settings.API_TOKEN_DAYS}, "
            f"at most {settings.API_TOKEN_MAX_DAYS}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = get_user_model().objects.get(username=options["username"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {options['username']!r}") from None
        if not (user.is_staff and user.is_active):
            raise CommandError(f"{user.username!r} is not an active staff member")
        try:
            _token, key = api_token_issue(user=user, name=options["name"], days=options["days"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(key)
