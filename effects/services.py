"""Applying an effect of a right to the subject's rows in every system, and recording it.

``effect_apply`` writes, for each registration of the organisation that has the field (a consent
field for the purpose, or the restriction marker), the new value on the subject's rows that do not
have it yet: rows found through the registry (``Registration.rows``, never another person's),
changed in batches of ``EFFECT_BATCH_ROWS`` keys, in one transaction per database (the tracker's
and each system's), the systems' committed just before the tracker's, like a correction. What
changed is returned per model and recorded in a ``ConsentChange``.

The request services (``request_effect_apply``, ``restriction_lift``) add the audit event and
complete the request, whose completion email is the subject's confirmation listing what changed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, router, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from effects.models import ConsentChange, EffectChannel, EffectKind
from outbox.api import enqueue
from policies.models import Organization, RequestType
from requests_app.audit import Actor, event_append
from requests_app.models import EventKind, RequestStatus, SubjectRequest
from requests_app.workflow import (
    CompletionBlocked,
    IllegalAction,
    MissingReason,
    request_complete,
    request_start,
)
from subject_data.registry import Registration, SubjectIdentity, registry

APPLY_ON_CONFIRMATION_TASK = "effects.apply_on_confirmation"
CONFIRMATION_JOB = "unsubscribe-on-confirmation"
MARKETING = "marketing"
# Keys changed per statement: a subject's rows are few, a merchant's products many.
EFFECT_BATCH_ROWS = 500
APPLICABLE_STATUSES = (RequestStatus.VERIFIED, RequestStatus.IN_PROGRESS)
EFFECT_TYPES = (
    RequestType.MARKETING_OPT_OUT,
    RequestType.OBJECTION,
    RequestType.RESTRICTION,
)


class EffectRefused(IllegalAction):
    """The effect cannot be applied as asked; nothing was written. The message says why."""


@dataclass(frozen=True)
class ModelChange:
    """The rows of one model the effect changed (or could not change, and why)."""

    model_label: str
    model_name: str
    system: str
    field: str
    field_name: str
    value: bool
    rows: int
    purpose: str = ""
    not_changed: str = ""

    def as_data(self) -> dict[str, Any]:
        return {
            "model": self.model_label,
            "system": self.system,
            "field": self.field,
            "purpose": self.purpose,
            "value": self.value,
            "rows": self.rows,
            "not_changed": self.not_changed,
        }

    def line(self) -> str:
        """One line for the subject, in the active language."""
        if self.not_changed:
            return _("- %(what)s in %(system)s: not changed (%(why)s).") % {
                "what": self.field_name,
                "system": self.system,
                "why": self.not_changed,
            }
        return _("- %(what)s of your %(model)s in %(system)s: set to “%(value)s” (%(rows)d).") % {
            "what": self.field_name,
            "model": self.model_name,
            "system": self.system,
            "value": _("yes") if self.value else _("no"),
            "rows": self.rows,
        }


@dataclass(frozen=True)
class Effect:
    """What to write: ``kind``, and for a withdrawal the purposes it covers."""

    kind: str
    purposes: tuple[str, ...] = ()

    def targets(self, registration: Registration) -> list[tuple[str, str, bool]]:
        """(purpose, field, value) this effect writes on the registration's rows."""
        if self.kind == EffectKind.CONSENT_WITHDRAWN:
            return [
                (purpose, registration.consent_field(purpose), False)
                for purpose in self.purposes
                if registration.consent_field(purpose)
            ]
        if registration.restriction:
            return [("", registration.restriction, self.kind == EffectKind.RESTRICTED)]
        return []


def _registrations(effect: Effect, organization_id: int) -> list[Registration]:
    return [r for r in registry.of_organization(organization_id) if effect.targets(r)]


def _databases(registrations: list[Registration]) -> list[str]:
    aliases = {router.db_for_write(r.model) or DEFAULT_DB_ALIAS for r in registrations}
    return sorted(aliases - {DEFAULT_DB_ALIAS})


def _write(registration: Registration, identity: SubjectIdentity, field: str, value: bool) -> int:
    """Set ``field`` to ``value`` on the subject's rows that differ, in key batches; return how
    many rows changed. Keys are read in batches too, so a large subject stays bounded."""
    rows = registration.rows(identity).exclude(**{field: value})
    manager = registration.model._base_manager
    changed, last = 0, None
    while True:
        batch = rows.order_by("pk")
        if last is not None:
            batch = batch.filter(pk__gt=last)
        keys = list(batch.values_list("pk", flat=True)[:EFFECT_BATCH_ROWS])
        if not keys:
            return changed
        changed += manager.filter(pk__in=keys).update(**{field: value})
        last = keys[-1]


def _apply(effect: Effect, identity: SubjectIdentity) -> list[ModelChange]:
    changes = []
    for registration in _registrations(effect, identity.organization_id):
        for purpose, field, value in effect.targets(registration):
            change = ModelChange(
                model_label=registration.label,
                model_name=str(registration.model._meta.verbose_name_plural),
                system=registration.system_name,
                field=field,
                field_name=str(registration.model_field(field).verbose_name),
                value=value,
                rows=0,
                purpose=purpose,
            )
            if registration.read_only:
                found = registration.rows(identity).exclude(**{field: value}).count()
                if found:
                    why = _("the system is read-only; %(n)d row(s) to change by hand") % {
                        "n": found
                    }
                    changes.append(replace(change, not_changed=why))
                continue
            rows = _write(registration, identity, field, value)
            if rows:
                changes.append(replace(change, rows=rows))
    return changes


@transaction.atomic
def effect_apply(
    *,
    organization: Organization,
    email: str,
    effect: Effect,
    channel: str,
    actor_label: str,
    request: SubjectRequest | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> tuple[ConsentChange, list[ModelChange]]:
    """Apply ``effect`` to the rows of the subject ``email`` in every system of ``organization``
    and record it; return the record and the changes. The systems' databases each commit just
    before the tracker's, so a failure anywhere changes nothing anywhere."""
    identity = SubjectIdentity(organization_id=organization.pk, email=email.lower())
    registrations = _registrations(effect, organization.pk)
    with contextlib.ExitStack() as systems:
        for alias in _databases(registrations):
            systems.enter_context(transaction.atomic(using=alias))
        changes = _apply(effect, identity)
        record = ConsentChange.objects.create(
            organization=organization,
            request=request,
            email=identity.email,
            kind=effect.kind,
            channel=channel,
            purposes=list(effect.purposes),
            changes=[change.as_data() for change in changes],
            actor_label=actor_label[:150],
            reason=reason,
            at=at or timezone.now(),
        )
    return record, changes


def changes_text(effect: Effect, changes: list[ModelChange]) -> str:
    """What the subject is told, in the active language."""
    done = [c for c in changes if not c.not_changed]
    if effect.kind == EffectKind.CONSENT_WITHDRAWN:
        head = _("Your consent is withdrawn for: %(purposes)s.") % {
            "purposes": ", ".join(effect.purposes)
        }
    elif effect.kind == EffectKind.RESTRICTED:
        head = _("Processing of your data is restricted: it is kept, and not used otherwise.")
    else:
        head = _("The restriction of processing of your data is lifted.")
    lines = [head]
    if done:
        lines.append(_("What changed:"))
    else:
        lines.append(_("Nothing needed changing: no stored record said otherwise."))
    lines += [change.line() for change in changes]
    return "\n".join(lines)


def request_effect(request: SubjectRequest, purposes: list[str] | None = None) -> Effect:
    """The effect a request of a right asks for (an objection names its purposes)."""
    if request.request_type == RequestType.MARKETING_OPT_OUT:
        return Effect(EffectKind.CONSENT_WITHDRAWN, (MARKETING,))
    if request.request_type == RequestType.OBJECTION:
        return Effect(EffectKind.CONSENT_WITHDRAWN, tuple(sorted(set(purposes or []))))
    if request.request_type == RequestType.RESTRICTION:
        return Effect(EffectKind.RESTRICTED)
    raise EffectRefused(
        _("Request %(reference)s asks for no effect on consent or restriction.")
        % {"reference": request.reference}
    )


@transaction.atomic
def request_effect_apply(
    *,
    request: SubjectRequest,
    actor: Actor,
    purposes: list[str] | None = None,
    message: str = "",
    at: datetime | None = None,
) -> list[ModelChange]:
    """Apply what an opt-out, objection or restriction request asks for, record it in the audit
    trail and complete the request; the completion email tells the subject what changed.

    Raise ``EffectRefused`` (nothing written) for another request type, a request not verified or
    already closed, or an objection without a purpose the organisation records consent to.
    """
    now = at or timezone.now()
    locked = (
        SubjectRequest.objects.select_for_update(of=("self",))
        .select_related("organization", "rule")
        .get(pk=request.pk)
    )
    if locked.request_type not in EFFECT_TYPES:
        raise EffectRefused(
            _("Request %(reference)s asks for no effect on consent or restriction.")
            % {"reference": locked.reference}
        )
    if locked.status not in APPLICABLE_STATUSES:
        raise EffectRefused(
            _("Request %(reference)s is “%(status)s”: nothing can be applied now.")
            % {"reference": locked.reference, "status": locked.get_status_display()}
        )
    effect = request_effect(locked, purposes)
    known = set(registry.consent_purposes(locked.organization_id))
    if effect.kind == EffectKind.CONSENT_WITHDRAWN and (
        not effect.purposes or not set(effect.purposes) <= known
    ):
        raise EffectRefused(
            _("Choose the purposes the objection covers, among: %(known)s.")
            % {"known": ", ".join(sorted(known)) or _("none recorded")}
        )
    staff = actor.user is not None
    record, changes = effect_apply(
        organization=locked.organization,
        email=locked.email,
        effect=effect,
        channel=EffectChannel.STAFF if staff else EffectChannel.REQUEST,
        actor_label=actor.label or str(actor.kind),
        request=locked,
        at=now,
    )
    if locked.status == RequestStatus.VERIFIED:
        locked = request_start(request=locked, actor=actor, at=now)
    event_append(
        request=locked,
        kind=EventKind.NOTE,
        actor=actor,
        at=now,
        note=_("%(effect)s: %(rows)d row(s) changed in %(models)d model(s).")
        % {
            "effect": EffectKind(effect.kind).label,
            "rows": record.rows_changed,
            "models": len([c for c in changes if c.rows]),
        },
        data={"effect": {"record": record.pk, "kind": effect.kind, "changes": record.changes}},
    )
    with translation.override(locked.language):
        text = changes_text(effect, changes)
        if message.strip():
            text += "\n\n" + message.strip()
    try:
        request_complete(request=locked, actor=actor, outcome=text, at=now)
    except CompletionBlocked as blocked:
        # Other systems (a mailbox only a person searches) still owe their answer: the data
        # changed here stays changed, the subject is told so now, and the request completes
        # when the last system answers.
        event = event_append(
            request=locked,
            kind=EventKind.NOTE,
            actor=actor,
            at=now,
            note=str(blocked),
            public_note=text,
            subject_visible=True,
        )
        if locked.emails_subject:
            enqueue(
                "requests_app.send_request_email", locked.pk, "status_update", event_id=event.pk
            )
    request.refresh_from_db()
    return changes


def on_request_verified(request: SubjectRequest) -> None:
    """Called in the transaction that verifies a request: an unsubscribe under a policy that
    promises it at any time is applied at once (queued, so the click never waits on a system)."""
    if request.rule.applies_on_confirmation and request.request_type in EFFECT_TYPES:
        enqueue(APPLY_ON_CONFIRMATION_TASK, request.pk)


def apply_on_confirmation(*, request_id: int) -> bool:
    """Apply a confirmed unsubscribe with no staff step; return False when it no longer applies
    (applied already, withdrawn). Safe to run again."""
    request = SubjectRequest.objects.select_related("rule", "organization").get(pk=request_id)
    if not request.rule.applies_on_confirmation or request.status not in APPLICABLE_STATUSES:
        return False
    try:
        request_effect_apply(request=request, actor=Actor.system(CONFIRMATION_JOB))
    except EffectRefused:
        return False
    return True


@transaction.atomic
def restriction_lift(
    *, request: SubjectRequest, actor: Actor, reason: str, at: datetime | None = None
) -> list[ModelChange]:
    """Lift the restriction a completed restriction request set: an officer's decision, with the
    reason the subject is told (before processing starts again). Recorded in the request's audit
    trail and in a ``ConsentChange``; the subject is emailed."""
    if not reason.strip():
        raise MissingReason(_("Lifting a restriction needs the reason the subject is told."))
    locked = (
        SubjectRequest.objects.select_for_update(of=("self",))
        .select_related("organization")
        .get(pk=request.pk)
    )
    if (
        locked.request_type != RequestType.RESTRICTION
        or locked.status != RequestStatus.COMPLETED
        or not restriction_is_set(locked)
    ):
        raise EffectRefused(
            _("Request %(reference)s set no restriction that is still in place.")
            % {"reference": locked.reference}
        )
    now = at or timezone.now()
    effect = Effect(EffectKind.RESTRICTION_LIFTED)
    record, changes = effect_apply(
        organization=locked.organization,
        email=locked.email,
        effect=effect,
        channel=EffectChannel.STAFF,
        actor_label=actor.label,
        request=locked,
        reason=reason.strip(),
        at=now,
    )
    with translation.override(locked.language):
        public = changes_text(effect, changes) + "\n\n" + reason.strip()
    event = event_append(
        request=locked,
        kind=EventKind.NOTE,
        actor=actor,
        at=now,
        note=_("Restriction lifted: %(rows)d row(s) changed.") % {"rows": record.rows_changed},
        public_note=public,
        subject_visible=True,
        data={"effect": {"record": record.pk, "kind": effect.kind, "changes": record.changes}},
    )
    if locked.emails_subject:
        enqueue("requests_app.send_request_email", locked.pk, "status_update", event_id=event.pk)
    return changes


def restriction_is_set(request: SubjectRequest) -> bool:
    """Whether the request's restriction was applied and not lifted since."""
    last = (
        ConsentChange.objects.filter(
            request=request, kind__in=[EffectKind.RESTRICTED, EffectKind.RESTRICTION_LIFTED]
        )
        .order_by("-at", "-pk")
        .values_list("kind", flat=True)
        .first()
    )
    return last == EffectKind.RESTRICTED


def effects_evidence(request: SubjectRequest) -> list[dict[str, Any]]:
    """The effects applied for the request, for its evidence record."""
    return [
        {
            "at": change.at.isoformat(),
            "effect": change.kind,
            "through": change.channel,
            "by": change.actor_label,
            "purposes": change.purposes,
            "changes": change.changes,
            "reason": change.reason,
        }
        for change in ConsentChange.objects.filter(request=request).order_by("at", "pk")
    ]
