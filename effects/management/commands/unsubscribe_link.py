"""Print the one-click unsubscribe link and headers for an address (for the business's emails)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email

from effects.links import unsubscribe_headers
from effects.unsubscribe import one_click_rule
from policies.models import Organization


class Command(BaseCommand):
    help = "Print the List-Unsubscribe headers of ORGANISATION's emails to EMAIL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organization", help="the organisation's slug")
        parser.add_argument("email")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"no organisation {options['organization']!r}")
        try:
            validate_email(options["email"])
        except ValidationError:
            raise CommandError(f"{options['email']!r} is not an email address") from None
        if one_click_rule(organization) is None:
            raise CommandError(
                f"{organization.slug}: the policy in force does not promise unsubscribing at any "
                "time; there is no one-click link"
            )
        for name, value in unsubscribe_headers(organization, options["email"]).items():
            self.stdout.write(f"{name}: {value}")
