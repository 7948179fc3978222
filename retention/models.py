"""Retention purges, the batch engine's ledger, and the evidence they leave (label ``retention``).

- ``PurgeRun``: one execution of a retention rule, of an erasure, or of the release of rows an
  erasure kept under a legal hold; ``PurgeStep`` is one model's key range within it (the unit a
  worker claims) and ``PurgeTarget`` the rows an erasure found when it started.
- ``RetentionNotice``: an advance notice sent once per rule, subject row, purge date and threshold.
- ``ClosedRequestAnonymisation``: marks a request anonymised after its evidence period.

The tables keep the names they had under ``requests_app`` (``db_table``), so an existing install
moves here without copying a row (migration ``retention/0001``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from policies.models import Organization, RetentionRule
from requests_app.models import SubjectRequest


class PurgeKind(models.TextChoices):
    RETENTION = "retention", _("Retention rule")
    ERASURE = "erasure", _("Erasure request")
    HOLD_RELEASE = "hold_release", _("End of a legal hold after an erasure")


class PurgeAction(models.TextChoices):
    DELETE = "delete", _("delete")
    ANONYMISE = "anonymise", _("anonymise")
    RETAIN = "retain", _("retain under a legal basis")


class PurgeRun(models.Model):
    """One execution of the purge engine, and the evidence of what it did.

    ``totals`` holds rows per model (``{"pos.sale": {"deleted": 10, "anonymised": 0, "kept":
    0}}``, *kept* being rows due but still referenced by records that stay) and ``retained`` the
    rows kept under a legal basis, per model, with the basis and until when.
    """

    kind = models.CharField(_("kind"), max_length=15, choices=PurgeKind.choices)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="purge_runs",
        verbose_name=_("organisation"),
    )
    rule = models.ForeignKey(
        RetentionRule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="purge_runs",
        verbose_name=_("retention rule"),
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="releases",
        verbose_name=_("erasure run whose legal hold ended"),
    )
    as_of = models.DateField(
        _("as of"), help_text=_("The day, on the organisation's calendar, the run counts from.")
    )
    triggered_by = models.CharField(_("started by"), max_length=150)
    batch_size = models.PositiveIntegerField(_("batch size"))
    position = models.PositiveSmallIntegerField(_("current phase"), default=0)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    totals = models.JSONField(_("rows per model"), default=dict, blank=True)
    retained = models.JSONField(_("retained per model"), default=list, blank=True)

    class Meta:
        db_table = "requests_app_purgerun"
        ordering = ["-started_at", "-pk"]
        verbose_name = _("purge run")
        verbose_name_plural = _("purge runs")
        indexes = [models.Index(fields=["finished_at"], name="purge_run_finished")]
        constraints = [
            # One unfinished run per rule and day: a second start resumes the first.
            models.UniqueConstraint(
                fields=["kind", "rule", "as_of"],
                condition=Q(finished_at__isnull=True, rule__isnull=False),
                name="purge_run_one_open_per_rule_and_day",
            ),
        ]

    def __str__(self) -> str:
        what = self.rule.slug if self.rule_id and self.rule else self.get_kind_display()
        return f"#{self.pk} {what} ({self.as_of})"

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    def total(self, column: str) -> int:
        return sum(int(counts.get(column, 0)) for counts in self.totals.values())


class PurgeStep(models.Model):
    """One model's rows in one key range of a run: what a single worker task works through.

    Steps of a lower ``position`` finish before the next position starts (children before
    parents); steps of one position are independent. ``cursor`` is the last primary key done:
    each batch moves it in the same transaction as its delete or update, so a killed worker's
    successor starts exactly where the last committed batch ended.
    """

    run = models.ForeignKey(
        PurgeRun, on_delete=models.CASCADE, related_name="steps", verbose_name=_("purge run")
    )
    position = models.PositiveSmallIntegerField(_("phase"))
    model_label = models.CharField(_("model"), max_length=100)
    action = models.CharField(_("action"), max_length=10, choices=PurgeAction.choices)
    cutoff = models.DateField(
        _("cutoff"),
        null=True,
        blank=True,
        help_text=_("Rows whose retention clock started on or before this day are due."),
    )
    legal_basis = models.CharField(
        _("exempt until its own period under"), max_length=300, blank=True
    )
    pk_from = models.BigIntegerField(_("from primary key"))
    pk_to = models.BigIntegerField(_("to primary key"))
    cursor = models.BigIntegerField(_("done up to"), null=True, blank=True)
    # A batch in a system's own database commits there first: its end and its row count are
    # recorded here just before, so a worker killed between the two commits is finished exactly
    # by whoever runs the step next (``retention.purge``).
    pending_last = models.BigIntegerField(_("batch committing up to"), null=True, blank=True)
    pending_rows = models.PositiveBigIntegerField(_("rows of that batch"), default=0)
    planned = models.PositiveBigIntegerField(
        _("rows planned"), default=0, help_text=_("Rows due in the range when the run was planned.")
    )
    rows = models.PositiveBigIntegerField(_("rows"), default=0)
    batches = models.PositiveIntegerField(_("batches"), default=0)
    longest_batch_ms = models.PositiveIntegerField(_("longest batch (ms)"), default=0)
    heartbeat_at = models.DateTimeField(_("last batch at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        db_table = "requests_app_purgestep"
        ordering = ["run", "position", "pk_from"]
        verbose_name = _("purge step")
        verbose_name_plural = _("purge steps")
        indexes = [
            models.Index(fields=["run", "position", "finished_at"], name="purge_step_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.model_label} {self.action} [{self.pk_from}, {self.pk_to}]"


class PurgeTarget(models.Model):
    """A row an erasure found when it started, and what it does to it.

    Found once, in the transaction that starts the erasure, so the rows that lead to others (the
    subject's user row leads to their accounts) can be removed in any order afterwards.
    """

    run = models.ForeignKey(
        PurgeRun, on_delete=models.CASCADE, related_name="targets", verbose_name=_("purge run")
    )
    model_label = models.CharField(_("model"), max_length=100)
    object_pk = models.BigIntegerField(_("primary key"))
    action = models.CharField(_("action"), max_length=10, choices=PurgeAction.choices)
    legal_basis = models.CharField(_("legal basis"), max_length=300, blank=True)
    retained_until = models.DateField(_("retained until"), null=True, blank=True)
    released_at = models.DateTimeField(_("hold ended at"), null=True, blank=True)

    class Meta:
        db_table = "requests_app_purgetarget"
        verbose_name = _("purge target")
        verbose_name_plural = _("purge targets")
        indexes = [
            models.Index(fields=["run", "model_label", "action", "object_pk"], name="purge_target"),
            models.Index(
                fields=["retained_until"],
                name="purge_target_held",
                condition=Q(action="retain", released_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_label} #{self.object_pk}: {self.action}"


class RetentionNotice(models.Model):
    """An advance notice that a subject row's data will be purged on ``purge_on``.

    Unique per rule, row, purge date and threshold: claimed by inserting it, so each is sent once
    however often (or however concurrently) the daily job runs; a new purge date (the licence was
    paid, then fell overdue again) gets notices of its own.
    """

    rule = models.ForeignKey(
        RetentionRule,
        on_delete=models.PROTECT,
        related_name="notices",
        verbose_name=_("retention rule"),
    )
    anchor_label = models.CharField(_("model"), max_length=100)
    anchor_pk = models.BigIntegerField(_("primary key"))
    purge_on = models.DateField(_("purge date"))
    days_before = models.PositiveSmallIntegerField(_("days before"))
    created_at = models.DateTimeField(_("created at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    recipients = models.PositiveSmallIntegerField(_("recipients"), default=0)

    class Meta:
        db_table = "requests_app_retentionnotice"
        ordering = ["-created_at", "-pk"]
        verbose_name = _("retention notice")
        verbose_name_plural = _("retention notices")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "anchor_label", "anchor_pk", "purge_on", "days_before"],
                name="retention_notice_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.anchor_label} #{self.anchor_pk}: {self.purge_on} (-{self.days_before})"


class ClosedRequestAnonymisation(models.Model):
    """A closed request whose subject details were removed after the evidence period."""

    request = models.OneToOneField(
        SubjectRequest,
        on_delete=models.PROTECT,
        related_name="anonymisation",
        verbose_name=_("subject request"),
    )
    anonymised_at = models.DateTimeField(_("anonymised at"))

    class Meta:
        db_table = "requests_app_closedrequestanonymisation"
        verbose_name = _("closed request anonymisation")
        verbose_name_plural = _("closed request anonymisations")

    def __str__(self) -> str:
        return f"{self.request_id} ({self.anonymised_at:%Y-%m-%d})"
