"""The data map of a SQL system, read and checked on its own (the format: ``docs/data-map.md``).

``parse(text)`` returns a ``DataMap`` or raises ``DataMapError`` listing every problem, one line
each (``tables.orders.find.via[0]: 'venue' is not a reference column of orders``). Nothing here
touches a database: the map is checked against the live schema by ``systems.inspection``.

Names of tables and columns are accepted only as plain SQL identifiers (letters, digits,
underscores), so that quoting them is enough to make them safe in any dialect.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from policies.models import DataCategory, RetentionTrigger

FORMAT = 1
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
_STRATEGY = re.compile(r"^(null|hash|fixed:.{0,200}|shortened:[1-9][0-9]{0,3})\Z", re.DOTALL)
_PERIOD = re.compile(r"^([1-9][0-9]{0,3}) (days|months|years)\Z")
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,39}\Z")
_CLOCK_TRIGGERS = (RetentionTrigger.ACCOUNT_DELETED, RetentionTrigger.LICENCE_OVERDUE)


class DataMapError(ValueError):
    """The map is not valid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Column:
    name: str
    export: bool = True
    correct: bool = False
    references: tuple[str, str] | None = None  # (table, column)
    on_delete: str = "restrict"


@dataclass(frozen=True)
class Find:
    """How a table's subject rows are found: exactly one of the three ways."""

    email: str = ""
    via: tuple[str, ...] = ()
    referenced_by: tuple[str, str] | None = None  # (table, reference column)
    where: tuple[tuple[str, tuple[Any, ...]], ...] = ()


@dataclass(frozen=True)
class Erasure:
    action: str  # delete, anonymise, retain
    strategies: tuple[tuple[str, str], ...] = ()  # (column, strategy)
    legal_basis: str = ""
    period: tuple[int, str] | None = None  # (amount, "days" | "months" | "years")


@dataclass(frozen=True)
class Table:
    name: str
    primary_key: str
    category: str
    find: Find
    columns: tuple[Column, ...]
    erasure: Erasure
    portable: bool = True
    parent: str = ""
    ignore: tuple[tuple[str, str], ...] = ()
    # (purpose, column): the column holding the subject's consent to the purpose.
    consent: tuple[tuple[str, str], ...] = ()
    # The column marking a row whose processing is restricted ("" for none).
    restriction: str = ""

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def references(self) -> dict[str, tuple[str, str]]:
        return {c.name: c.references for c in self.columns if c.references}


@dataclass(frozen=True)
class Notify:
    table: str
    email: str
    via: str
    where: tuple[tuple[str, tuple[Any, ...]], ...] = ()


@dataclass(frozen=True)
class Trigger:
    trigger: str
    table: str
    column: str
    starts: str  # "on" | "after"
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    exempt: tuple[str, ...] = ()
    notify: Notify | None = None


@dataclass(frozen=True)
class Scope:
    table: str
    column: str
    value: str


@dataclass(frozen=True)
class DataMap:
    tables: tuple[Table, ...]
    triggers: tuple[Trigger, ...] = ()
    scope: Scope | None = None
    excluded: tuple[tuple[str, str], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def parent_chain(self, name: str) -> list[tuple[Table, str]]:
        """The (table, parent column) hops from ``name`` up its parents, in order."""
        chain: list[tuple[Table, str]] = []
        seen = {name}
        table = self.table(name)
        while table.parent:
            chain.append((table, table.parent))
            target = table.references[table.parent][0]
            if target in seen:
                break
            seen.add(target)
            table = self.table(target)
        return chain

    def path_to(self, name: str, target: str) -> str | None:
        """The ``__`` relation path from table ``name`` to table ``target`` through parents
        (``""`` when they are the same table; ``None`` when the parents never reach it)."""
        if name == target:
            return ""
        parts = []
        for table, column in self.parent_chain(name):
            parts.append(column)
            if table.references[column][0] == target:
                return "__".join(parts)
        return None


class _Reader:
    """Collects problems while reading, so one run reports them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.problem(where, "must be a table of keys")
            return {}
        return value

    def text(self, value: Any, where: str, *, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.problem(where, "must be a non-empty text")
            return ""
        return value

    def identifier(self, value: Any, where: str) -> str:
        name = self.text(value, where)
        if name and not IDENTIFIER.match(name):
            self.problem(where, f"{name!r} is not a plain table or column name")
            return ""
        return name

    def flag(self, value: Any, where: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(where, "must be true or false")
            return default
        return value

    def unknown(self, data: dict[str, Any], allowed: set[str], where: str) -> None:
        for key in sorted(set(data) - allowed):
            self.problem(f"{where}.{key}" if where else key, "unknown key")

    def where(self, value: Any, where: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
        found = []
        for column, values in self.mapping(value, where).items():
            self.identifier(column, f"{where}.{column}")
            if not isinstance(values, list) or not values:
                self.problem(f"{where}.{column}", "must be a non-empty list of values")
                continue
            if any(not isinstance(v, str | int | bool) for v in values):
                self.problem(f"{where}.{column}", "values must be texts, numbers or booleans")
                continue
            found.append((column, tuple(values)))
        return tuple(found)

    def reference(self, value: Any, where: str) -> tuple[str, str] | None:
        text = self.text(value, where)
        table, dot, column = text.partition(".")
        if not dot or not IDENTIFIER.match(table) or not IDENTIFIER.match(column):
            if text:
                self.problem(where, f"{text!r} must be TABLE.COLUMN")
            return None
        return table, column


def parse(text: str) -> DataMap:
    """Read and check a data map; raise ``DataMapError`` with every problem found."""
    reader = _Reader()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DataMapError([f"TOML: {error}"]) from None
    reader.unknown(data, {"format", "scope", "tables", "triggers", "excluded"}, "")
    if data.get("format") != FORMAT:
        reader.problem("format", f"must be {FORMAT}")
    tables = [
        _table(reader, name, body)
        for name, body in reader.mapping(data.get("tables", {}), "tables").items()
    ]
    if not tables:
        reader.problem("tables", "map at least one table")
    scope = None
    if "scope" in data:
        body = reader.mapping(data["scope"], "scope")
        reader.unknown(body, {"table", "column", "value"}, "scope")
        value = body.get("value")
        if not isinstance(value, str | int) or str(value) == "":
            reader.problem("scope.value", "must be the organisation's value (a text or number)")
        scope = Scope(
            reader.identifier(body.get("table"), "scope.table"),
            reader.identifier(body.get("column"), "scope.column"),
            str(value),
        )
    triggers_data = data.get("triggers", [])
    if not isinstance(triggers_data, list):
        reader.problem("triggers", "must be a list ([[triggers]])")
        triggers_data = []
    triggers = [
        _trigger(reader, f"triggers[{i}]", reader.mapping(body, f"triggers[{i}]"))
        for i, body in enumerate(triggers_data)
    ]
    excluded = tuple(
        (reader.identifier(name, f"excluded.{name}"), reader.text(why, f"excluded.{name}"))
        for name, why in reader.mapping(data.get("excluded", {}), "excluded").items()
    )
    if reader.problems:
        raise DataMapError(reader.problems)
    found = DataMap(tuple(tables), tuple(triggers), scope, excluded, raw=data)
    _check_links(reader, found)
    if reader.problems:
        raise DataMapError(reader.problems)
    return found


def _table(reader: _Reader, name: str, body: Any) -> Table:
    where = f"tables.{name}"
    reader.identifier(name, where)
    body = reader.mapping(body, where)
    reader.unknown(
        body,
        {
            "primary_key",
            "category",
            "find",
            "columns",
            "erasure",
            "portable",
            "parent",
            "ignore",
            "consent",
            "restriction",
        },
        where,
    )
    category = body.get("category")
    if category not in DataCategory.values:
        reader.problem(f"{where}.category", f"must be one of {', '.join(DataCategory.values)}")
    columns = []
    for column, spec in reader.mapping(body.get("columns", {}), f"{where}.columns").items():
        columns.append(_column(reader, f"{where}.columns.{column}", column, spec))
    if not columns:
        reader.problem(f"{where}.columns", "map at least one column")
    primary_key = reader.identifier(body.get("primary_key"), f"{where}.primary_key")
    if any(c.name == "id" for c in columns) and primary_key != "id":
        reader.problem(f"{where}.columns.id", "a column named id must be the primary key")
    if any(c.name == primary_key for c in columns):
        reader.problem(f"{where}.columns.{primary_key}", "the primary key is not listed")
    ignore = tuple(
        (reader.identifier(c, f"{where}.ignore.{c}"), reader.text(why, f"{where}.ignore.{c}"))
        for c, why in reader.mapping(body.get("ignore", {}), f"{where}.ignore").items()
    )
    return Table(
        name=name,
        primary_key=primary_key,
        category=str(category),
        find=_find(reader, f"{where}.find", reader.mapping(body.get("find"), f"{where}.find")),
        columns=tuple(columns),
        erasure=_erasure(reader, f"{where}.erasure", body.get("erasure")),
        portable=reader.flag(body.get("portable"), f"{where}.portable", True),
        parent=reader.identifier(body["parent"], f"{where}.parent") if "parent" in body else "",
        ignore=ignore,
        consent=_consent(reader, f"{where}.consent", body.get("consent", {})),
        restriction=(
            reader.identifier(body["restriction"], f"{where}.restriction")
            if "restriction" in body
            else ""
        ),
    )


def _consent(reader: _Reader, where: str, value: Any) -> tuple[tuple[str, str], ...]:
    found = []
    for purpose, column in reader.mapping(value, where).items():
        if not _PURPOSE.match(purpose):
            reader.problem(f"{where}.{purpose}", "a purpose is lower-case letters, digits and _")
            continue
        found.append((purpose, reader.identifier(column, f"{where}.{purpose}")))
    return tuple(sorted(found))


def _column(reader: _Reader, where: str, name: str, spec: Any) -> Column:
    reader.identifier(name, where)
    spec = reader.mapping(spec, where)
    reader.unknown(spec, {"export", "correct", "references", "on_delete"}, where)
    references = (
        reader.reference(spec["references"], f"{where}.references")
        if "references" in spec
        else None
    )
    on_delete = spec.get("on_delete", "restrict")
    if on_delete not in ("restrict", "set_null"):
        reader.problem(f"{where}.on_delete", "must be restrict or set_null")
    if "on_delete" in spec and references is None:
        reader.problem(f"{where}.on_delete", "only a reference has on_delete")
    correct = reader.flag(spec.get("correct"), f"{where}.correct", False)
    export = reader.flag(spec.get("export"), f"{where}.export", True)
    if correct and (references or not export):
        reader.problem(f"{where}.correct", "only an exported column that is not a reference")
    return Column(name, export, correct, references, str(on_delete))


def _find(reader: _Reader, where: str, body: dict[str, Any]) -> Find:
    reader.unknown(body, {"email", "via", "referenced_by", "where"}, where)
    ways = [key for key in ("email", "via", "referenced_by") if key in body]
    if len(ways) != 1:
        reader.problem(where, "say one of email, via or referenced_by")
        return Find()
    if "where" in body and ways != ["referenced_by"]:
        reader.problem(f"{where}.where", "only referenced_by takes a where")
    if ways == ["email"]:
        return Find(email=reader.identifier(body["email"], f"{where}.email"))
    if ways == ["via"]:
        via = body["via"]
        if isinstance(via, str):
            via = [via]
        if not isinstance(via, list) or not via:
            reader.problem(f"{where}.via", "must list reference columns")
            return Find()
        return Find(via=tuple(reader.identifier(v, f"{where}.via[{i}]") for i, v in enumerate(via)))
    return Find(
        referenced_by=reader.reference(body["referenced_by"], f"{where}.referenced_by"),
        where=reader.where(body.get("where", {}), f"{where}.where"),
    )


def _erasure(reader: _Reader, where: str, value: Any) -> Erasure:
    body = reader.mapping(value, where)
    reader.unknown(body, {"action", "columns", "legal_basis", "period"}, where)
    action = body.get("action")
    if action == "delete":
        return Erasure("delete")
    if action == "anonymise":
        strategies = []
        for column, strategy in reader.mapping(body.get("columns"), f"{where}.columns").items():
            reader.identifier(column, f"{where}.columns.{column}")
            if not isinstance(strategy, str) or not _STRATEGY.match(strategy):
                reader.problem(
                    f"{where}.columns.{column}",
                    "must be null, hash, fixed:TEXT or shortened:N",
                )
                continue
            strategies.append((column, strategy))
        if not strategies:
            reader.problem(f"{where}.columns", "name the columns to anonymise")
        return Erasure("anonymise", strategies=tuple(strategies))
    if action == "retain":
        basis = reader.text(body.get("legal_basis"), f"{where}.legal_basis")
        match = _PERIOD.match(str(body.get("period", "")))
        if not match:
            reader.problem(f"{where}.period", "must be like '60 months' (days, months, years)")
            return Erasure("retain", legal_basis=basis)
        return Erasure("retain", legal_basis=basis, period=(int(match[1]), match[2]))
    reader.problem(f"{where}.action", "must be delete, anonymise or retain")
    return Erasure("delete")


def _trigger(reader: _Reader, where: str, body: dict[str, Any]) -> Trigger:
    reader.unknown(
        body, {"trigger", "table", "column", "starts", "when", "exempt", "notify"}, where
    )
    trigger = body.get("trigger")
    if trigger not in _CLOCK_TRIGGERS:
        reader.problem(
            f"{where}.trigger", f"must be one of {', '.join(str(t) for t in _CLOCK_TRIGGERS)}"
        )
    starts = body.get("starts", "on")
    if starts not in ("on", "after"):
        reader.problem(f"{where}.starts", "must be on or after")
    exempt = body.get("exempt", [])
    if not isinstance(exempt, list) or any(e not in DataCategory.values for e in exempt):
        reader.problem(
            f"{where}.exempt", f"must list categories of {', '.join(DataCategory.values)}"
        )
        exempt = []
    notify = None
    if "notify" in body:
        spec = reader.mapping(body["notify"], f"{where}.notify")
        reader.unknown(spec, {"table", "email", "via", "where"}, f"{where}.notify")
        notify = Notify(
            table=reader.identifier(spec.get("table"), f"{where}.notify.table"),
            email=reader.identifier(spec.get("email"), f"{where}.notify.email"),
            via=reader.identifier(spec.get("via"), f"{where}.notify.via"),
            where=reader.where(spec.get("where", {}), f"{where}.notify.where"),
        )
    return Trigger(
        trigger=str(trigger),
        table=reader.identifier(body.get("table"), f"{where}.table"),
        column=reader.identifier(body.get("column"), f"{where}.column"),
        starts=str(starts),
        when=reader.where(body.get("when", {}), f"{where}.when"),
        exempt=tuple(exempt),
        notify=notify,
    )


def _check_links(reader: _Reader, found: DataMap) -> None:
    """Check what refers to what: references, finders, parents, scope and triggers."""
    names = {t.name: t for t in found.tables}
    for table in found.tables:
        where = f"tables.{table.name}"
        for column in table.columns:
            if column.references is None:
                continue
            target, key = column.references
            if target not in names:
                reader.problem(
                    f"{where}.columns.{column.name}.references", f"{target} is not mapped"
                )
            elif names[target].primary_key != key:
                reader.problem(
                    f"{where}.columns.{column.name}.references",
                    f"{target}.{key} is not the primary key of {target}",
                )
        refs = table.references
        for index, via in enumerate(table.find.via):
            if via not in refs:
                reader.problem(f"{where}.find.via[{index}]", f"{via!r} is not a reference column")
        if table.find.email and table.column(table.find.email) is None:
            reader.problem(f"{where}.find.email", f"{table.find.email!r} is not a mapped column")
        if table.find.referenced_by:
            source, column_name = table.find.referenced_by
            source_table = names.get(source)
            ref = source_table.references.get(column_name) if source_table else None
            if source_table is None:
                reader.problem(f"{where}.find.referenced_by", f"{source} is not mapped")
            elif ref is None or ref[0] != table.name:
                reader.problem(
                    f"{where}.find.referenced_by",
                    f"{source}.{column_name} is not a reference to {table.name}",
                )
            else:
                for column_name, _values in table.find.where:
                    if source_table.column(column_name) is None:
                        reader.problem(
                            f"{where}.find.where.{column_name}", f"not a mapped column of {source}"
                        )
        erasure_columns = [c for c, _s in table.erasure.strategies]
        for column_name in erasure_columns:
            erased = table.column(column_name)
            if erased is None or erased.references:
                reader.problem(
                    f"{where}.erasure.columns.{column_name}",
                    "must be a mapped column that is not a reference",
                )
        markers = [(f"consent.{purpose}", column) for purpose, column in table.consent]
        if table.restriction:
            markers.append(("restriction", table.restriction))
        for key, column_name in markers:
            marked = table.column(column_name)
            if marked is None or marked.references:
                reader.problem(
                    f"{where}.{key}", f"{column_name!r} must be a mapped column, not a reference"
                )
        parent = table.parent or _default_parent(table)
        if parent and parent not in refs:
            reader.problem(f"{where}.parent", f"{parent!r} is not a reference column")
            parent = ""
        object.__setattr__(table, "parent", parent)
    for table in found.tables:
        if _found_through(names, table.name, table.name, start=True):
            reader.problem(f"tables.{table.name}.find", "the finders form a loop")
    if found.scope is not None:
        scope = found.scope
        if scope.table not in names:
            reader.problem("scope.table", f"{scope.table} is not mapped")
        else:
            if names[scope.table].column(scope.column) is None:
                reader.problem("scope.column", f"not a mapped column of {scope.table}")
            for table in found.tables:
                if not reader.problems and found.path_to(table.name, scope.table) is None:
                    reader.problem(
                        f"tables.{table.name}.parent",
                        f"its parents never reach the scope table {scope.table}",
                    )
    for index, trigger in enumerate(found.triggers):
        where = f"triggers[{index}]"
        anchor = names.get(trigger.table)
        if anchor is None:
            reader.problem(f"{where}.table", f"{trigger.table} is not mapped")
            continue
        if anchor.column(trigger.column) is None:
            reader.problem(f"{where}.column", f"not a mapped column of {trigger.table}")
        for column_name, _values in trigger.when:
            if anchor.column(column_name) is None:
                reader.problem(
                    f"{where}.when.{column_name}", f"not a mapped column of {anchor.name}"
                )
        if trigger.notify is not None:
            notify = trigger.notify
            notified = names.get(notify.table)
            if notified is None:
                reader.problem(f"{where}.notify.table", f"{notify.table} is not mapped")
            else:
                if notified.column(notify.email) is None:
                    reader.problem(
                        f"{where}.notify.email", f"not a mapped column of {notified.name}"
                    )
                if notified.references.get(notify.via, ("", ""))[0] != anchor.name:
                    reader.problem(f"{where}.notify.via", f"not a reference to {anchor.name}")
                for column_name, _values in notify.where:
                    if notified.column(column_name) is None:
                        reader.problem(
                            f"{where}.notify.where.{column_name}",
                            f"not a mapped column of {notified.name}",
                        )
    anchors = {t.table for t in found.triggers}
    if len(anchors) > 1:
        reader.problem("triggers", "every trigger must start on the same table (the anchor)")
    for name in {n for n, _why in found.excluded} & set(names):
        reader.problem(f"excluded.{name}", "is also mapped")


def _default_parent(table: Table) -> str:
    if table.find.via:
        return table.find.via[0]
    return next(iter(table.references), "")


def _found_through(
    names: dict[str, Table], start_name: str, target: str, *, start: bool = False
) -> bool:
    """Whether finding ``start_name``'s rows needs ``target``'s rows first (a loop when
    ``start``: whether a table needs itself)."""
    seen: set[str] = set()
    pending = [start_name]
    first = True
    while pending:
        name = pending.pop()
        if name == target and not (first and start):
            return True
        first = False
        if name in seen or name not in names:
            continue
        seen.add(name)
        table = names[name]
        if table.find.referenced_by:
            pending.append(table.find.referenced_by[0])
        for via in table.find.via:
            ref = table.references.get(via)
            if ref:
                pending.append(ref[0])
    return False
