"""``manage.py generate_demo_data``: fill the sample POS system with realistic demo data."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from config.progress import Progress
from policies.models import Organization
from pos.demo_data import (
    DEFAULT_ACCOUNTS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_SALES_PER_ACCOUNT,
    MissingFaker,
    demo_data_generate,
)


def _non_negative_integer(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def _positive_integer(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    # argparse needs plain strings, so the help is marked here and translated in create_parser.
    help = gettext_noop(
        "Generate demo POS data (accounts, users, sales, invoices, devices, logins, support "
        "messages) for the organisations in the database. An organisation that already has "
        "accounts is skipped, so running it again adds nothing; the same --seed gives the same "
        "data."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.description = _(self.help)
        return parser

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--accounts",
            type=_non_negative_integer,
            default=DEFAULT_ACCOUNTS,
            help=_("Accounts per organisation (default %(default)s)."),
        )
        parser.add_argument(
            "--per-account-sales",
            type=_non_negative_integer,
            default=DEFAULT_SALES_PER_ACCOUNT,
            help=_("Sales per account (default %(default)s)."),
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=0,
            help=_("Random seed; the same seed gives the same data (default %(default)s)."),
        )
        parser.add_argument(
            "--large-subject-sales",
            type=_non_negative_integer,
            default=0,
            metavar="N",
            help=_(
                "Also create one very large subject, an account with N sales, in the first "
                "organisation (for benchmarks)."
            ),
        )
        parser.add_argument(
            "--organization",
            dest="organizations",
            action="extend",
            nargs="+",
            default=[],
            metavar="SLUG",
            help=_("Only these organisations (by slug); all of them by default."),
        )
        parser.add_argument(
            "--exclude",
            action="extend",
            nargs="+",
            default=[],
            metavar="SLUG",
            help=_("Leave out these organisations (their POS lives in a database of its own)."),
        )
        parser.add_argument(
            "--batch-size",
            type=_positive_integer,
            default=DEFAULT_BATCH_SIZE,
            help=_("Rows written per insert (default %(default)s)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organizations = [
            o
            for o in self._organizations(options["organizations"])
            if o.slug not in options["exclude"]
        ]
        progress = None
        if options["verbosity"] > 0:
            progress = Progress(self._write_progress, in_place=self.stderr.isatty())
        try:
            report = demo_data_generate(
                organizations=organizations,
                accounts=options["accounts"],
                sales_per_account=options["per_account_sales"],
                seed=options["seed"],
                large_subject_sales=options["large_subject_sales"],
                batch_size=options["batch_size"],
                progress=progress,
            )
        except MissingFaker as error:
            raise CommandError(str(error)) from error
        for slug in report.skipped:
            self.stdout.write(_("%(slug)s: skipped, it already has accounts.") % {"slug": slug})
        for slug in report.generated:
            self.stdout.write(_("%(slug)s: demo data generated.") % {"slug": slug})
        if report.rows:
            counts = ", ".join(f"{name} {count:,}" for name, count in sorted(report.rows.items()))
            self.stdout.write(_("Rows written: %(counts)s.") % {"counts": counts})
        if report.large_subject is not None:
            message = (
                _("Large subject created: account %(id)s, owner %(email)s.")
                if report.large_subject_created
                else _("Large subject already present: account %(id)s, owner %(email)s.")
            )
            owner = report.large_subject.users.get(is_primary_contact=True)
            self.stdout.write(message % {"id": report.large_subject.pk, "email": owner.email})

    def _organizations(self, slugs: list[str]) -> list[Organization]:
        """Return the organisations to fill, in slug order; fail in one line if there are none."""
        organizations = Organization.objects.order_by("slug")
        if not organizations.exists():
            raise CommandError(
                _("No organisation in the database: run `manage.py load_seeds` first.")
            )
        if not slugs:
            return list(organizations)
        chosen = list(organizations.filter(slug__in=slugs))
        unknown = sorted(set(slugs) - {o.slug for o in chosen})
        if unknown:
            raise CommandError(
                _("Unknown organisation: %(slugs)s.") % {"slugs": ", ".join(unknown)}
            )
        return chosen

    def _write_progress(self, text: str) -> None:
        self.stderr.write(text, ending="")
        self.stderr.flush()
