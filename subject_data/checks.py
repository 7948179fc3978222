"""The start-up check: every project model that looks personal is registered or excluded.

A model in a project app (``policies``, ``requests_app``, ``pos``) with a field whose name or
type looks personal (email, phone, IP address, name, address, birth date...) must be in the
subject-data registry, or be excluded from it with a reason; otherwise ``manage.py check`` (and
so every start of the web server, the worker and the tests) stops with ``subject_data.E001``.
A registered model whose registration leaves such a field out of the export gets a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.core import checks
from django.db import models

from subject_data.registry import Registry, registry

PROJECT_APPS = (
    "outbox",
    "policies",
    "requests_app",
    "exports",
    "retention",
    "effects",
    "announcements",
    "erasure",
    "systems",
    "opendsr",
    "pos",
)

# Words that make a field name look personal, matched against its parts (``customer_phone`` ->
# ``customer``, ``phone``), plus whole names whose parts alone would say too little.
PERSONAL_WORDS = frozenset(
    {
        "email",
        "mail",
        "phone",
        "mobile",
        "ip",
        "name",
        "surname",
        "address",
        "birth",
        "birthday",
        "dob",
        "passport",
        "iban",
        "card",
    }
)
PERSONAL_NAMES = frozenset({"user_agent", "tax_id", "national_id", "location"})
PERSONAL_FIELD_TYPES = (models.EmailField, models.GenericIPAddressField)


def looks_personal(field: models.Field[Any, Any]) -> bool:
    """Whether a field's name or type suggests it holds data about a person."""
    name = field.name.lower()
    return (
        isinstance(field, PERSONAL_FIELD_TYPES)
        or name in PERSONAL_NAMES
        or not PERSONAL_WORDS.isdisjoint(name.split("_"))
    )


def personal_fields(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if looks_personal(f)]


def personal_data_messages(
    models_to_check: Iterable[type[models.Model]], *, within: Registry = registry
) -> list[checks.CheckMessage]:
    """Return an error per personal-looking model ``within`` neither registers nor excludes."""
    messages: list[checks.CheckMessage] = []
    for model in models_to_check:
        if model._meta.proxy or model._meta.abstract:
            continue
        personal = personal_fields(model)
        if not personal or within.excluded_reason(model) is not None:
            continue
        if not within.is_registered(model):
            messages.append(
                checks.Error(
                    f"{model._meta.label} has fields that look personal ({', '.join(personal)}) "
                    "but is not in the subject-data registry.",
                    hint=(
                        "Register it in its app's subject_data module with registry.register(...)"
                        " (how a subject's rows are found, category, fields, erasure), or declare"
                        " registry.exclude(Model, reason=...) if it holds no subject's data."
                    ),
                    obj=model,
                    id="subject_data.E001",
                )
            )
            continue
        left_out = [name for name in personal if name not in within.get(model).fields]
        if left_out:
            messages.append(
                checks.Warning(
                    f"{model._meta.label} is registered but its export leaves out fields that "
                    f"look personal: {', '.join(left_out)}.",
                    hint="Add them to the registration's fields, or say in a comment why not.",
                    obj=model,
                    id="subject_data.W001",
                )
            )
    return messages


def check_personal_data_registered(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """The system check ``SubjectDataConfig.ready`` registers: the project apps' models."""
    configs = app_configs if app_configs is not None else apps.get_app_configs()
    return personal_data_messages(
        model for config in configs if config.label in PROJECT_APPS for model in config.get_models()
    )
