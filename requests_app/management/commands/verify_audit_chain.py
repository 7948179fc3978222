"""Check every request's audit chain; exit non-zero with one line naming each break."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from requests_app.audit import chain_breaks
from requests_app.models import SubjectRequest


class Command(BaseCommand):
    help = "Verify the hash chain of every request's audit trail (or of the references given)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("references", nargs="*", help="Only check these request references.")

    def handle(self, *args: Any, **options: Any) -> None:
        requests = SubjectRequest.objects.all()
        if options["references"]:
            requests = requests.filter(reference__in=options["references"])
        breaks = [str(problem) for problem in chain_breaks(requests)]
        if breaks:
            raise CommandError(
                f"audit chain broken in {len(breaks)} request(s): " + "; ".join(breaks)
            )
        self.stdout.write(f"audit chain intact for {requests.count()} request(s)")
