"""Advance notices of retention purges: created once per rule, row, purge date and threshold, then
emailed to the people the host's clock names (the account's owners)."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from outbox.api import enqueue
from policies.deadlines import add_period
from policies.models import (
    RetentionRule,
    RetentionTrigger,
)
from retention.models import RetentionNotice
from retention.rules import (
    latest_start,
    rule_coverage,
    rule_period,
)
from retention.scopes import (
    resolve_path,
)
from subject_data.clocks import clock_for
from subject_data.registry import model_label, registry

logger = logging.getLogger(__name__)


# --- Advance notices ------------------------------------------------------------------------------


def notices_create_due(*, rule: RetentionRule, as_of: date) -> list[int]:
    """Claim the advance notices due on ``as_of`` and queue their emails; return their ids.

    A row whose purge date is ahead gets, of the thresholds it has passed (``[30, 7]``: 30 and
    7 days before), the latest one, once: a job that missed a few days sends one notice, not
    several, and a threshold already sent is never sent again.
    """
    thresholds = sorted({int(days) for days in rule.notice_days_before})
    if not thresholds:
        return []
    organization = rule.version.policy.organization
    tz, country = organization.tz, organization.country
    period = rule_period(rule)
    horizon = as_of + timedelta(days=thresholds[-1])
    created: list[int] = []
    for anchor_model in {
        resolve_path(c.registration.model, c.registration.retention_anchor)
        for c in rule_coverage(rule)
    }:
        clock = clock_for(anchor_model, rule.trigger)
        if clock is None:  # rule_coverage only lists models whose anchor has this clock
            continue
        anchors = anchor_model._base_manager.filter(
            clock.due(latest_start(period, horizon, country=country), tz)
        ).exclude(clock.due(latest_start(period, as_of, country=country), tz))
        if registry.is_registered(anchor_model):
            anchors = anchors.filter(registry.get(anchor_model).in_organization(organization.pk))
        label = model_label(anchor_model)
        for anchor in anchors.order_by("pk").iterator(chunk_size=500):
            started = clock.started_on(anchor, tz)
            if started is None:
                continue
            purge_on = add_period(started, period, country=country)
            passed = [d for d in thresholds if purge_on - timedelta(days=d) <= as_of < purge_on]
            if not passed:
                continue
            with transaction.atomic():
                notice, new = RetentionNotice.objects.get_or_create(
                    rule=rule,
                    anchor_label=label,
                    anchor_pk=anchor.pk,
                    purge_on=purge_on,
                    days_before=min(passed),
                    defaults={"created_at": timezone.now()},
                )
                if new:
                    enqueue("retention.send_retention_notice", notice.pk)
                    created.append(notice.pk)
    return created


def retention_notice_send(*, notice_id: int) -> bool:
    """Email the notice to the row's owners; return False when it was sent already or the row
    is gone. Recorded as sent with the number of recipients."""
    notice = (
        RetentionNotice.objects.select_related("rule__version__policy__organization")
        .filter(pk=notice_id, sent_at__isnull=True)
        .first()
    )
    if notice is None:
        return False
    rule = notice.rule
    organization = rule.version.policy.organization
    anchor_model = registry.model_for(notice.anchor_label)
    anchor = anchor_model._base_manager.filter(pk=notice.anchor_pk).first()
    clock = clock_for(anchor_model, rule.trigger)
    if anchor is None or clock is None:
        RetentionNotice.objects.filter(pk=notice.pk).update(sent_at=timezone.now(), recipients=0)
        return False
    recipients = clock.recipients([anchor.pk]).get(anchor.pk, [])
    context = {
        "organization": organization,
        "rule": rule,
        "trigger": RetentionTrigger(rule.trigger).label,
        "period": rule_period(rule),
        "anchor": anchor,
        "notice": notice,
        "exemptions": list(rule.exemptions.all()),
        "licence_overdue": rule.trigger == RetentionTrigger.LICENCE_OVERDUE,
    }
    with translation.override(organization.default_language):
        subject = " ".join(
            render_to_string("emails/erasure/retention_notice_subject.txt", context).split()
        )
        text = render_to_string("emails/erasure/retention_notice.txt", context)
        html = render_to_string("emails/erasure/retention_notice.html", context)
    for address in recipients:
        message = EmailMultiAlternatives(
            subject=subject,
            body=text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
            reply_to=[organization.contact_email],
        )
        message.attach_alternative(html, "text/html")
        message.send()
    RetentionNotice.objects.filter(pk=notice.pk).update(
        sent_at=timezone.now(), recipients=len(recipients)
    )
    return True
