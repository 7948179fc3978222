"""A system and the versions of its data map.

The connection URL is never stored: a system names the environment variable that holds it (or a
``*_FILE`` variable naming a secret file). A data map is never edited: a changed map is a new
version, kept with its text, its SHA-256, who gave it, and the live schema it was checked
against. The tracker acts through the latest version that passed ``systems check``.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from policies.models import Organization

validate_env_name = RegexValidator(
    r"^[A-Z][A-Z0-9_]{0,99}\Z",
    _("Name an environment variable: capital letters, digits and underscores."),
    code="invalid_env_name",
)


class SystemKind(models.TextChoices):
    DJANGO = "django", _("Models of this project")
    SQL = "sql", _("External SQL database")


class System(models.Model):
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="systems",
        verbose_name=_("organisation"),
    )
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(
        _("short name"),
        max_length=40,
        unique=True,
        help_text=_("Names the system's tables in exports and certificates; never change it."),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=SystemKind.choices)
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner (staff user)"),
    )
    owner_email = models.EmailField(_("owner (email address)"), blank=True)
    connection_env = models.CharField(
        _("connection variable"),
        max_length=100,
        blank=True,
        validators=[validate_env_name],
        help_text=_(
            "The environment variable holding the database URL, or a variable ending in _FILE "
            "naming a file that holds it. The URL itself is never stored here."
        ),
    )
    read_only = models.BooleanField(
        _("read only"),
        default=False,
        help_text=_("Export only: erasure, correction and purges are refused for this system."),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("system")
        verbose_name_plural = _("systems")
        ordering = ("organization__name", "name")
        constraints = [
            models.UniqueConstraint(fields=("organization", "name"), name="system_unique_name"),
            models.CheckConstraint(
                condition=~Q(kind="sql") | ~Q(connection_env=""),
                name="system_sql_names_its_connection",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def owner(self) -> str:
        if self.owner_user is not None:
            return self.owner_user.get_full_name() or self.owner_user.get_username()
        return self.owner_email

    @property
    def alias(self) -> str:
        """The database alias of the system's connection in this process."""
        return f"system_{self.pk}"

    def clean(self) -> None:
        if self.owner_user_id is None and not self.owner_email:
            raise ValidationError(
                {"owner_email": _("Name who answers for this system: a staff user or an email.")}
            )
        if self.kind == SystemKind.SQL and not self.connection_env:
            raise ValidationError(
                {"connection_env": _("An external database needs its connection variable.")}
            )

    def current_map(self) -> DataMapVersion | None:
        """The latest map version that passed the check against the live schema."""
        return self.maps.filter(checked_at__isnull=False).order_by("-number").first()


class DataMapVersion(models.Model):
    system = models.ForeignKey(
        System, on_delete=models.CASCADE, related_name="maps", verbose_name=_("system")
    )
    number = models.PositiveIntegerField(_("version"))
    source = models.TextField(_("data map (TOML)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("given by"),
    )
    # The live columns the map was checked against (table -> column -> type), which the tracker
    # builds its models from; empty until a check passes.
    schema = models.JSONField(_("checked schema"), default=dict, blank=True)
    checked_at = models.DateTimeField(_("checked"), null=True, blank=True)
    check_report = models.TextField(_("last check"), blank=True)

    class Meta:
        verbose_name = _("data map version")
        verbose_name_plural = _("data map versions")
        ordering = ("system", "-number")
        constraints = [
            models.UniqueConstraint(fields=("system", "number"), name="datamap_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.system} v{self.number}"

    def save(self, *args: object, **kwargs: object) -> None:
        self.sha256 = hashlib.sha256(self.source.encode("utf-8")).hexdigest()
        super().save(*args, **kwargs)  # type: ignore[arg-type]
