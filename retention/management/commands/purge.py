"""``manage.py purge``: apply the retention rules now, or show what they would do.

    manage.py purge --dry-run                    # every rule in force: what would go and stay
    manage.py purge --rule zpos/account-deleted  # run one rule now, in this process
    manage.py purge --as-of 2027-03-01           # run every rule as the 03:00 job would that day

``--as-of`` is how to move time forward on ``make run``: the rules count from that day (each
organisation's calendar), advance notices due by then are sent, and legal holds that ended by
then are released. Runs interrupted earlier (a killed process) are resumed, not started again.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from config.progress import Progress
from retention.daily import purges_start_due, retention_rule_apply, run_title
from retention.models import PurgeRun, PurgeStep
from retention.preview import retention_preview
from retention.purge import run_execute
from retention.rules import organization_today, rule_check, rule_find, rules_in_force
from retention.scopes import PurgeError

COMMAND = "manage.py purge"


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            _("--as-of must be a date written YYYY-MM-DD, such as 2027-03-01, not %(value)r.")
            % {"value": value}
        ) from None


def _batch_size(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise CommandError(
            _("--batch-size must be a whole number of at least 1, not %(value)r.")
            % {"value": value}
        )
    return int(value)


class Command(BaseCommand):
    help = gettext_noop(
        "Apply the retention rules in force now (advance notices, then purges, then the end of "
        "legal holds), or with --dry-run show per organisation and model what they would delete "
        "and keep."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.description = _(self.help)
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Change nothing: count what would be deleted, anonymised and kept."),
        )
        parser.add_argument(
            "--rule",
            metavar="RULE",
            help=_(
                "Only this rule: its id, organisation/slug (zpos/account-deleted), or a slug "
                "only one rule in force has."
            ),
        )
        parser.add_argument(
            "--as-of",
            metavar="YYYY-MM-DD",
            help=_("Count from this day instead of today (moves time forward on make run)."),
        )
        parser.add_argument(
            "--batch-size",
            metavar="N",
            help=_("Rows per transaction (default: the PURGE_BATCH_SIZE setting)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = _as_of(options["as_of"])
        batch_size = _batch_size(options["batch_size"])
        try:
            rules = (
                [rule_find(options["rule"], at=as_of)] if options["rule"] else rules_in_force(as_of)
            )
            for rule in rules:
                rule_check(rule)
        except PurgeError as error:
            raise CommandError(str(error)) from None
        if not rules:
            self.stdout.write(_("No retention rule is in force; nothing to do."))
            return
        progress = None
        if options["verbosity"] > 0:
            progress = Progress(self._write_progress, in_place=self.stderr.isatty())
        for rule in rules:
            organization = rule.version.policy.organization
            day = as_of or organization_today(organization)
            title = f"{organization.slug}/{rule.slug}"
            if options["dry_run"]:
                self._preview(rule, day, title, progress)
            else:
                self._run(rule, day, title, progress, batch_size)
        if not options["dry_run"] and not options["rule"]:
            self._release_holds(as_of, progress, batch_size)

    def _preview(self, rule: Any, day: date, title: str, progress: Progress | None) -> None:
        def report(label: str, done: int, total: int) -> None:
            if progress is None:
                return
            if done == 0:
                progress.start(_("%(rule)s: counting") % {"rule": title}, total)
            elif label:
                progress.advance(1)
            else:
                progress.advance(1)
                progress.finish()

        lines = retention_preview(rule=rule, as_of=day, progress=report)
        self.stdout.write(
            _("%(rule)s as of %(day)s (dry run, nothing changed):")
            % {"rule": title, "day": day.isoformat()}
        )
        width = max((len(line.model) for line in lines), default=10)
        for line in lines:
            text = _(
                "  %(model)s  would delete %(delete)s, anonymise %(anonymise)s, keep %(keep)s"
            ) % {
                "model": line.model.ljust(width),
                "delete": f"{line.delete:,}",
                "anonymise": f"{line.anonymise:,}",
                "keep": f"{line.keep:,}",
            }
            if line.keep_reason:
                text += f" ({line.keep_reason})"
            self.stdout.write(text)

    def _run(
        self,
        rule: Any,
        day: date,
        title: str,
        progress: Progress | None,
        batch_size: int | None,
    ) -> None:
        run, notices = retention_rule_apply(
            rule=rule, as_of=day, triggered_by=COMMAND, batch_size=batch_size
        )
        self._execute(run, title, progress, batch_size)
        if notices:
            self.stdout.write(_("  %(count)d advance notice(s) queued.") % {"count": len(notices)})

    def _release_holds(
        self, as_of: date | None, progress: Progress | None, batch_size: int | None
    ) -> None:
        # The same purges the daily job starts after the rules (the end of legal holds).
        for run in purges_start_due(as_of=as_of or timezone.localdate(), triggered_by=COMMAND):
            self._execute(run, run_title(run), progress, batch_size)

    def _execute(
        self, run: PurgeRun, title: str, progress: Progress | None, batch_size: int | None
    ) -> None:
        if progress is not None:
            total = sum(
                PurgeStep.objects.filter(run=run, finished_at__isnull=True).values_list(
                    "planned", flat=True
                )
            )
            progress.start(
                _("%(rule)s: purging (run #%(id)s)") % {"rule": title, "id": run.pk}, total
            )

        def report(step: PurgeStep, rows: int) -> None:
            if progress is not None and rows:
                progress.advance(rows)

        run = run_execute(run, batch_size=batch_size, progress=report)
        if progress is not None:
            progress.finish()
        self.stdout.write(
            _("%(rule)s as of %(day)s: run #%(id)s finished.")
            % {"rule": title, "day": run.as_of.isoformat(), "id": run.pk}
        )
        width = max((len(label) for label in run.totals), default=10)
        for label, counts in sorted(run.totals.items()):
            self.stdout.write(
                _("  %(model)s  deleted %(deleted)s, anonymised %(anonymised)s, kept %(kept)s")
                % {
                    "model": label.ljust(width),
                    "deleted": f"{counts.get('deleted', 0):,}",
                    "anonymised": f"{counts.get('anonymised', 0):,}",
                    "kept": f"{counts.get('kept', 0):,}",
                }
            )
        for entry in run.retained:
            if entry.get("rows"):
                self.stdout.write(
                    _("  %(model)s  %(rows)s retained under %(basis)s (%(until)s)")
                    % {
                        "model": entry["model"].ljust(width),
                        "rows": f"{entry['rows']:,}",
                        "basis": entry["legal_basis"],
                        "until": entry.get("until") or "",
                    }
                )

    def _write_progress(self, text: str) -> None:
        self.stderr.write(text, ending="")
        self.stderr.flush()
