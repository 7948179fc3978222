"""From a checked data map to registered models: one engine for every source.

Each mapped table becomes an unmanaged Django model of its own (isolated) app registry, with the
types the live schema had when the map was checked, its references as foreign keys between
those models, and ``dsr_database`` naming the system's connection (``connections.SystemsRouter``
sends its queries there). The tables are then registered with the subject-data registry like
the models of the sample host, and the triggers become retention clocks: export, correction,
erasure, notices and the purge engine read them without knowing where they live.

Why Django's multiple databases rather than SQLAlchemy Core: the registry, the exporters, the
purge engine and its scopes are written against querysets; building models from the map keeps
one implementation of each (dialects are Django's backends: PostgreSQL, MariaDB/MySQL, SQLite),
where a second query layer would need every right written again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.apps.registry import Apps
from django.db import models
from django.db.migrations.state import AppConfigStub
from django.db.models import Q, QuerySet

from policies.deadlines import Period
from policies.models import DataCategory, PeriodUnit, RetentionTrigger
from subject_data.clocks import TriggerClock, clock_register, clock_unregister, start_of_local_day
from subject_data.registry import (
    ByEmail,
    Erasure,
    Registration,
    Registry,
    SubjectIdentity,
    Via,
)
from systems import datamap as dm

_INTEGERS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
    }
)
_UNITS = {"days": PeriodUnit.CALENDAR_DAYS, "months": PeriodUnit.MONTHS}


@dataclass
class Built:
    """What one system's map registered: to be undone when the map or the system changes."""

    tables: dict[str, type[models.Model]] = field(default_factory=dict)
    registrations: list[Registration] = field(default_factory=list)
    clocks: list[tuple[type[models.Model], str]] = field(default_factory=list)

    def undo(self, registry: Registry) -> None:
        for model in self.tables.values():
            registry.unregister(model)
        for model, trigger in self.clocks:
            clock_unregister(model, trigger)


def model_field(
    spec: dict[str, Any], *, column: str, primary_key: bool = False
) -> models.Field[Any, Any]:
    """A Django field for a live column described by ``spec`` (``inspection.describe``)."""
    kind = spec["type"]
    null = bool(spec.get("null")) and not primary_key
    options: dict[str, Any] = {"db_column": column, "null": null, "blank": null}
    if primary_key:
        options["primary_key"] = True
    if kind in _INTEGERS:
        return models.BigIntegerField(**options)
    if kind == "CharField":
        return models.CharField(max_length=int(spec.get("max_length") or 255), **options)
    if kind == "BooleanField":
        return models.BooleanField(**options)
    if kind == "DateTimeField":
        return models.DateTimeField(**options)
    if kind == "DateField":
        return models.DateField(**options)
    if kind == "DecimalField":
        return models.DecimalField(
            max_digits=int(spec.get("max_digits") or 65),
            decimal_places=int(spec.get("decimal_places") or 0),
            **options,
        )
    if kind == "FloatField":
        return models.FloatField(**options)
    if kind == "JSONField":
        return models.JSONField(**options)
    if kind == "GenericIPAddressField":
        return models.GenericIPAddressField(**options)
    return models.TextField(**options)


def _class_name(table: str) -> str:
    return "T_" + table


def build_models(
    *, app_label: str, label_prefix: str, alias: str, the_map: dm.DataMap, schema: dict[str, Any]
) -> dict[str, type[models.Model]]:
    """One unmanaged model per mapped table, in an app registry of their own."""
    isolated = Apps()
    built: dict[str, type[models.Model]] = {}
    for table in the_map.tables:
        columns = schema[table.name]["columns"]
        meta = type(
            "Meta",
            (),
            {
                "app_label": app_label,
                "db_table": table.name,
                "managed": False,
                "apps": isolated,
                "verbose_name": table.name.replace("_", " "),
                "verbose_name_plural": table.name.replace("_", " "),
            },
        )
        attrs: dict[str, Any] = {
            "__module__": __name__,
            "Meta": meta,
            "dsr_label": f"{label_prefix}.{table.name}",
            "dsr_database": alias,
            "dsr_table": table,
            "id": model_field(
                columns[table.primary_key], column=table.primary_key, primary_key=True
            ),
        }
        for column in table.columns:
            if column.references is not None:
                target = column.references[0]
                nullable = bool(columns[column.name].get("null"))
                attrs[column.name] = models.ForeignKey(
                    f"{app_label}.{_class_name(target)}",
                    on_delete=models.SET_NULL
                    if column.on_delete == "set_null"
                    else models.DO_NOTHING,
                    db_column=column.name,
                    db_constraint=False,
                    null=nullable,
                    blank=nullable,
                    related_name=f"dsr_{table.name}_{column.name}",
                )
            else:
                attrs[column.name] = model_field(columns[column.name], column=column.name)
        built[table.name] = type(_class_name(table.name), (models.Model,), attrs)
    # An app config for the label, as Django's migration state does, so that the registry lists
    # the models and each knows the references to it (``_meta.related_objects``).
    stub = AppConfigStub(app_label)
    stub.apps = isolated
    stub.models = isolated.all_models[app_label]
    isolated.app_configs[app_label] = stub
    isolated.clear_cache()
    return built


def _any_of(conditions: Iterable[tuple[str, tuple[Any, ...]]]) -> Q:
    found = Q()
    for column, values in conditions:
        found |= Q(**{f"{column}__in": list(values)})
    return found


def _period(amount: int, unit: str) -> Period:
    if unit == "years":
        return Period(amount * 12, PeriodUnit.MONTHS)
    return Period(amount, _UNITS[unit])


def _erasure(table: dm.Table) -> Erasure:
    spec = table.erasure
    if spec.action == "anonymise":
        names = tuple(column for column, _strategy in spec.strategies)
        return Erasure.anonymise(*names).with_strategies(dict(spec.strategies))
    if spec.action == "retain" and spec.period is not None:
        return Erasure.retain(legal_basis=spec.legal_basis, period=_period(*spec.period))
    return Erasure.delete()


def _find_order(the_map: dm.DataMap) -> list[dm.Table]:
    """Tables in an order where each comes after the tables its rows are found through."""
    pending = list(the_map.tables)
    ordered: list[dm.Table] = []
    done: set[str] = set()
    while pending:
        for table in pending:
            needs = set()
            if table.find.referenced_by:
                needs.add(table.find.referenced_by[0])
            needs |= {table.references[v][0] for v in table.find.via}
            if needs - {table.name} <= done:
                ordered.append(table)
                done.add(table.name)
                pending.remove(table)
                break
        else:  # the parser refuses loops; keep going rather than spin
            ordered += pending
            break
    return ordered


def register_tables(
    registry: Registry,
    *,
    built: dict[str, type[models.Model]],
    the_map: dm.DataMap,
    organization_id: int,
    system_name: str,
) -> list[Registration]:
    """Register every mapped table with ``registry``; return the registrations."""
    anchor = the_map.triggers[0].table if the_map.triggers else ""
    registrations = []
    for table in _find_order(the_map):
        model = built[table.name]
        find = table.find
        subject: Any
        if find.email:
            subject = ByEmail(find.email)
        elif len(find.via) == 1:
            subject = Via(find.via[0], built[table.references[find.via[0]][0]])
        elif find.via:
            subject = _via_any(registry, model, table, built)
        else:
            subject = _referenced_by(registry, model, table, built)
        triggers = []
        for trigger in the_map.triggers:
            if (
                table.category not in trigger.exempt
                and the_map.path_to(table.name, anchor) is not None
            ):
                triggers.append(RetentionTrigger(trigger.trigger))
        registrations.append(
            registry.register(
                model,
                category=DataCategory(table.category),
                subject=subject,
                fields=[c.name for c in table.columns if c.export],
                correctable=[c.name for c in table.columns if c.correct],
                organization="",
                organization_id=organization_id,
                organization_scope=_scope(the_map, table),
                erasure=_erasure(table),
                portable=table.portable,
                retention_triggers=triggers,
                retention_anchor=(the_map.path_to(table.name, anchor) or "") if triggers else "",
                system=system_name,
                consent=dict(table.consent),
                restriction=table.restriction,
            )
        )
    return registrations


def _scope(the_map: dm.DataMap, table: dm.Table) -> Any:
    scope = the_map.scope
    if scope is None:
        return None
    path = the_map.path_to(table.name, scope.table)
    lookup = f"{path}__{scope.column}" if path else scope.column
    return lambda: Q(**{lookup: scope.value})


def _via_any(
    registry: Registry, model: type[models.Model], table: dm.Table, built: dict[str, Any]
) -> Any:
    def rows(identity: SubjectIdentity) -> QuerySet[Any]:
        found = Q()
        for via in table.find.via:
            parent = registry.get(built[table.references[via][0]])
            found |= Q(**{f"{via}__in": parent.rows(identity).values("pk")})
        return model._default_manager.filter(found)

    return rows


def _referenced_by(
    registry: Registry, model: type[models.Model], table: dm.Table, built: dict[str, Any]
) -> Any:
    source, column = table.find.referenced_by or ("", "")
    condition = _any_of(table.find.where)

    def rows(identity: SubjectIdentity) -> QuerySet[Any]:
        referring = registry.get(built[source]).rows(identity).filter(condition)
        return model._default_manager.filter(pk__in=referring.values(column))

    return rows


def register_clocks(
    *, built: dict[str, type[models.Model]], the_map: dm.DataMap, schema: dict[str, Any]
) -> list[tuple[type[models.Model], str]]:
    """Turn the map's triggers into retention clocks on the anchor table's model."""
    registered = []
    for trigger in the_map.triggers:
        anchor = built[trigger.table]
        is_date = schema[trigger.table]["columns"][trigger.column]["type"] == "DateField"
        clock_register(
            TriggerClock(
                model=anchor,
                trigger=RetentionTrigger(trigger.trigger),
                due=_due(trigger, is_date=is_date),
                started_on=_started_on(trigger, is_date=is_date),
                recipients=_recipients(trigger, built),
            )
        )
        registered.append((anchor, trigger.trigger))
    return registered


def _due(trigger: dm.Trigger, *, is_date: bool) -> Any:
    column, holds = trigger.column, _all_of(trigger.when)

    def due(day: date, tz: ZoneInfo) -> Q:
        # Started on or before ``day`` (local): for "on", the event's local day <= day; for
        # "after", the day after the event <= day, so the event's day < day.
        last = day if trigger.starts == "on" else day - timedelta(days=1)
        if is_date:
            return holds & Q(**{f"{column}__isnull": False, f"{column}__lte": last})
        before = start_of_local_day(last + timedelta(days=1), tz)
        return holds & Q(**{f"{column}__isnull": False, f"{column}__lt": before})

    return due


def _all_of(conditions: Iterable[tuple[str, tuple[Any, ...]]]) -> Q:
    found = Q()
    for column, values in conditions:
        found &= Q(**{f"{column}__in": list(values)})
    return found


def _started_on(trigger: dm.Trigger, *, is_date: bool) -> Any:
    def started_on(row: Any, tz: ZoneInfo) -> date | None:
        for column, values in trigger.when:
            if getattr(row, column) not in values:
                return None
        value = getattr(row, trigger.column)
        if value is None:
            return None
        day = value.astimezone(tz).date() if isinstance(value, datetime) else value
        return day if trigger.starts == "on" else day + timedelta(days=1)

    return started_on


def _recipients(trigger: dm.Trigger, built: dict[str, type[models.Model]]) -> Any:
    notify = trigger.notify

    def recipients(anchor_ids: Iterable[int]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        if notify is None:
            return found
        source = built[notify.table]._default_manager.filter(
            **{f"{notify.via}__in": list(anchor_ids)}
        )
        if notify.where:
            source = source.filter(_any_of(notify.where))
        for anchor_id, email in source.order_by(notify.via, "pk").values_list(
            notify.via, notify.email
        ):
            if email and email.lower() not in found.setdefault(anchor_id, []):
                found[anchor_id].append(email.lower())
        return found

    return recipients
