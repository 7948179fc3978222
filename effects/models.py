"""The record of every effect applied to a subject's data (label ``effects``), append-only."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from policies.models import Organization
from requests_app.models import SubjectRequest


class EffectKind(models.TextChoices):
    CONSENT_WITHDRAWN = "consent_withdrawn", _("Consent withdrawn")
    RESTRICTED = "restricted", _("Processing restricted")
    RESTRICTION_LIFTED = "restriction_lifted", _("Restriction lifted")


class EffectChannel(models.TextChoices):
    REQUEST = "request", _("a request, confirmed by the subject")
    ONE_CLICK = "one_click", _("the one-click unsubscribe link")
    STAFF = "staff", _("a privacy officer")


class ChangeRecordImmutable(Exception):
    """Raised when code tries to change or delete a recorded effect."""


class ConsentChange(models.Model):
    """One effect applied to one subject's rows in every system: what, through which channel,
    by whom, and per model how many rows changed (``changes``)."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="consent_changes",
        verbose_name=_("organisation"),
    )
    request = models.ForeignKey(
        SubjectRequest,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consent_changes",
        verbose_name=_("request"),
    )
    email = models.EmailField(_("subject's email"))
    kind = models.CharField(_("effect"), max_length=20, choices=EffectKind.choices)
    channel = models.CharField(_("through"), max_length=10, choices=EffectChannel.choices)
    purposes = models.JSONField(_("purposes"), default=list, blank=True)
    changes = models.JSONField(
        _("rows changed"),
        default=list,
        blank=True,
        help_text=_("Per model: the system, the field, the value set and how many rows changed."),
    )
    actor_label = models.CharField(_("by"), max_length=150)
    reason = models.TextField(_("reason"), blank=True)
    at = models.DateTimeField(_("when"))

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("consent or restriction change")
        verbose_name_plural = _("consent and restriction changes")
        indexes = [models.Index(fields=["organization", "email"], name="effects_change_subject")]
        permissions = [("lift_restriction", "Can lift a restriction of processing")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.email} ({self.at:%Y-%m-%d})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ChangeRecordImmutable("a recorded effect is never changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ChangeRecordImmutable("a recorded effect is never deleted")

    @property
    def rows_changed(self) -> int:
        return sum(int(entry.get("rows", 0)) for entry in self.changes)
