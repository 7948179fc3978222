"""Take an audit checkpoint now: every chain's length and head, signed, written outside the DB."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from requests_app.checkpoints import checkpoint_directory, checkpoint_take


class Command(BaseCommand):
    help = (
        "Verify the audit trail and sign the length and head of every chain into a new "
        "checkpoint file in AUDIT_CHECKPOINT_DIR. Chains with a problem keep their previous "
        "mark and the command exits non-zero, unless --accept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--accept",
            action="store_true",
            help="Record every chain as it is now, problems included (e.g. after restoring a "
            "backup, once the problems are understood); they are listed in the checkpoint.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        checkpoint, report = checkpoint_take(accept=options["accept"])
        self.stdout.write(
            f"audit checkpoint {checkpoint_directory() / checkpoint.name}: "
            f"{checkpoint.requests} request(s), signed with audit key {checkpoint.key_id!r}"
        )
        if report.problems and not options["accept"]:
            raise CommandError(
                f"audit trail broken ({len(report.problems)} problem(s)); those chains keep "
                "their mark from the previous checkpoint:\n" + "\n".join(report.problems)
            )
        for problem in report.problems:
            self.stdout.write(f"accepted: {problem}")
