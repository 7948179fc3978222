"""Why the systems' own records stay out of the subject-data registry."""

from subject_data.registry import registry
from systems.models import DataMapVersion, System

registry.exclude(
    System,
    reason="a system's owner is the business's staff contact for it, not a data subject",
)
registry.exclude(DataMapVersion, reason="data maps describe databases and hold no personal data")
