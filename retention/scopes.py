"""What the purge engine may touch: the registry as the engine reads it, anonymous values, and
the scopes (the rows a step may change, re-read in every batch).

A scope is a queryset, evaluated by the database each time a batch runs: for a retention rule,
the rows of the run's organisation whose anchor's trigger started on or before the step's cutoff
and still holds; for an erasure, the rows it found when it started. ``deletable`` narrows a scope
to the rows nothing that stays refers to.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import (
    Count,
    Exists,
    Func,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Concat, Left
from django.db.models.lookups import In
from django.utils.crypto import salted_hmac

from retention.models import PurgeAction, PurgeKind, PurgeStep, PurgeTarget
from subject_data.checks import looks_personal
from subject_data.clocks import clock_for
from subject_data.holds import held_filter
from subject_data.registry import ErasureAction, Registration, registry

# Blocking references: the row they point at must stay while they exist. SET_NULL references are
# cleared instead; DO_NOTHING and SET_DEFAULT are treated as blocking, the safe reading.
_CLEARED = models.SET_NULL


class PurgeError(Exception):
    """A purge cannot be planned or run as asked; the message says why, in one line."""


# --- The registry, seen by the engine ------------------------------------------------------------


def registration_for(label: str) -> Registration:
    """Return the registration of the model called ``label`` (``pos.sale``)."""
    try:
        return registry.for_label(label)
    except LookupError as error:
        raise PurgeError(str(error)) from error


def resolve_path(model: type[models.Model], path: str) -> type[models.Model]:
    """Return the model a ``__`` relation path from ``model`` ends on (``model`` for ``""``)."""
    current = model
    for part in path.split("__") if path else []:
        related = current._meta.get_field(part).related_model
        if related is None or isinstance(related, str):
            raise ImproperlyConfigured(f"{model._meta.label}: {path!r} does not follow relations")
        current = related
    return current


def references_to(model: type[models.Model]) -> list[tuple[type[models.Model], str, Any]]:
    """Every foreign key (or one-to-one) of another installed model that points at ``model``:
    the referring model, the key's field name and its ``on_delete``."""
    found = []
    for relation in model._meta.related_objects:
        if relation.many_to_many or not relation.field.concrete:
            continue
        child = relation.related_model
        if isinstance(child, str) or child is model:
            continue
        found.append((child, relation.field.name, relation.on_delete))
    return found


def deletion_order(models_to_order: Iterable[type[models.Model]]) -> list[type[models.Model]]:
    """Order ``models`` so that each comes before every model of the set it refers to.

    Children first, parents last: the order in which raw deletes can go. Ties keep the given
    order. A cycle cannot be emptied by raw deletes and is refused.
    """
    pending = list(dict.fromkeys(models_to_order))
    members = set(pending)
    ordered: list[type[models.Model]] = []
    while pending:
        for candidate in pending:
            # A model may go once no other pending model still refers to it.
            referrers = {child for child, _name, _rule in references_to(candidate)} & members
            if not referrers & (set(pending) - {candidate}):
                ordered.append(candidate)
                pending.remove(candidate)
                break
        else:
            names = ", ".join(m._meta.label for m in pending)
            raise ImproperlyConfigured(f"the references between {names} form a cycle")
    return ordered


# --- Anonymous values ---------------------------------------------------------------------------


def anonymise_fields(registration: Registration, *, legal_basis: str = "") -> tuple[str, ...]:
    """The fields anonymising a row overwrites: those the registration names (less those its
    ``legal_basis`` keeps, for rows records retained under it refer to), or else every exported
    field that looks personal."""
    erasure = registration.erasure
    if erasure.action == ErasureAction.ANONYMISE:
        if legal_basis and legal_basis == erasure.kept_basis:
            return erasure.fields_under_basis()
        return erasure.fields
    return tuple(
        name
        for name in registration.fields
        if not registration.model_field(name).is_relation
        and looks_personal(registration.model_field(name))
    )


def _anonymous_value(field: models.Field[Any, Any]) -> Any:
    """The value an anonymised row holds in ``field``, as an expression; ``None`` for NULL."""
    if field.null:
        return None
    marker = Concat(Value("erased-"), Cast("pk", models.CharField()))
    if isinstance(field, models.EmailField):
        return Concat(marker, Value("@invalid"), output_field=models.CharField())
    if isinstance(field, models.GenericIPAddressField):
        return Value("0.0.0.0")  # noqa: S104 - a placeholder address, not a bind address  # nosec B104
    if isinstance(field, models.CharField | models.TextField):
        if field.blank:
            return Value("")
        if field.max_length:
            return Left(marker, field.max_length)
        return marker
    raise ImproperlyConfigured(
        f"{field.model._meta.label}.{field.name} cannot be anonymised (not text and not null)"
    )


class KeyedHash(Func):
    """SHA-256 (hex) of the text of an expression, in each database's own function."""

    function = "SHA256"
    output_field = models.CharField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = "encode(sha256(convert_to(%(expressions)s, 'UTF8')), 'hex')"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_mysql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="SHA2(%(expressions)s, 256)", **extra)


ERASED_PREFIX = "erased:"


def organization_key(organization_id: int) -> str:
    """The organisation's key for hashed anonymisation: the same value hashes alike within one
    organisation (records stay linkable) and differently in another; not reversible without
    the project's secret key."""
    return salted_hmac("dsr-anonymise", str(organization_id), algorithm="sha256").hexdigest()


def _strategy_value(field: models.Field[Any, Any], strategy: str, key: str) -> tuple[Any, Q]:
    """The value ``strategy`` writes into ``field`` and the filter of values already written."""
    name = field.name
    if strategy == "null":
        if not field.null:
            raise ImproperlyConfigured(f"{name} cannot be null: choose another strategy")
        return None, Q(**{f"{name}__isnull": True})
    if strategy.startswith("fixed:"):
        text = strategy.removeprefix("fixed:")
        return Value(text), Q(**{name: text})
    if strategy.startswith("shortened:"):
        length = int(strategy.removeprefix("shortened:"))
        return Left(name, length), Q(**{f"{name}__isnull": True}) | Q(
            **{f"{name}__regex": rf"^.{{0,{length}}}$"}
        )
    if strategy == "hash":
        digest: Any = Concat(
            Value(ERASED_PREFIX),
            KeyedHash(Concat(Value(key), Cast(name, models.TextField()))),
            output_field=models.CharField(),
        )
        max_length = getattr(field, "max_length", None)
        if max_length:
            digest = Left(digest, int(max_length))
        return digest, Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__startswith": ERASED_PREFIX})
    raise ImproperlyConfigured(f"unknown anonymisation strategy {strategy!r}")


def anonymous_update(
    model: type[models.Model],
    fields: Iterable[str],
    *,
    strategies: dict[str, str] | None = None,
    organization_id: int | None = None,
) -> tuple[dict[str, Any], Q]:
    """Return the update that anonymises ``fields`` and the filter of rows already anonymous."""
    values: dict[str, Any] = {}
    already = Q()
    key = organization_key(organization_id or 0)
    for name in fields:
        field = model._meta.get_field(name)
        if not isinstance(field, models.Field):
            raise ImproperlyConfigured(f"{model._meta.label}.{name} is not a concrete field")
        strategy = (strategies or {}).get(name)
        if strategy is not None:
            value, done = _strategy_value(field, strategy, key)
            values[name] = value
            already &= done
            continue
        value = _anonymous_value(field)
        values[name] = value
        already &= Q(**{f"{name}__isnull": True}) if value is None else Q(**{name: value})
    return values, already


# --- Scopes: which rows a step may touch, re-read in every batch ---------------------------------


def retention_rows(
    registration: Registration,
    *,
    organization_id: int,
    trigger: str,
    cutoff: date,
    tz: Any,
    whole: bool = False,
    skip_held: bool = True,
) -> QuerySet[Any] | None:
    """The rows of ``registration`` in the organisation whose retention clock for ``trigger``
    started on or before ``cutoff`` and whose trigger still holds, less those a legal hold keeps
    (unless ``skip_held`` is false); ``None`` when the model does not follow ``trigger``.
    ``whole``: the query is for counting over whole tables (planning, previews), not for one
    batch's key range (see ``through``)."""
    if trigger not in registration.retention_triggers:
        return None
    anchor_model = resolve_path(registration.model, registration.retention_anchor)
    clock = clock_for(anchor_model, trigger)
    if clock is None:
        return None
    if not registration.serves(organization_id):
        return None
    organization = registration.in_organization(organization_id)
    due = clock.due(cutoff, tz)
    # Rows under a legal hold on their subject or account are never purged while it lasts.
    held = held_filter(registration, organization_id) if skip_held else None
    unheld = Q() if held is None else ~held
    if not registration.retention_anchor:
        return registration.model._base_manager.filter(due, organization, unheld)
    anchors = anchor_model._base_manager.filter(due)
    path = registration.retention_anchor
    if registry.is_registered(anchor_model):
        anchor_registration = registry.get(anchor_model)
        anchors = anchors.filter(anchor_registration.in_organization(organization_id))
        anchor_organization = anchor_registration.organization_path
        if registration.organization_id is not None or (
            registration.organization_path == f"{path}__{anchor_organization}"
        ):
            # The row's organisation is its anchor's, which the anchors are already limited to:
            # no join to the organisation, so each batch's DELETE stays a single-table statement.
            organization = Q()
    return registration.model._base_manager.filter(
        organization, unheld, through(registration.model, path, anchors, probe=not whole)
    )


def through(
    model: type[models.Model], path: str, targets: QuerySet[Any], *, probe: bool = True
) -> Any:
    """A filter: the rows of ``model`` whose relation ``path`` leads to one of ``targets``.

    One hop is ``venue__in=targets``. Over several hops, the key at the end of the path is read
    per row, one primary-key probe per hop (``(SELECT venue_id FROM orders WHERE order_id =
    order_items.order_id LIMIT 1) IN (targets)``), not joined: on a joined or nested ``IN``
    path PostgreSQL hashes every due row of the middle table in each batch (``bench/external.py``:
    80-190 ms per batch of 5,000 order items, growing with the table), where the probes of one
    batch's rows take a few milliseconds whatever the table's size. Over whole tables
    (``probe=False``: planning, counting) the hash is the better plan: nested ``IN`` subqueries.
    """
    parts = path.split("__")
    if len(parts) == 1:
        return Q(**{f"{path}__in": targets.values("pk")})
    along = [model]
    for part in parts[:-1]:
        along.append(resolve_path(along[-1], part))
    if not probe:
        inner = targets.values("pk")
        for index in range(len(parts) - 1, 0, -1):
            inner = along[index]._base_manager.filter(**{f"{parts[index]}__in": inner}).values("pk")
        return Q(**{f"{parts[0]}__in": inner})
    end: Any = None
    for index in range(len(parts) - 1, 0, -1):
        rows = along[index]._base_manager.filter(pk=OuterRef(parts[index - 1]))
        ends: QuerySet[Any, Any] = (
            rows.values(parts[index])
            if end is None
            else rows.annotate(dsr_end=end).values("dsr_end")
        )
        end = Subquery(ends[:1])
    return In(end, targets.values("pk"))


def _targets(run_id: int, label: str, action: str) -> QuerySet[PurgeTarget]:
    return PurgeTarget.objects.filter(run_id=run_id, model_label=label, action=action)


def step_rows(step: PurgeStep, *, whole: bool = False) -> QuerySet[Any]:
    """The rows ``step`` may touch now (before its key range and cursor are applied); ``whole``
    to count over the whole step (see ``retention_rows``)."""
    run = step.run
    registration = registration_for(step.model_label)
    if run.kind == PurgeKind.RETENTION:
        if run.rule is None or step.cutoff is None:
            raise PurgeError(f"retention run {run.pk} has a step without a rule or a cutoff")
        rows = retention_rows(
            registration,
            organization_id=run.organization_id,
            trigger=run.rule.trigger,
            cutoff=step.cutoff,
            tz=run.organization.tz,
            whole=whole,
        )
        if rows is None:
            raise PurgeError(f"{step.model_label} does not follow {run.rule.trigger}")
        return rows
    if run.kind == PurgeKind.ERASURE:
        # An anonymisation that keeps fields under a legal basis is a step of its own.
        targets = _targets(run.pk, step.model_label, step.action).filter(
            legal_basis=step.legal_basis
        )
    else:
        if run.parent_id is None:
            raise PurgeError(f"legal hold release {run.pk} names no erasure run")
        targets = _targets(run.parent_id, step.model_label, PurgeAction.RETAIN).filter(
            retained_until__lte=run.as_of, released_at__isnull=True
        )
    rows = registration.model._base_manager.filter(
        registration.in_organization(run.organization_id)
    )
    if rows.db != targets.db:
        # The rows live in a system's own database: the targets (in the tracker's) cannot be a
        # subquery there, so ``StepScope`` reads them per batch instead.
        return rows
    return rows.filter(pk__in=targets.values("object_pk"))


def step_targets(step: PurgeStep) -> QuerySet[PurgeTarget] | None:
    """The recorded targets a step of an erasure (or of a hold's end) may touch, when its rows
    live in another database than the targets; ``None`` when ``step_rows`` already holds them."""
    run = step.run
    if run.kind == PurgeKind.RETENTION:
        return None
    registration = registration_for(step.model_label)
    if registration.model._base_manager.db == PurgeTarget.objects.db:
        return None
    if run.kind == PurgeKind.ERASURE:
        return _targets(run.pk, step.model_label, step.action).filter(legal_basis=step.legal_basis)
    return _targets(run.parent_id or 0, step.model_label, PurgeAction.RETAIN).filter(
        retained_until__lte=run.as_of, released_at__isnull=True
    )


class StepScope:
    """The rows a step may touch, narrowed to key ranges: one interface whether the scope is one
    query or rows in a system's database checked against targets kept in the tracker's."""

    def __init__(self, step: PurgeStep, rows: QuerySet[Any] | None = None) -> None:
        self.step = step
        self.rows = step_rows(step) if rows is None else rows
        self.targets = step_targets(step)

    def within(self, lower: int, upper: int) -> QuerySet[Any]:
        """The rows with keys in (``lower``, ``upper``]."""
        rows = self.rows.filter(pk__gt=lower, pk__lte=upper)
        if self.targets is None:
            return rows
        keys = self.targets.filter(object_pk__gt=lower, object_pk__lte=upper)
        return rows.filter(pk__in=list(keys.values_list("object_pk", flat=True)))

    def bounds(self) -> tuple[int | None, int | None, int]:
        """The lowest and highest key in scope and how many there are."""
        if self.targets is None:
            source, key = step_rows(self.step, whole=True), "pk"
        else:
            source, key = self.targets, "object_pk"
        found = source.aggregate(low=Min(key), high=Max(key), count=Count(key))
        return found["low"], found["high"], found["count"]

    def key_at(self, lower: int, upper: int, position: int) -> tuple[int | None, bool]:
        """The key of the ``position``-th row (from 1) after ``lower`` up to ``upper`` and
        ``True``; the last key and ``False`` when there are fewer; ``(None, False)`` for none."""
        if self.targets is None:
            window, key = self.rows.filter(pk__gt=lower, pk__lte=upper), "pk"
        else:
            window = self.targets.filter(object_pk__gt=lower, object_pk__lte=upper)
            key = "object_pk"
        keys = list(window.order_by(key).values_list(key, flat=True)[position - 1 : position])
        if keys:
            return int(keys[0]), True
        last = window.aggregate(last=Max(key))["last"]
        return (None if last is None else int(last)), False


def deletable(
    rows: QuerySet[Any], *, keep_referrers: Iterable[type[models.Model]] = ()
) -> tuple[QuerySet[Any], list[tuple[type[models.Model], str]]]:
    """Narrow ``rows`` to those nothing blocking refers to; return them with the ``SET_NULL``
    references to clear first. References from ``keep_referrers`` (rows held under a legal basis)
    block even when they are ``SET_NULL``: a held row is never changed."""
    keep = set(keep_referrers)
    to_clear: list[tuple[type[models.Model], str]] = []
    for child, field_name, on_delete in references_to(rows.model):
        if on_delete is _CLEARED and child not in keep:
            to_clear.append((child, field_name))
            continue
        rows = rows.exclude(Exists(child._base_manager.filter(**{field_name: OuterRef("pk")})))
    return rows, to_clear
