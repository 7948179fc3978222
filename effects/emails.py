"""The confirmation of a one-click unsubscribe, listing what changed, in the organisation's
language. (An unsubscribe made by request is confirmed by the request's completion email.)"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from effects.models import ConsentChange
from subject_data.registry import registry


def unsubscribe_confirmation_send(*, change_id: int) -> bool:
    """Send it once; return False when the record is gone or changed nothing."""
    change = ConsentChange.objects.select_related("organization").filter(pk=change_id).first()
    if change is None or not change.rows_changed:
        return False
    organization = change.organization
    with translation.override(organization.default_language):
        rows = []
        for entry in change.changes:
            if not entry.get("rows"):
                continue
            try:
                registration = registry.for_label(entry["model"])
            except LookupError:
                name, field = entry["model"], entry["field"]
            else:
                name = str(registration.model._meta.verbose_name_plural)
                field = str(registration.model_field(entry["field"]).verbose_name)
            rows.append({**entry, "name": name, "field_name": field})
        context = {"organization": organization, "change": change, "rows": rows}
        subject = " ".join(
            render_to_string("emails/effects/unsubscribed_subject.txt", context).split()
        )
        text = render_to_string("emails/effects/unsubscribed.txt", context)
        html = render_to_string("emails/effects/unsubscribed.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[change.email],
        reply_to=[organization.contact_email],
    )
    message.attach_alternative(html, "text/html")
    message.send()
    return True
