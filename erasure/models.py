"""Erasures and their evidence (app label ``erasure``).

- ``ErasureSchedule``: an approved erasure request waiting out its grace period (the subject may
  cancel), then executed by the purge engine (``retention.purge``) as a ``PurgeRun``.
- ``ErasureCertificate``: what an erasure did, stored, added to the evidence and sent.

The tables keep the names they had under ``requests_app`` (``db_table``), so an existing install
moves here without copying a row (migration ``erasure/0001``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from requests_app.models import SubjectRequest
from retention.models import PurgeRun


class ErasureStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled (the subject can still cancel)")
    CANCELLED = "cancelled", _("Cancelled")
    RUNNING = "running", _("Being erased")
    DONE = "done", _("Erased")


class ErasureSchedule(models.Model):
    """An approved erasure: when it runs, and whether the subject cancelled it first."""

    request = models.OneToOneField(
        SubjectRequest,
        on_delete=models.PROTECT,
        related_name="erasure",
        verbose_name=_("subject request"),
    )
    status = models.CharField(
        _("status"), max_length=15, choices=ErasureStatus.choices, default=ErasureStatus.SCHEDULED
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"))
    execute_after = models.DateTimeField(
        _("runs after"), help_text=_("The end of the grace period in which the subject can cancel.")
    )
    deadline = models.DateTimeField(_("request deadline"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Why a due erasure could not start yet (a system that is down, or read-only); it is tried
    # again at every run of the job until it starts.
    waiting_reason = models.TextField(_("waiting because"), blank=True)
    run = models.OneToOneField(
        PurgeRun,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="erasure_schedule",
        verbose_name=_("purge run"),
    )

    class Meta:
        db_table = "requests_app_erasureschedule"
        ordering = ["execute_after", "pk"]
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")
        indexes = [models.Index(fields=["status", "execute_after"], name="erasure_status_due")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ErasureStatus.values), name="erasure_known_status"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.status}"

    def can_be_cancelled(self, at: datetime | None = None) -> bool:
        """Whether the subject may still cancel: scheduled and the grace period not over."""
        return self.status == ErasureStatus.SCHEDULED and (at or timezone.now()) < (
            self.execute_after
        )


class ErasureCertificate(models.Model):
    """The record of one erasure: rows per model, what was kept and why, and when.

    ``content`` is the certificate itself and ``sha256`` the digest of its canonical JSON, so a
    copy the subject was sent can be compared with the stored one.
    """

    schedule = models.OneToOneField(
        ErasureSchedule,
        on_delete=models.PROTECT,
        related_name="certificate",
        verbose_name=_("erasure"),
    )
    request = models.ForeignKey(
        SubjectRequest,
        on_delete=models.PROTECT,
        related_name="erasure_certificates",
        verbose_name=_("subject request"),
    )
    issued_at = models.DateTimeField(_("issued at"))
    content = models.JSONField(_("certificate"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    sent_at = models.DateTimeField(_("sent to the subject at"), null=True, blank=True)

    class Meta:
        db_table = "requests_app_erasurecertificate"
        ordering = ["-issued_at", "-pk"]
        verbose_name = _("erasure certificate")
        verbose_name_plural = _("erasure certificates")

    def __str__(self) -> str:
        return str(self.content.get("request", self.pk))

    @staticmethod
    def canonical(content: dict[str, Any]) -> str:
        return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def digest(cls, content: dict[str, Any]) -> str:
        return hashlib.sha256(cls.canonical(content).encode("utf-8")).hexdigest()

    def is_intact(self) -> bool:
        return self.digest(self.content) == self.sha256
