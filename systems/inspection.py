"""A data map checked against the live schema of its database.

``inspect(alias, the_map)`` reads the database's tables, columns, primary keys and references
through Django's introspection (the same code for PostgreSQL, MariaDB/MySQL and SQLite) and
returns the column types the tracker builds its models from, with one line per problem:
unknown tables or columns, a missing or non-integer primary key, references whose types do
not match, tables or columns that look personal and are neither mapped nor excluded with a
reason, a scope value with no rows, and (unless the system is read-only) tables the account
may not change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections

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
# Column names that suggest personal data (the same idea as subject_data.checks.looks_personal).
PERSONAL = re.compile(
    r"(e_?mail|phone|mobile|first_?name|last_?name|full_?name|surname|address|street|birth|"
    r"passport|tax_?(id|no|number)|\bip\b|ip_addr|card|iban|user_?agent)",
    re.IGNORECASE,
)


@dataclass
class Inspection:
    schema: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    writable: dict[str, bool] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _kind(connection: Any, info: Any) -> str:
    try:
        return str(connection.introspection.get_field_type(info.type_code, info))
    except KeyError:
        return "TextField"


def describe(connection: Any, cursor: Any, table: str) -> dict[str, Any]:
    """The columns of ``table``: type (a Django field class name), nullability, sizes."""
    columns: dict[str, Any] = {}
    for info in connection.introspection.get_table_description(cursor, table):
        kind = _kind(connection, info)
        spec: dict[str, Any] = {"type": kind, "null": bool(info.null_ok)}
        if kind == "CharField" and info.internal_size and info.internal_size > 0:
            spec["max_length"] = int(info.internal_size)
        elif kind == "CharField" and info.display_size and info.display_size > 0:
            spec["max_length"] = int(info.display_size)
        if kind == "DecimalField":
            spec["max_digits"] = int(info.precision or 65)
            spec["decimal_places"] = int(info.scale or 0)
        columns[info.name] = spec
    return columns


def inspect(alias: str, the_map: dm.DataMap, *, read_only: bool) -> Inspection:
    """Check ``the_map`` against the database at ``alias`` (see the module docstring)."""
    found = Inspection()
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            live = set(connection.introspection.table_names(cursor))
            excluded = {name for name, _why in the_map.excluded}
            for table in the_map.tables:
                if table.name not in live:
                    found.problems.append(f"tables.{table.name}: no such table in the database")
                    continue
                _check_table(found, connection, cursor, table)
            for name in sorted(live - {t.name for t in the_map.tables} - excluded):
                personal = [c for c in describe(connection, cursor, name) if PERSONAL.search(c)]
                if personal:
                    found.problems.append(
                        f"{name}: looks personal ({', '.join(personal)}); map it or exclude it "
                        "with a reason"
                    )
            for name in sorted(excluded - live):
                found.problems.append(f"excluded.{name}: no such table in the database")
        if not found.problems:
            _check_references(found, the_map)
            _check_triggers(found, the_map)
        if not found.problems and the_map.scope is not None:
            _check_scope(found, connection, the_map.scope)
        if not found.problems and not read_only:
            _check_writable(found, connection, the_map)
    except DatabaseError as error:
        found.problems.append(f"database: {type(error).__name__}: {_first_line(error)}")
    except Exception as error:
        # A driver refusing the URL's options, say. Not the message: it may quote the URL.
        found.problems.append(f"database: cannot connect ({type(error).__name__})")
    return found


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0][:300]


def _check_table(found: Inspection, connection: Any, cursor: Any, table: dm.Table) -> None:
    where = f"tables.{table.name}"
    columns = describe(connection, cursor, table.name)
    found.schema[table.name] = {"columns": columns}
    keys = connection.introspection.get_primary_key_columns(cursor, table.name) or []
    if table.primary_key not in columns:
        found.problems.append(f"{where}.primary_key: no column {table.primary_key}")
    elif keys and keys != [table.primary_key]:
        found.problems.append(
            f"{where}.primary_key: the table's primary key is {', '.join(keys)}, not "
            f"{table.primary_key}"
        )
    elif columns[table.primary_key]["type"] not in _INTEGERS:
        found.problems.append(f"{where}.primary_key: {table.primary_key} is not an integer")
    for column in table.columns:
        if column.name not in columns:
            found.problems.append(f"{where}.columns.{column.name}: no such column")
    mapped = {c.name for c in table.columns} | {table.primary_key} | {c for c, _w in table.ignore}
    for name in columns:
        if name not in mapped and PERSONAL.search(name):
            found.problems.append(
                f"{where}: column {name} looks personal; map it or ignore it with a reason"
            )
    for name, _why in table.ignore:
        if name not in columns:
            found.problems.append(f"{where}.ignore.{name}: no such column")
    for column_name, _strategy in table.erasure.strategies:
        spec = columns.get(column_name)
        if spec is not None and _strategy == "null" and not spec["null"]:
            found.problems.append(
                f"{where}.erasure.columns.{column_name}: the column does not accept null"
            )
        if (
            spec is not None
            and _strategy != "null"
            and spec["type"]
            not in (
                "CharField",
                "TextField",
            )
        ):
            found.problems.append(
                f"{where}.erasure.columns.{column_name}: only text columns take {_strategy}"
            )


def _check_references(found: Inspection, the_map: dm.DataMap) -> None:
    for table in the_map.tables:
        for column_name, (target, key) in table.references.items():
            here = found.schema[table.name]["columns"][column_name]["type"]
            there = found.schema[target]["columns"][key]["type"]
            if (here in _INTEGERS) != (there in _INTEGERS) or (
                here not in _INTEGERS and here != there
            ):
                found.problems.append(
                    f"tables.{table.name}.columns.{column_name}.references: {here} does not "
                    f"match {target}.{key} ({there})"
                )
            column = table.column(column_name)
            nullable = found.schema[table.name]["columns"][column_name]["null"]
            if column is not None and column.on_delete == "set_null" and not nullable:
                found.problems.append(
                    f"tables.{table.name}.columns.{column_name}.on_delete: set_null on a "
                    "column that does not accept null"
                )


def _check_triggers(found: Inspection, the_map: dm.DataMap) -> None:
    for index, trigger in enumerate(the_map.triggers):
        kind = found.schema[trigger.table]["columns"][trigger.column]["type"]
        if kind not in ("DateField", "DateTimeField"):
            found.problems.append(
                f"triggers[{index}].column: {trigger.table}.{trigger.column} is not a date or "
                "date-time"
            )


def _check_scope(found: Inspection, connection: Any, scope: dm.Scope) -> None:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # Names come from the validated map (plain identifiers) and are quoted; the value is a
        # parameter.
        cursor.execute(
            f"SELECT COUNT(*) FROM {quote(scope.table)} WHERE {quote(scope.column)} = %s",  # noqa: S608 - quoted names from the checked map, value a parameter  # nosec B608
            [scope.value],
        )
        (count,) = cursor.fetchone()
    if not count:
        found.problems.append(
            f"scope.value: no row of {scope.table} has {scope.column} = {scope.value!r}"
        )


def _check_writable(found: Inspection, connection: Any, the_map: dm.DataMap) -> None:
    """Whether the account may update and delete in each table (PostgreSQL and MariaDB say so;
    SQLite has no grants: a file the process may write)."""
    for table in the_map.tables:
        found.writable[table.name] = _may_write(connection, table.name)
        if not found.writable[table.name]:
            found.problems.append(
                f"tables.{table.name}: the tracker's account may not update and delete there; "
                "grant it, or mark the system read-only"
            )


def _may_write(connection: Any, table: str) -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT has_table_privilege(%s, 'UPDATE') AND has_table_privilege(%s, 'DELETE')",
                [table, table],
            )
            return bool(cursor.fetchone()[0])
        if connection.vendor == "mysql":
            cursor.execute("SHOW GRANTS")
            grants = " ".join(row[0] for row in cursor.fetchall()).upper()
            if "ALL PRIVILEGES" in grants:
                return True
            return "UPDATE" in grants and "DELETE" in grants
        cursor.execute("PRAGMA query_only")
        return not bool(cursor.fetchone()[0])
