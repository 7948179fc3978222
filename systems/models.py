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
    MANUAL = "manual", _("Searched by a person")
    HTTP = "http", _("Reached over HTTP (webhook)")
    OPENDSR = "opendsr", _("OpenDSR processor")


# The kinds whose work the tracker's own engine does (export, correction, erasure through the
# registry); every other kind is reached through a handler (``systems.handlers``).
ENGINE_KINDS = frozenset({SystemKind.DJANGO, SystemKind.SQL})


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
    owner_language = models.CharField(
        _("owner's language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("The language of the emails to the owner; empty: the organisation's."),
    )
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
    endpoint_url = models.URLField(
        _("endpoint URL"),
        max_length=500,
        blank=True,
        help_text=_("HTTP: the webhook URL. OpenDSR: the processor's base URL."),
    )
    actions = models.JSONField(
        _("supported actions"),
        default=list,
        blank=True,
        help_text=_("What the system can do: export, erase, correct, opt_out, restrict."),
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


class TaskAction(models.TextChoices):
    EXPORT = "export", _("Find and send the subject's data")
    ERASE = "erase", _("Erase the subject's data")
    CORRECT = "correct", _("Correct the subject's data")
    OPT_OUT = "opt_out", _("Stop marketing to the subject")
    RESTRICT = "restrict", _("Restrict processing of the subject's data")


class TaskStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    NOTHING_FOUND = "nothing_found", _("Nothing found")
    FAILED = "failed", _("Failed")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")
    CLOSED = "closed", _("Closed by an officer")


# A failed task is still open: it is retried, or an officer closes it with a reason.
OPEN_TASK_STATUSES = frozenset({TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.FAILED})
SETTLED_TASK_STATUSES = frozenset(TaskStatus) - OPEN_TASK_STATUSES


class SystemTask(models.Model):
    """What one system must do for one request, and what it answered.

    The database is the record: a worker or broker restart loses at most a wake-up, which the
    beat job ``systems.send_due_tasks`` gives again.
    """

    request = models.ForeignKey(
        "requests_app.SubjectRequest",
        on_delete=models.PROTECT,
        related_name="system_tasks",
        verbose_name=_("subject request"),
    )
    system = models.ForeignKey(
        System, on_delete=models.PROTECT, related_name="tasks", verbose_name=_("system")
    )
    action = models.CharField(_("action"), max_length=10, choices=TaskAction.choices)
    status = models.CharField(
        _("status"), max_length=15, choices=TaskStatus.choices, default=TaskStatus.PENDING
    )
    # Who answers for this task: the system's owner when it was created, until an officer
    # reassigns it.
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner (staff user)"),
    )
    owner_email = models.EmailField(_("owner (email address)"), blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    external_ref = models.CharField(_("external reference"), max_length=200, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    kept = models.JSONField(
        _("kept"), default=list, blank=True, help_text=_("What was kept, under which legal basis.")
    )
    note = models.TextField(_("note"), blank=True)
    reason = models.TextField(
        _("reason"), blank=True, help_text=_("Why the task was closed or does not apply.")
    )
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    data_name = models.CharField(_("answer file"), max_length=300, blank=True)
    data_sha256 = models.CharField(_("answer SHA-256"), max_length=64, blank=True)
    data_rows = models.PositiveIntegerField(_("answer rows"), null=True, blank=True)
    data_size = models.PositiveBigIntegerField(_("answer size (bytes)"), null=True, blank=True)
    answered_by = models.CharField(_("answered by"), max_length=254, blank=True)
    reminded_at = models.DateTimeField(_("owner reminded"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated to officers"), null=True, blank=True)
    stuck_since = models.DateTimeField(_("waiting since"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("system task")
        verbose_name_plural = _("system tasks")
        ordering = ("request", "system__name", "action")
        constraints = [
            models.UniqueConstraint(
                fields=("request", "system", "action"), name="systemtask_unique_per_request"
            ),
        ]
        indexes = [
            models.Index(
                fields=("next_attempt_at",),
                name="systemtask_open_next",
                condition=Q(status__in=["pending", "in_progress", "failed"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system} · {self.get_action_display()}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TASK_STATUSES

    @property
    def owner(self) -> str:
        if self.owner_user is not None:
            return self.owner_user.get_full_name() or self.owner_user.get_username()
        return self.owner_email

    @property
    def owner_address(self) -> str:
        """The address the owner is emailed at."""
        if self.owner_user is not None and self.owner_user.email:
            return self.owner_user.email
        return self.owner_email


class OwnerLink(models.Model):
    """A secret link that lets a task's owner answer it without an account.

    Only the SHA-256 of the token is stored. A link records one answer (``used_at``); it expires
    at ``expires_at``; it opens its own task only.
    """

    task = models.ForeignKey(
        SystemTask, on_delete=models.CASCADE, related_name="links", verbose_name=_("task")
    )
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    sent_to = models.EmailField(_("sent to"))
    created_at = models.DateTimeField(_("created"))
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        verbose_name = _("owner link")
        verbose_name_plural = _("owner links")
        ordering = ("-created_at", "-pk")

    def __str__(self) -> str:
        return f"{self.task} #{self.pk}"
