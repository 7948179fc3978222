"""``manage.py clopos_demo_db URL``: create and fill the Clopos demo POS database.

A developer command for the SQL-system work: it makes the schema of ``pos.clopos_db`` in the
database the URL names (SQLite, PostgreSQL or MariaDB/MySQL), fills it and prints the rows
written. It refuses, in one line, a bad URL or a database that already has the tables, unless
``--replace`` says to drop them. It never touches the tracker's own database.
"""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from pos.clopos_db import (
    CLOPOS_TENANT,
    DEFAULT_VENUES,
    DEMO_OWNER_EMAIL,
    OTHER_TENANT,
    CloposDbError,
    create_schema,
    populate,
)


def _venue_count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 2:
        raise ArgumentTypeError(f"expected a whole number of at least 2, got {value!r}")
    return number


class Command(BaseCommand):
    help = (
        "Create the Clopos demo POS database at URL (sqlite:////ABSOLUTE/PATH, postgres://... or "
        "mysql://...) and fill it with deterministic demo data."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("url", metavar="URL", help="The database URL.")
        parser.add_argument(
            "--venues",
            type=_venue_count,
            default=DEFAULT_VENUES,
            help=(
                "Clopos venues (default %(default)s); the other tenant gets a quarter as many, "
                "at least 6."
            ),
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=0,
            help="Random seed; the same seed gives the same rows (default %(default)s).",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Drop the demo tables first if they exist.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            create_schema(options["url"], replace=options["replace"])
            counts = populate(options["url"], venues=options["venues"], seed=options["seed"])
        except CloposDbError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(", ".join(f"{table} {count:,}" for table, count in counts.items()))
        self.stdout.write(
            f"Tenants: {CLOPOS_TENANT} (Clopos) and {OTHER_TENANT}. Demo subject: "
            f"{DEMO_OWNER_EMAIL}, owner of venue 1."
        )
