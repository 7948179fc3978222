"""The project's own models that look personal but are not a subject's data to export or erase."""

from __future__ import annotations

from policies.models import Organization
from requests_app.models import SubjectRequest
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
        SubjectRequest,
        reason=(
            "The request is the tracker's own record of the subject's demand and the evidence "
            "of how it was answered; it is kept for the evidence period and then anonymised by "
            "its own retention job, not exported or erased with the business's data."
        ),
    )
