"""Why the systems' own records stay out of the subject-data registry."""

from subject_data.registry import registry
from systems.models import DataMapVersion, OwnerLink, System, SystemTask

registry.exclude(
    System,
    reason="a system's owner is the business's staff contact for it, not a data subject",
)
registry.exclude(DataMapVersion, reason="data maps describe databases and hold no personal data")
registry.exclude(
    SystemTask,
    reason=(
        "a task records what a system did for a request (its owner is a business contact); the "
        "subject's answer file is part of the request's evidence, kept and purged with it"
    ),
)
registry.exclude(OwnerLink, reason="a link names the business contact it was sent to")
