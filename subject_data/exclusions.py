"""The project's own models that look personal but are not a subject's data to export or erase."""

from __future__ import annotations

from outbox.models import OutboxMessage
from policies.models import Organization
from requests_app.models import LegalHold, Representation, SubjectRequest
from subject_data.registry import registry


def register() -> None:
    """Exclude the tracker's own records that look personal (called by ``ready()``)."""
    registry.exclude(
        Organization,
        reason=(
            "The controller itself (a business and its public contact address), not a data subject."
        ),
    )
    registry.exclude(
        OutboxMessage,
        reason=(
            "Tasks waiting for the broker: ids, and for a request for new links the address it "
            "is for; deleted OUTBOX_KEEP_SENT_DAYS after they were sent."
        ),
    )
    registry.exclude(
        SubjectRequest,
        reason=(
            "The request is the tracker's own record of the subject's demand and the evidence "
            "of how it was answered; it is kept for the evidence period and then anonymised by "
            "its own retention job, not exported or erased with the business's data."
        ),
    )
    registry.exclude(
        Representation,
        reason=(
            "Part of the request: who it is about and the filer's proof of authority, kept and "
            "anonymised with the request."
        ),
    )
    registry.exclude(
        LegalHold,
        reason=(
            "The tracker's record of a legal hold (who placed it, why, when it ended): evidence "
            "of why data was kept, not the subject's data."
        ),
    )
