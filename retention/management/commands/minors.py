"""``manage.py minors``: the children's data the policies' rules for minors find in the data.

    manage.py minors                         # every organisation with a rule for minors
    manage.py minors --organization beshqozon

One line per row found (model, key, date of birth, age); nothing is changed. An officer acts on
each through a request (a parent's, or one filed for the child), which the rule then gives its
short deadline.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from policies.models import Organization
from retention.minors import age_on, minors_found


class Command(BaseCommand):
    help = "List the rows whose registered date of birth shows a child under a policy's threshold."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", action="append", default=[], metavar="SLUG")

    def handle(self, *args: Any, **options: Any) -> None:
        organizations = Organization.objects.order_by("slug")
        if options["organization"]:
            organizations = organizations.filter(slug__in=options["organization"])
            missing = set(options["organization"]) - set(
                organizations.values_list("slug", flat=True)
            )
            if missing:
                raise CommandError(
                    _("No organisation %(slug)s.") % {"slug": ", ".join(sorted(missing))}
                )
        found = 0
        for organization in organizations:
            today = timezone.localdate(timezone=organization.tz)
            for registration, rows in minors_found(organization, on=today):
                field = registration.birth_date
                for pk, born in rows.order_by("pk").values_list("pk", field).iterator():
                    found += 1
                    self.stdout.write(
                        f"{organization.slug}: {registration.label} #{pk} "
                        + _("born %(born)s, %(age)d years old")
                        % {"born": born.isoformat(), "age": age_on(born, today)}
                    )
        self.stderr.write(_("%(count)d children's rows found.") % {"count": found})
