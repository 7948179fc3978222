"""``manage.py load_seeds [--dir DIR]``: load the seed organisations, policies and rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils.translation import gettext as _

from policies.seed_files import SeedError, seeds_read
from policies.seeding import default_seeds_directory, seeds_load


class Command(BaseCommand):
    help = (
        "Load the seeds files (*.toml beside their policy texts) into the database: create or "
        "update organisations and policies and publish a new version when a text or its rules "
        "changed. Every file is checked before anything is written; a second run changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            help="Directory holding the seeds files (default: the project's seeds/).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory: Path = options["dir"] or default_seeds_directory()
        try:
            seeds = seeds_read(directory=directory)
            outcomes = seeds_load(seeds=seeds)
        except SeedError as error:
            raise CommandError(str(error)) from error
        except DatabaseError as error:
            # The transaction rolled back; one line is enough to tell the operator why.
            raise CommandError(
                _("loading the seeds failed, nothing was changed: %(error)s")
                % {"error": " ".join(str(error).split())}
            ) from error
        if options["verbosity"] >= 1:
            for outcome in outcomes:
                self.stdout.write(outcome.line())
