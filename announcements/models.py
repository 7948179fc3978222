"""One announcement of a significant policy version to one address (label ``announcements``)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from policies.models import PolicyVersion


class AnnouncementSource(models.TextChoices):
    OPEN_REQUEST = "open_request", _("a subject with an open request")
    ACCOUNT_CONTACT = "account_contact", _("an account contact the business lists")


class Announcement(models.Model):
    """The email telling ``email`` that ``version`` takes effect; one per version and address,
    so planning again or a retried task never sends it twice."""

    version = models.ForeignKey(
        PolicyVersion,
        on_delete=models.PROTECT,
        related_name="announcements",
        verbose_name=_("policy version"),
    )
    email = models.EmailField(_("email"))
    language = models.CharField(_("language"), max_length=10)
    source = models.CharField(_("why"), max_length=20, choices=AnnouncementSource.choices)
    created_at = models.DateTimeField(_("planned at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["version", "pk"]
        verbose_name = _("policy announcement")
        verbose_name_plural = _("policy announcements")
        constraints = [
            models.UniqueConstraint(
                fields=["version", "email"], name="announcement_once_per_version_and_address"
            ),
        ]
        indexes = [
            models.Index(
                fields=["version", "id"],
                condition=models.Q(sent_at__isnull=True),
                name="announcement_unsent",
            )
        ]

    def __str__(self) -> str:
        return f"{self.version}: {self.email}"
