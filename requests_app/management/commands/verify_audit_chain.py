"""Check every request's audit chain against the latest checkpoint; one line per problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from requests_app.checkpoints import audit_verify, checkpoint_directory


class Command(BaseCommand):
    help = (
        "Verify the hash chain and seals of every request's audit trail (or of the references "
        "given) and check them against the latest audit checkpoint."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("references", nargs="*", help="Only check these request references.")
        parser.add_argument(
            "--checkpoint",
            type=Path,
            help="Check against this checkpoint file (e.g. one mailed to the auditors) instead "
            "of the latest one in AUDIT_CHECKPOINT_DIR.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_verify(
            references=options["references"] or None, checkpoint_path=options["checkpoint"]
        )
        if report.problems:
            raise CommandError(
                f"audit trail broken ({len(report.problems)} problem(s)):\n"
                + "\n".join(report.problems)
            )
        if report.checkpoint is None:
            against = f"no checkpoint in {checkpoint_directory()} yet"
        else:
            against = (
                f"checked against checkpoint {report.checkpoint.name} "
                f"({report.checkpoint.requests} request(s))"
            )
        self.stdout.write(f"audit chain intact for {report.checked} request(s); {against}")
