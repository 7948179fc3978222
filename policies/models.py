"""Published privacy policies and the machine-readable rules each version carries.

A ``PolicyVersion`` is a draft until it is published; from then on it, its request type rules and
its retention rules are frozen: Python refuses to save or delete them and, on PostgreSQL, triggers
refuse the same through any path (see migration 0002).
"""

from __future__ import annotations

import hashlib
import zoneinfo
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PublishedVersionFrozen(ValidationError):
    """Raised when code tries to change a published policy version or one of its rules."""

    def __init__(self) -> None:
        super().__init__(
            _("This policy version is published and can no longer be changed; publish a new one."),
            code="published_version_frozen",
        )


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class RequestType(models.TextChoices):
    ACCESS = "access", _("Access to my data")
    CORRECTION = "correction", _("Correction of my data")
    DELETION = "deletion", _("Deletion of my data")
    PORTABILITY = "portability", _("A machine-readable copy of my data")
    OBJECTION = "objection", _("Objection to processing")
    RESTRICTION = "restriction", _("Restriction of processing")
    MARKETING_OPT_OUT = "marketing_opt_out", _("Stop marketing messages")
    COMPLAINT = "complaint", _("A written complaint or claim")


class PeriodUnit(models.TextChoices):
    CALENDAR_DAYS = "calendar_days", _("calendar days")
    BUSINESS_DAYS = "business_days", _("business days")
    MONTHS = "months", _("months")


class ClockStart(models.TextChoices):
    RECEIPT = "receipt", _("when the request is received")
    VERIFICATION = "verification", _("when the subject's identity is verified")


class RuleSource(models.TextChoices):
    POLICY = "policy", _("stated in the policy text")
    DEFAULT = "default", _("business default, to be confirmed")


class DataCategory(models.TextChoices):
    CONTACT = "contact", _("Contact details")
    BUSINESS = "business", _("Business information")
    TRANSACTION = "transaction", _("Transactions")
    TECHNICAL = "technical", _("Technical data")
    PAYMENT = "payment", _("Payments and invoices")
    COMMUNICATIONS = "communications", _("Communications")


class RetentionTrigger(models.TextChoices):
    ACCOUNT_DELETED = "account_deleted", _("the account is deleted")
    LICENCE_OVERDUE = "licence_overdue", _("the licence payment is overdue")
    EXPORT_CREATED = "export_created", _("an export package is created")
    REQUEST_CLOSED = "request_closed", _("a subject request is closed")


class RetentionAction(models.TextChoices):
    DELETE = "delete", _("delete")
    ANONYMISE = "anonymise", _("anonymise")


class Organization(models.Model):
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=200)
    legal_name = models.CharField(_("legal name"), max_length=300)
    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2 code."))
    time_zone = models.CharField(_("time zone"), max_length=64, validators=[validate_time_zone])
    languages = models.JSONField(_("languages"), default=list, help_text=_("Language codes."))
    default_language = models.CharField(_("default language"), max_length=10, default="en")
    contact_email = models.EmailField(_("contact email"))
    website = models.URLField(_("website"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Policy(models.Model):
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="policies",
        verbose_name=_("organisation"),
    )
    slug = models.SlugField(_("slug"), max_length=60)
    title = models.CharField(_("title"), max_length=200)
    notice_period_days = models.PositiveSmallIntegerField(
        _("notice period (days)"),
        default=0,
        help_text=_("Days between publication of a version and the day it takes effect."),
    )

    class Meta:
        ordering = ["organization__name", "title"]
        verbose_name = _("policy")
        verbose_name_plural = _("policies")
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="policy_unique_slug"),
        ]

    def __str__(self) -> str:
        return f"{self.organization.name}: {self.title}"


class PolicyVersionQuerySet(models.QuerySet["PolicyVersion"]):
    def published(self) -> PolicyVersionQuerySet:
        return self.filter(published_at__isnull=False)

    def in_force(self, at: datetime | None = None) -> PolicyVersionQuerySet:
        """Versions already effective at ``at`` (now by default), the newest first."""
        moment = at or timezone.now()
        return self.published().filter(effective_at__lte=moment).order_by("-effective_at", "-pk")


class PolicyVersion(models.Model):
    policy = models.ForeignKey(
        Policy, on_delete=models.PROTECT, related_name="versions", verbose_name=_("policy")
    )
    version_label = models.CharField(_("version"), max_length=40)
    language = models.CharField(_("language"), max_length=10)
    text = models.TextField(_("text"))
    text_sha256 = models.CharField(_("SHA-256 of the text"), max_length=64, editable=False)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True, editable=False)
    effective_at = models.DateTimeField(_("effective at"), null=True, blank=True, editable=False)
    significant = models.BooleanField(
        _("significant change"),
        default=False,
        help_text=_(
            "Publishing a significant version emails every subject with an open request and the "
            "business's account contacts, once each, with the date it takes effect."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = PolicyVersionQuerySet.as_manager()

    class Meta:
        ordering = ["policy", "-published_at", "-pk"]
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "version_label"], name="policy_version_unique_label"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(published_at__isnull=True, effective_at__isnull=True)
                    | models.Q(
                        published_at__isnull=False,
                        effective_at__isnull=False,
                        effective_at__gte=models.F("published_at"),
                    )
                ),
                name="policy_version_effective_after_published",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} ({self.version_label})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and self.is_frozen_in_database():
            raise PublishedVersionFrozen()
        self.text_sha256 = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self.is_frozen_in_database():
            raise PublishedVersionFrozen()
        return super().delete(*args, **kwargs)

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    def is_frozen_in_database(self) -> bool:
        """Whether the stored row is published (the in-memory copy may say otherwise)."""
        return (
            self.pk is not None
            and type(self).objects.filter(pk=self.pk, published_at__isnull=False).exists()
        )

    def is_in_force(self, at: datetime | None = None) -> bool:
        moment = at or timezone.now()
        return self.effective_at is not None and self.effective_at <= moment


class FrozenWithVersion(models.Model):
    """A rule that belongs to a policy version and freezes with it."""

    version: models.ForeignKey[PolicyVersion]
    version_id: int
    source = models.CharField(
        _("source"), max_length=10, choices=RuleSource.choices, default=RuleSource.POLICY
    )
    source_quote = models.TextField(
        _("source quote"), blank=True, help_text=_("The sentence of the policy this rule encodes.")
    )

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if PolicyVersion.objects.filter(pk=self.version_id, published_at__isnull=False).exists():
            raise PublishedVersionFrozen()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if PolicyVersion.objects.filter(pk=self.version_id, published_at__isnull=False).exists():
            raise PublishedVersionFrozen()
        return super().delete(*args, **kwargs)


class RequestTypeRule(FrozenWithVersion):
    version = models.ForeignKey(
        PolicyVersion,
        on_delete=models.CASCADE,
        related_name="request_type_rules",
        verbose_name=_("policy version"),
    )
    request_type = models.CharField(_("request type"), max_length=20, choices=RequestType.choices)
    offered = models.BooleanField(_("offered"), default=True)
    response_period = models.PositiveSmallIntegerField(
        _("response period"), default=30, validators=[MinValueValidator(1)]
    )
    response_unit = models.CharField(
        _("response unit"),
        max_length=15,
        choices=PeriodUnit.choices,
        default=PeriodUnit.CALENDAR_DAYS,
    )
    clock_starts = models.CharField(
        _("clock starts"), max_length=15, choices=ClockStart.choices, default=ClockStart.RECEIPT
    )
    pauses_while_on_hold = models.BooleanField(_("clock pauses while on hold"), default=True)
    max_extension = models.PositiveSmallIntegerField(
        _("maximum extension"), default=0, help_text=_("0 means the deadline cannot be extended.")
    )
    extension_unit = models.CharField(
        _("extension unit"),
        max_length=15,
        choices=PeriodUnit.choices,
        default=PeriodUnit.CALENDAR_DAYS,
    )
    extension_notice_required = models.BooleanField(
        _("subject must be told of an extension"), default=True
    )
    # Where the extension comes from, apart from the rule's own source: the texts are mostly
    # silent on extensions, so the seeds carry a documented default, to be confirmed.
    extension_source = models.CharField(
        _("source of the extension"),
        max_length=10,
        choices=RuleSource.choices,
        blank=True,
        help_text=_("Empty: as the rule's own source."),
    )
    extension_note = models.TextField(
        _("note on the extension"),
        blank=True,
        help_text=_("Why this extension was chosen, when it is a default to be confirmed."),
    )
    identity_verification_required = models.BooleanField(
        _("identity verification required"), default=True
    )
    applies_on_confirmation = models.BooleanField(
        _("takes effect when the subject confirms the address"),
        default=False,
        help_text=_(
            "For a policy that promises this right at any time (unsubscribing): confirming the "
            "email address applies it, with no staff step and no waiting for the deadline."
        ),
    )

    class Meta:
        ordering = ["version", "request_type"]
        verbose_name = _("request type rule")
        verbose_name_plural = _("request type rules")
        constraints = [
            models.UniqueConstraint(
                fields=["version", "request_type"], name="request_type_rule_unique_type"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_request_type_display()}: {self.response_period} {self.response_unit}"

    @property
    def extension_to_be_confirmed(self) -> bool:
        """Whether the extension is a business default, not a statement of the policy."""
        source = self.extension_source or self.source
        return bool(self.max_extension) and source == RuleSource.DEFAULT


class RetentionRule(FrozenWithVersion):
    version = models.ForeignKey(
        PolicyVersion,
        on_delete=models.CASCADE,
        related_name="retention_rules",
        verbose_name=_("policy version"),
    )
    slug = models.SlugField(_("slug"), max_length=60)
    trigger = models.CharField(_("trigger"), max_length=20, choices=RetentionTrigger.choices)
    period = models.PositiveSmallIntegerField(_("period"))
    period_unit = models.CharField(_("period unit"), max_length=15, choices=PeriodUnit.choices)
    action = models.CharField(
        _("action"), max_length=10, choices=RetentionAction.choices, default=RetentionAction.DELETE
    )
    notice_days_before = models.JSONField(
        _("advance notice (days before)"),
        default=list,
        blank=True,
        help_text=_("Days before the purge on which the subject is told, e.g. [30, 7]."),
    )

    class Meta:
        ordering = ["version", "slug"]
        verbose_name = _("retention rule")
        verbose_name_plural = _("retention rules")
        constraints = [
            models.UniqueConstraint(fields=["version", "slug"], name="retention_rule_unique_slug"),
        ]

    def __str__(self) -> str:
        return f"{self.slug}: {self.period} {self.period_unit} after {self.trigger}"


class RetentionExemption(models.Model):
    """A category kept past its rule under a named legal basis, for its own period."""

    rule = models.ForeignKey(
        RetentionRule,
        on_delete=models.CASCADE,
        related_name="exemptions",
        verbose_name=_("retention rule"),
    )
    category = models.CharField(_("category"), max_length=20, choices=DataCategory.choices)
    legal_basis = models.CharField(_("legal basis"), max_length=300)
    period = models.PositiveSmallIntegerField(_("period"))
    period_unit = models.CharField(_("period unit"), max_length=15, choices=PeriodUnit.choices)
    source = models.CharField(
        _("source"), max_length=10, choices=RuleSource.choices, default=RuleSource.POLICY
    )

    class Meta:
        ordering = ["rule", "category"]
        verbose_name = _("retention exemption")
        verbose_name_plural = _("retention exemptions")
        constraints = [
            models.UniqueConstraint(fields=["rule", "category"], name="exemption_unique_category"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_category_display()}: {self.period} {self.period_unit} ({self.legal_basis})"
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        if RetentionRule.objects.filter(
            pk=self.rule_id, version__published_at__isnull=False
        ).exists():
            raise PublishedVersionFrozen()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if RetentionRule.objects.filter(
            pk=self.rule_id, version__published_at__isnull=False
        ).exists():
            raise PublishedVersionFrozen()
        return super().delete(*args, **kwargs)


class PolicyPublication(models.Model):
    """The record of publishing a version: who, when, what it dropped and why (append-only).

    A version that no longer offers a right, or no longer carries a retention rule, of the
    version it follows is published only with a reason, kept here beside what it dropped.
    """

    version = models.OneToOneField(
        PolicyVersion,
        on_delete=models.PROTECT,
        related_name="publication",
        verbose_name=_("policy version"),
    )
    follows = models.ForeignKey(
        PolicyVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("follows version"),
    )
    published_at = models.DateTimeField(_("published at"))
    published_by = models.CharField(_("published by"), max_length=150)
    significant = models.BooleanField(_("significant change"), default=False)
    dropped = models.JSONField(
        _("promises dropped"),
        default=list,
        blank=True,
        help_text=_("The rights and retention rules of the previous version this one drops."),
    )
    reason = models.TextField(_("reason for dropping them"), blank=True)

    class Meta:
        ordering = ["-published_at", "-pk"]
        verbose_name = _("policy publication")
        verbose_name_plural = _("policy publications")

    def __str__(self) -> str:
        return f"{self.version} ({self.published_by})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PublishedVersionFrozen()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PublishedVersionFrozen()


class MinorsAction(models.TextChoices):
    DELETE_UNLESS_PARENT_CONSENTS = (
        "delete_unless_consent",
        _("delete promptly unless a parent or guardian consents"),
    )
    DELETE = "delete", _("delete promptly")


class MinorsRule(FrozenWithVersion):
    """What a policy version promises about the data of a child under ``age_below``: the action
    and the short deadline it is taken within, once an officer has confirmed the subject is one."""

    version = models.OneToOneField(
        PolicyVersion,
        on_delete=models.CASCADE,
        related_name="minors_rule",
        verbose_name=_("policy version"),
    )
    age_below = models.PositiveSmallIntegerField(
        _("applies under the age of"), validators=[MinValueValidator(1)]
    )
    action = models.CharField(_("action"), max_length=25, choices=MinorsAction.choices)
    response_days = models.PositiveSmallIntegerField(
        _("within (calendar days)"),
        default=3,
        validators=[MinValueValidator(1)],
        help_text=_("The short deadline of a request about a child: counted from verification."),
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("rule for minors")
        verbose_name_plural = _("rules for minors")

    def __str__(self) -> str:
        return f"under {self.age_below}: {self.action} within {self.response_days} days"
