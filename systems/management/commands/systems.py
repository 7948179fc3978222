"""``manage.py systems``: list systems, load and check their data maps, preview a subject.

    manage.py systems list
    manage.py systems add SLUG --organization ORG --name NAME --connection-env VAR --owner-email E
    manage.py systems add SLUG --organization ORG --name NAME --kind manual --owner-user USERNAME
    manage.py systems load NAME FILE      # store FILE as NAME's next map version, then check it
    manage.py systems check [NAME]        # check the latest map of NAME (or of every SQL system)
    manage.py systems preview NAME --email x@example.org

``check`` prints one line per problem and exits non-zero when any map does not match its
database; ``preview`` changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from policies.models import Organization
from systems.datamap import DataMapError
from systems.models import System, SystemKind
from systems.services import SystemProblem, map_add, map_check, preview, system_find


class Command(BaseCommand):
    help = "List external systems, load and check their data maps, preview a subject's rows."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="the systems and their current map")
        add = sub.add_parser("add", help="add a system (no change if it exists)")
        add.add_argument("slug")
        add.add_argument("--organization", required=True, help="the organisation's slug")
        add.add_argument("--name", required=True)
        add.add_argument("--kind", choices=SystemKind.values, default=SystemKind.SQL)
        add.add_argument("--connection-env", default="")
        add.add_argument("--owner-email", default="")
        add.add_argument("--owner-user", default="", help="a staff user's username")
        add.add_argument("--endpoint-url", default="")
        add.add_argument("--actions", default="", help="comma-separated, e.g. export,erase")
        add.add_argument("--read-only", action="store_true")
        load = sub.add_parser("load", help="store a data map file as a system's next version")
        load.add_argument("name")
        load.add_argument("file", type=Path)
        check = sub.add_parser("check", help="check maps against the live databases")
        check.add_argument("name", nargs="?")
        show = sub.add_parser("preview", help="a subject's rows per table, changing nothing")
        show.add_argument("name")
        show.add_argument("--email", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except (SystemProblem, DataMapError) as error:
            raise CommandError(str(error)) from None

    def _list(self, options: dict[str, Any]) -> None:
        for system in System.objects.select_related("organization").order_by("slug"):
            current = system.current_map()
            state = f"map v{current.number}" if current else "no checked map"
            self.stdout.write(
                f"{system.slug}\t{system.organization.name}\t{system.get_kind_display()}\t{state}"
            )

    def _add(self, options: dict[str, Any]) -> None:
        if System.objects.filter(slug=options["slug"]).exists():
            self.stdout.write(f"{options['slug']}: exists")
            return
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"no organisation {options['organization']!r}")
        owner_user = None
        if options["owner_user"]:
            owner_user = (
                get_user_model()
                .objects.filter(username=options["owner_user"], is_staff=True)
                .first()
            )
            if owner_user is None:
                raise CommandError(f"no staff user {options['owner_user']!r}")
        system = System(
            organization=organization,
            slug=options["slug"],
            name=options["name"],
            kind=options["kind"],
            connection_env=options["connection_env"],
            owner_user=owner_user,
            owner_email=options["owner_email"],
            endpoint_url=options["endpoint_url"],
            actions=[name.strip() for name in options["actions"].split(",") if name.strip()],
            read_only=options["read_only"],
        )
        try:
            system.full_clean()
        except ValidationError as error:
            problems = [
                f"{field}: {' '.join(texts)}" for field, texts in error.message_dict.items()
            ]
            raise CommandError("; ".join(problems)) from None
        system.save()
        self.stdout.write(f"{system.slug}: added for {organization.name}")

    def _load(self, options: dict[str, Any]) -> None:
        system = system_find(options["name"])
        try:
            source = options["file"].read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"{options['file']}: cannot be read ({error})") from None
        latest = system.maps.order_by("-number").first()
        if latest is not None and latest.source == source:
            # The same file again: no new version; check it unless it passed already.
            if latest.checked_at is None and not self._check_one(system):
                raise CommandError(f"{system.slug}: the data map does not match the database")
            self.stdout.write(f"{system.slug}: map v{latest.number} is this file")
            return
        try:
            version = map_add(system, source)
        except DataMapError as error:
            raise CommandError(f"{options['file']}: " + "; ".join(error.problems[:20])) from None
        self.stdout.write(f"{system.slug}: stored map v{version.number}")
        if not self._check_one(system):
            raise CommandError(f"{system.slug}: the data map does not match the database")

    def _check(self, options: dict[str, Any]) -> None:
        if options["name"]:
            systems = [system_find(options["name"])]
        else:
            systems = list(System.objects.filter(kind=SystemKind.SQL, active=True))
        failed = [system.slug for system in systems if not self._check_one(system)]
        if failed:
            raise CommandError(f"the data map does not match the database: {', '.join(failed)}")

    def _check_one(self, system: System) -> bool:
        result = map_check(system)
        for problem in result.problems:
            self.stderr.write(f"{system.slug}: {problem}")
        if result.ok:
            tables = len(result.schema)
            self.stdout.write(f"{system.slug}: the map matches the database ({tables} tables)")
        return result.ok

    def _preview(self, options: dict[str, Any]) -> None:
        system = system_find(options["name"])
        self.stdout.write(f"{'table':<28} {'category':<15} {'rows':>8}  erasure")
        for line in preview(system, options["email"]):
            detail = f" ({line.detail})" if line.detail else ""
            self.stdout.write(
                f"{line.table:<28} {line.category:<15} {line.rows:>8}  {line.action}{detail}"
            )
