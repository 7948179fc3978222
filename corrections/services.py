"""Correction requests: what the subject asked to correct, beside what is stored, then applied.

The subject describes each correction in their own words ("my phone number": "+998 90 123 45
67"). The officer sees, for each, the values the registry lets a subject correct in the subject's
rows (``correctable_values``), the likely ones first (``suggested_keys``), picks the rows and
fields the correction applies to (or declines it with a reason) and may adjust the value.

``correction_apply`` writes every approved value through the registry in one transaction: it
re-finds each row among the subject's rows (a key from a form is never trusted), checks the value
with the model field's own validation, locks and updates the row, appends one audit event holding
the before/after diff and the declined items with their reasons, and completes the request with an
outcome that tells the subject what was changed, what was already right and what was not changed
and why. Any invalid value refuses the whole correction and nothing is written.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, router, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from policies.models import RequestType
from requests_app.audit import Actor, event_append
from requests_app.models import EventKind, RequestEvent, RequestStatus, SubjectRequest
from requests_app.representation import relationship_blocker
from requests_app.workflow import IllegalAction, request_complete, request_start
from subject_data.registry import SubjectIdentity, registry

# Rows per model shown for review: enough for any one subject's contact and business rows,
# bounded for a merchant with thousands of products.
MAX_ROWS_PER_MODEL = 100
CORRECTABLE_STATUSES = (RequestStatus.VERIFIED, RequestStatus.IN_PROGRESS)
_WORD = re.compile(r"\w+", re.UNICODE)


class CorrectionRefused(IllegalAction):
    """The correction cannot be applied as asked; nothing was written. The message says why."""


@dataclass(frozen=True)
class RequestedCorrection:
    """One correction as the subject asked for it: which information, and its correct value."""

    index: int
    field: str
    value: str


def requested_corrections(request: SubjectRequest) -> list[RequestedCorrection]:
    """The corrections the subject asked for, numbered from 0."""
    items = request.details.get("corrections", []) if isinstance(request.details, dict) else []
    return [
        RequestedCorrection(index, str(item.get("field", "")), str(item.get("value", "")))
        for index, item in enumerate(items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]


def display(value: Any) -> str:
    """A stored value as the officer and the subject read it."""
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


@dataclass(frozen=True)
class CorrectableValue:
    """One correctable field of one of the subject's rows, with its current value."""

    model_label: str
    pk: int
    field: str
    field_name: str
    model_name: str
    current: str

    @property
    def key(self) -> str:
        return f"{self.model_label}:{self.pk}:{self.field}"

    @property
    def description(self) -> str:
        return f"{self.field_name} ({self.model_name} #{self.pk})"


def correctable_values(request: SubjectRequest) -> list[CorrectableValue]:
    """Every value the subject may ask to correct, found through the registry."""
    found = []
    for registration, rows in registry.for_subject(SubjectIdentity.of_request(request)):
        if not registration.correctable:
            continue
        columns = ("pk", *registration.correctable)
        for row in rows.order_by("pk").values_list(*columns)[:MAX_ROWS_PER_MODEL]:
            for name, value in zip(registration.correctable, row[1:], strict=True):
                found.append(
                    CorrectableValue(
                        model_label=registration.label,
                        pk=row[0],
                        field=name,
                        field_name=str(registration.model_field(name).verbose_name),
                        model_name=str(registration.model._meta.verbose_name),
                        current=display(value),
                    )
                )
    return found


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text) if len(word) > 1}


def suggested_keys(item: RequestedCorrection, values: list[CorrectableValue]) -> list[str]:
    """The values the subject most likely means, best first: those whose field's name (in
    English or the active language) shares words with how the subject named it."""
    asked = _words(item.field)
    scored = []
    for value in values:
        with translation.override("en"):
            field = registry.for_label(value.model_label).model_field(value.field)
            english = str(field.verbose_name)
        names = _words(value.field.replace("_", " ")) | _words(english) | _words(value.field_name)
        score = len(asked & names)
        if score:
            scored.append((-score, value.key))
    return [key for _score, key in sorted(scored)]


@dataclass(frozen=True)
class CorrectionDecision:
    """The officer's decision on one requested correction.

    ``targets`` are the keys of the values it applies to (``pos.accountuser:12:phone``), set to
    ``value``; no target means it is declined, and ``reason`` tells the subject why.
    """

    item: int
    targets: tuple[str, ...] = ()
    value: str = ""
    reason: str = ""


@dataclass(frozen=True)
class AppliedValue:
    item: int
    model_label: str
    pk: int
    field: str
    description: str
    before: str
    after: str

    def as_data(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "model": self.model_label,
            "pk": self.pk,
            "field": self.field,
            "before": self.before,
            "after": self.after,
        }


@dataclass
class CorrectionOutcome:
    changed: list[AppliedValue] = field(default_factory=list)
    unchanged: list[AppliedValue] = field(default_factory=list)
    declined: list[tuple[RequestedCorrection, str]] = field(default_factory=list)
    message: str = ""

    def subject_text(self) -> str:
        """What the subject is told, in the active language."""
        lines: list[str] = []
        if self.changed:
            lines.append(_("We corrected:"))
            lines += [
                _("- %(what)s: “%(before)s” is now “%(after)s”.")
                % {"what": c.description, "before": c.before, "after": c.after}
                for c in self.changed
            ]
        if self.unchanged:
            lines.append(_("Already correct, nothing to change:"))
            lines += [
                _("- %(what)s: “%(value)s”.") % {"what": c.description, "value": c.after}
                for c in self.unchanged
            ]
        if self.declined:
            lines.append(_("Not changed:"))
            lines += [
                _("- “%(asked)s” (“%(value)s”): %(reason)s")
                % {"asked": item.field, "value": item.value, "reason": reason}
                for item, reason in self.declined
            ]
        if self.message.strip():
            lines += ["", self.message.strip()]
        return "\n".join(lines)


def _parse_key(key: str) -> tuple[str, int, str]:
    try:
        label, pk, name = key.rsplit(":", 2)
        return label, int(pk), name
    except ValueError:
        raise CorrectionRefused(_("%(key)r does not name a stored value.") % {"key": key}) from None


def _apply_one(
    *, request: SubjectRequest, identity: SubjectIdentity, item: int, key: str, value: str
) -> AppliedValue:
    """Write one approved value; return what it was and is. Raise ``CorrectionRefused``."""
    label, pk, name = _parse_key(key)
    try:
        registration = registry.for_label(label)
    except LookupError:
        raise CorrectionRefused(_("%(key)r does not name a stored value.") % {"key": key}) from None
    if name not in registration.correctable:
        raise CorrectionRefused(
            _("%(field)s of %(model)s cannot be corrected.") % {"field": name, "model": label}
        )
    if registration.read_only:
        raise CorrectionRefused(
            _("The system “%(system)s” is read-only: %(model)s cannot be corrected here.")
            % {"system": registration.system, "model": label}
        )
    rows = registration.rows(identity).filter(pk=pk)
    row = (
        registration.model._base_manager.select_for_update()
        .filter(pk__in=rows.values("pk"))
        .first()
    )
    if row is None:
        raise CorrectionRefused(
            _("%(model)s #%(pk)s is not among the subject's data.") % {"model": label, "pk": pk}
        )
    model_field = registration.model_field(name)
    description = _("%(field)s (%(model)s #%(pk)s)") % {
        "field": model_field.verbose_name,
        "model": registration.model._meta.verbose_name,
        "pk": pk,
    }
    try:
        cleaned = model_field.clean(value.strip(), row)
    except ValidationError as error:
        raise CorrectionRefused(
            _("%(what)s: %(problem)s") % {"what": description, "problem": " ".join(error.messages)}
        ) from error
    before = getattr(row, model_field.attname)
    applied = AppliedValue(
        item, label, pk, name, str(description), display(before), display(cleaned)
    )
    if before == cleaned:
        return applied
    try:
        with transaction.atomic(using=rows.db):
            registration.model._base_manager.filter(pk=row.pk).update(**{name: cleaned})
    except IntegrityError as error:
        raise CorrectionRefused(
            _("%(what)s: “%(value)s” conflicts with another stored record.")
            % {"what": description, "value": display(cleaned)}
        ) from error
    return applied


@transaction.atomic
def correction_apply(
    *,
    request: SubjectRequest,
    actor: Actor,
    decisions: list[CorrectionDecision],
    message: str = "",
    at: datetime | None = None,
) -> CorrectionOutcome:
    """See ``_correction_apply``. The writes in the organisation's own systems' databases are
    each one transaction, committed just before the tracker's: a refusal changes nothing
    anywhere."""
    with contextlib.ExitStack() as systems:
        for alias in _system_databases(decisions):
            systems.enter_context(transaction.atomic(using=alias))
        return _correction_apply(
            request=request, actor=actor, decisions=decisions, message=message, at=at
        )


def _system_databases(decisions: list[CorrectionDecision]) -> list[str]:
    """The systems' databases (other than the tracker's) the decisions write to."""
    aliases = set()
    for decision in decisions:
        for key in decision.targets:
            try:
                model = registry.for_label(key.rsplit(":", 2)[0]).model
            except LookupError:
                continue  # refused with its message by _apply_one
            aliases.add(router.db_for_write(model) or DEFAULT_DB_ALIAS)
    return sorted(aliases - {DEFAULT_DB_ALIAS})


def _correction_apply(
    *,
    request: SubjectRequest,
    actor: Actor,
    decisions: list[CorrectionDecision],
    message: str = "",
    at: datetime | None = None,
) -> CorrectionOutcome:
    """Apply the officer's decisions on every requested correction and complete the request.

    Raise ``CorrectionRefused`` (nothing is written) for a request that is not a verified
    correction request, a decision missing or given twice, a declined item without a reason, a
    target that is not a correctable value of the subject's rows, or a value the field refuses.
    """
    now = at or timezone.now()
    locked = (
        SubjectRequest.objects.select_for_update(of=("self",))
        .select_related("organization", "rule")
        .get(pk=request.pk)
    )
    if locked.request_type != RequestType.CORRECTION:
        raise CorrectionRefused(
            _("Request %(reference)s does not ask for a correction.")
            % {"reference": locked.reference}
        )
    if locked.status not in CORRECTABLE_STATUSES:
        raise CorrectionRefused(
            _("Corrections cannot be applied while request %(reference)s is “%(status)s”.")
            % {"reference": locked.reference, "status": locked.get_status_display()}
        )
    blocker = relationship_blocker(locked)
    if blocker:
        raise CorrectionRefused(blocker)
    items = {item.index: item for item in requested_corrections(locked)}
    decided = [decision.item for decision in decisions]
    if sorted(decided) != sorted(items) or len(set(decided)) != len(decided):
        raise CorrectionRefused(_("Decide on every requested correction, once each."))
    identity = SubjectIdentity.of_request(locked)
    outcome = CorrectionOutcome(message=message)
    for decision in sorted(decisions, key=lambda d: d.item):
        item = items[decision.item]
        if not decision.targets:
            if not decision.reason.strip():
                raise CorrectionRefused(
                    _("Say why “%(asked)s” is not corrected: the subject is told.")
                    % {"asked": item.field}
                )
            outcome.declined.append((item, decision.reason.strip()))
            continue
        for key in dict.fromkeys(decision.targets):
            applied = _apply_one(
                request=locked, identity=identity, item=item.index, key=key, value=decision.value
            )
            (outcome.changed if applied.before != applied.after else outcome.unchanged).append(
                applied
            )
    if locked.status == RequestStatus.VERIFIED:
        locked = request_start(request=locked, actor=actor, at=now)
    event_append(
        request=locked,
        kind=EventKind.NOTE,
        actor=actor,
        at=now,
        note=_(
            "Corrections applied: %(changed)d changed, %(unchanged)d already correct, "
            "%(declined)d declined."
        )
        % {
            "changed": len(outcome.changed),
            "unchanged": len(outcome.unchanged),
            "declined": len(outcome.declined),
        },
        data={
            "correction": {
                "changed": [c.as_data() for c in outcome.changed],
                "unchanged": [c.as_data() for c in outcome.unchanged],
                "declined": [
                    {"item": item.index, "field": item.field, "value": item.value, "reason": reason}
                    for item, reason in outcome.declined
                ],
            }
        },
    )
    with translation.override(locked.language):
        text = outcome.subject_text()
    request_complete(request=locked, actor=actor, outcome=text, at=now)
    request.refresh_from_db()
    return outcome


def correction_evidence(request: SubjectRequest) -> list[dict[str, Any]]:
    """The corrections applied to the request's subject, from its audit trail."""
    events = RequestEvent.objects.filter(request=request, kind=EventKind.NOTE).order_by("sequence")
    return [
        {"event": event.sequence, "at": event.created_at.isoformat(), **event.data["correction"]}
        for event in events
        if isinstance(event.data, dict) and "correction" in event.data
    ]
