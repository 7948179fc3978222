"""Give a system a data map, check it against the live database, and preview a subject's rows.

``map_add`` keeps every accepted map as a new version (a map that does not parse is refused with
every problem, and nothing is stored); ``map_check`` checks the latest version against the live
schema and, when it passes, records the schema the tracker builds its models from: from then on
every right acts through that version. ``preview`` counts, per table, the subject's rows and
what erasure would do to them, without changing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import Max
from django.utils import timezone

from policies.models import DataCategory
from subject_data.registry import ErasureAction, SubjectIdentity, registry
from systems import datamap as dm
from systems import loading
from systems.connections import ConnectionUnavailable, connect
from systems.inspection import Inspection, inspect
from systems.models import DataMapVersion, System, SystemKind


class SystemProblem(Exception):
    """A system cannot be used as asked; the message says why in one line."""


def system_find(name: str) -> System:
    """The system whose short name (or name) is ``name``."""
    found = System.objects.filter(slug=name).first() or System.objects.filter(name=name).first()
    if found is None:
        raise SystemProblem(f"no system called {name!r}")
    return found


@transaction.atomic
def map_add(system: System, source: str, *, user: Any = None) -> DataMapVersion:
    """Store ``source`` as the system's next map version; raise ``DataMapError`` if invalid."""
    if system.kind != SystemKind.SQL:
        raise SystemProblem(f"{system.name} is not an external database; it has no data map")
    dm.parse(source)
    locked = System.objects.select_for_update().get(pk=system.pk)
    latest = locked.maps.aggregate(last=Max("number"))["last"] or 0
    return DataMapVersion.objects.create(
        system=locked, number=latest + 1, source=source, created_by=user
    )


def map_check(system: System, version: DataMapVersion | None = None) -> Inspection:
    """Check ``version`` (the latest by default) against the live database; record the result."""
    version = version or system.maps.order_by("-number").first()
    if version is None:
        raise SystemProblem(f"{system.name} has no data map yet")
    the_map = dm.parse(version.source)
    try:
        alias = connect(f"check_{system.pk}", system.connection_env)
    except ConnectionUnavailable as error:
        result = Inspection(problems=[f"connection: {error}"])
    else:
        result = inspect(alias, the_map, read_only=system.read_only)
    now = timezone.now()
    if result.ok:
        version.schema, version.checked_at = result.schema, now
        version.check_report = f"{now.isoformat()}: the map matches the database"
    else:
        version.check_report = "\n".join([f"{now.isoformat()}:", *result.problems])
    version.save(update_fields=["schema", "checked_at", "check_report"])
    loading.invalidate()
    return result


@dataclass(frozen=True)
class PreviewLine:
    """One table: the subject's rows and what erasure would do to them."""

    label: str
    table: str
    category: str
    rows: int
    action: str
    detail: str

    @property
    def action_label(self) -> str:
        return str(ErasureAction(self.action).label)

    @property
    def category_label(self) -> str:
        return str(DataCategory(self.category).label)


def preview(system: System, email: str) -> list[PreviewLine]:
    """Per table of ``system``, the rows of the subject with ``email`` and what erasure does."""
    models = loading.built_models(system.pk)
    if not models:
        raise SystemProblem(f"{system.name} has no checked data map: run systems check first")
    identity = SubjectIdentity(organization_id=system.organization_id, email=email)
    lines = []
    for registration in registry.of_organization(system.organization_id):
        if registration.model not in models.values():
            continue
        try:
            count = registration.rows(identity).count()
        except DatabaseError as error:
            raise SystemProblem(f"{system.name}: {str(error).splitlines()[0][:300]}") from None
        erasure = registration.erasure
        if erasure.action == ErasureAction.ANONYMISE:
            detail = ", ".join(f"{name}: {how}" for name, how in erasure.strategies) or ", ".join(
                erasure.fields
            )
        elif erasure.action == ErasureAction.RETAIN and erasure.period is not None:
            detail = f"{erasure.legal_basis} ({erasure.period.amount} {erasure.period.unit})"
        else:
            detail = ""
        lines.append(
            PreviewLine(
                label=registration.label,
                table=registration.model._meta.db_table,
                category=str(registration.category),
                rows=count,
                action=str(erasure.action),
                detail=detail,
            )
        )
    return lines


def systems_evidence(request: Any) -> list[dict[str, Any]]:
    """The evidence record's ``systems`` section: every system of the request's organisation,
    with the map version the tracker acts through (its SHA-256), or why it acts on none."""
    found = []
    for system in System.objects.filter(organization_id=request.organization_id).order_by("name"):
        current = system.current_map()
        found.append(
            {
                "name": system.name,
                "slug": system.slug,
                "kind": system.kind,
                "owner": system.owner,
                "active": system.active,
                "read_only": system.read_only,
                "data_map": (
                    {
                        "version": current.number,
                        "sha256": current.sha256,
                        "checked_at": current.checked_at.isoformat()
                        if current.checked_at
                        else None,
                    }
                    if current is not None
                    else None
                ),
            }
        )
    return found
