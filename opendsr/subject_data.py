"""Why the OpenDSR models stay out of the subject-data registry."""

from __future__ import annotations

from opendsr.models import Controller, OpenDSRRequest
from subject_data.registry import registry

registry.exclude(
    Controller,
    reason="A business that forwards its customers' requests to us, not a data subject.",
)
registry.exclude(
    OpenDSRRequest,
    reason=(
        "Like the subject request it is linked to, the tracker's own record of what a controller "
        "asked and when; evidence, not the business's data about the subject."
    ),
)
