"""Unsubscribing with the one-click link: no request, no staff step, the same answer for all.

The signed link proves the address (it was only ever sent there), so the withdrawal applies at
once, under a policy version in force that promises unsubscribing at any time
(``RequestTypeRule.applies_on_confirmation``). The answer does not depend on whether the address
has any data, so the endpoint tells nobody who is a customer; the address is emailed what
changed when something did.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from effects.models import ConsentChange, EffectChannel, EffectKind
from effects.services import MARKETING, Effect, effect_apply
from outbox.api import enqueue
from policies.models import Organization, PolicyVersion, RequestType, RequestTypeRule

CONFIRMATION_TASK = "effects.send_unsubscribe_confirmation"
ONE_CLICK_JOB = "one-click unsubscribe"


def one_click_rule(
    organization: Organization, at: datetime | None = None
) -> RequestTypeRule | None:
    """The unsubscribe rule of the version in force, when it promises it at any time."""
    version = PolicyVersion.objects.in_force(at).filter(policy__organization=organization).first()
    if version is None:
        return None
    return version.request_type_rules.filter(
        request_type=RequestType.MARKETING_OPT_OUT, offered=True, applies_on_confirmation=True
    ).first()


@transaction.atomic
def unsubscribe_one_click(
    *, organization: Organization, email: str, at: datetime | None = None
) -> ConsentChange:
    """Withdraw the address's marketing consent in every system and record it; queue the
    confirmation email when something changed. Running it again changes nothing more."""
    record, changes = effect_apply(
        organization=organization,
        email=email,
        effect=Effect(EffectKind.CONSENT_WITHDRAWN, (MARKETING,)),
        channel=EffectChannel.ONE_CLICK,
        actor_label=ONE_CLICK_JOB,
        at=at or timezone.now(),
    )
    if any(change.rows for change in changes):
        enqueue(CONFIRMATION_TASK, record.pk)
    return record
