"""Keep the registry in step with the systems and their checked maps, in every process.

``refresh`` (a loader of the subject-data registry) compares each active SQL system's current
map with what this process built, at most once a second (at once after a change saved in this
process), and builds or drops the tables' models, registrations and clocks. A system whose
connection cannot be set up here is still registered, on a backend that refuses every query with
the reason: its work waits and is retried rather than being skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from subject_data.registry import registry
from systems import datamap as dm
from systems.building import Built, build_models, register_clocks, register_tables
from systems.connections import ConnectionUnavailable, connect

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 1.0

_lock = threading.RLock()
_built: dict[int, tuple[tuple[Any, ...], Built]] = {}
_state = {"checked": 0.0, "table": False}


def invalidate() -> None:
    _state["checked"] = 0.0


def _table_exists() -> bool:
    if not _state["table"]:
        _state["table"] = (
            "systems_system" in connections[DEFAULT_DB_ALIAS].introspection.table_names()
        )
    return bool(_state["table"])


def refresh(*, force: bool = False) -> None:
    """Build what changed since the last look (see the module docstring)."""
    now = time.monotonic()
    if not force and now - _state["checked"] < INTERVAL_SECONDS:
        return
    with _lock:
        _state["checked"] = now
        if not _table_exists():
            return
        wanted = {system.pk: (system, version) for system, version in _current()}
        for pk in list(_built):
            if pk not in wanted or _built[pk][0] != _fingerprint(*wanted[pk]):
                _built.pop(pk)[1].undo(registry)
        for pk, (system, version) in wanted.items():
            if pk not in _built:
                _built[pk] = (_fingerprint(system, version), build(system, version))


def _current() -> list[tuple[Any, Any]]:
    from systems.models import DataMapVersion, System, SystemKind

    versions = {}
    for version in DataMapVersion.objects.filter(
        checked_at__isnull=False, system__kind=SystemKind.SQL, system__active=True
    ).order_by("system_id", "number"):
        versions[version.system_id] = version
    systems = System.objects.filter(pk__in=versions).select_related("organization")
    return [(system, versions[system.pk]) for system in systems]


def _fingerprint(system: Any, version: Any) -> tuple[Any, ...]:
    return (
        version.pk,
        system.slug,
        system.name,
        system.organization_id,
        system.connection_env,
        system.read_only,
    )


def build(system: Any, version: Any) -> Built:
    """Register the tables of ``system`` as its map ``version`` describes them."""
    alias = system.alias
    try:
        connect(alias, system.connection_env)
    except ConnectionUnavailable as error:
        logger.warning("system %s is unavailable: %s", system.slug, error)
        connections.settings[alias] = connections.configure_settings(
            {
                "default": {},
                alias: {
                    "ENGINE": "systems.unavailable",
                    "DSR_UNAVAILABLE": str(error),
                    "DSR_SYSTEM": system.name,
                },
            }
        )[alias]
    the_map = dm.parse(version.source)
    built = Built()
    built.tables = build_models(
        app_label=f"dsr_system_{system.pk}",
        label_prefix=system.slug,
        alias=alias,
        the_map=the_map,
        schema=version.schema,
    )
    for model in built.tables.values():
        model.dsr_read_only = system.read_only  # type: ignore[attr-defined]
        model.dsr_system = system.name  # type: ignore[attr-defined]
    try:
        built.registrations = register_tables(
            registry,
            built=built.tables,
            the_map=the_map,
            organization_id=system.organization_id,
            system_name=system.name,
        )
        built.clocks = register_clocks(built=built.tables, the_map=the_map, schema=version.schema)
    except Exception:
        built.undo(registry)
        raise
    return built


def built_models(system_pk: int) -> dict[str, Any]:
    """The models built for a system in this process (after a refresh)."""
    refresh(force=True)
    entry = _built.get(system_pk)
    return dict(entry[1].tables) if entry else {}
