"""The audit events of export packages, in the request's hash-chained trail.

Until ``EventKind`` has kinds of its own for exports, they are recorded as notes whose ``data``
names the export event (``{"export": {"event": "built", "package": 7, ...}}``); the subject sees
those meant for them through their public note.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exports.models import ExportPackage
from requests_app.audit import Actor, event_append
from requests_app.models import EventKind, RequestEvent

EXPORT_EVENT_KIND = EventKind.NOTE


def export_event(
    *,
    package: ExportPackage,
    event: str,
    actor: Actor,
    at: datetime,
    note: str = "",
    public_note: str = "",
    data: dict[str, Any] | None = None,
) -> RequestEvent:
    """Append ``event`` about ``package`` to its request's trail; a public note is shown to the
    subject."""
    return event_append(
        request=package.request,
        kind=EXPORT_EVENT_KIND,
        actor=actor,
        at=at,
        note=note,
        public_note=public_note,
        subject_visible=bool(public_note),
        data={
            "export": {"event": event, "package": package.pk, "kind": package.kind, **(data or {})}
        },
    )
