"""How a registered model's rows become records of ``data.json`` and rows of their category's CSV.

One rule for both files, so they always agree:

- integers (and foreign keys, as the referenced row's id) are JSON numbers;
- booleans are JSON ``true``/``false``, and ``true``/``false`` in CSV;
- decimals are strings in plain notation (``"12000.00"``), never floats;
- date-times are ISO 8601 in UTC with microseconds and the offset
  (``2026-01-31T09:30:00.000000+00:00``), dates ``2026-01-31``;
- everything else is a string; a missing value is ``null`` in JSON and an empty cell in CSV;
- in CSV, a string that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
  ``'`` in front, so a spreadsheet shows it as text instead of running it as a formula (OWASP's
  advice against CSV injection); ``data.json`` keeps the exact value. Only string columns: a
  negative number (``-5``, or ``-5.00`` of a decimal) is a value and is written as is.

A JSON record is ``{"model": "pos.sale", "id": 7, "fields": {...}}``, one per line. A category's
CSV (UTF-8, ``\\n`` line ends) has the columns ``model``, ``id`` and then every field of the
category's models in registration order; a row leaves the other models' columns empty. Text and
JSON cells are always quoted, their quotes doubled (RFC 4180); other values never are.

Two writers follow that rule. On PostgreSQL the database writes each row's JSON record and CSV
line itself (``json_build_object``, ``to_char``...), as fast as it formats ``COPY`` output, and
Python only joins the lines of each chunk: per-row Python work would cost several times the
database's. Elsewhere (the embedded SQLite) Python formats the values. The tests hold the two to
the same output, the CSV byte for byte.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import islice
from typing import Any

from django.db import connections, models
from django.db.models import F, Func, QuerySet

from subject_data.registry import Registration

# What a spreadsheet takes for the start of a formula in a CSV cell (OWASP, "CSV Injection").
FORMULA_START = frozenset("=+-@\t\r")
FORMULA_GUARD = "'"


def spreadsheet_safe(text: str) -> str:
    """Return ``text`` as a CSV cell's value that no spreadsheet runs as a formula."""
    return FORMULA_GUARD + text if text[:1] in FORMULA_START else text


class ColumnKind(enum.Enum):
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DECIMAL = "decimal"
    DATETIME = "datetime"
    DATE = "date"
    JSON = "json"
    STRING = "string"


_INTEGER_TYPES = frozenset(
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
_KINDS = {
    "BooleanField": ColumnKind.BOOLEAN,
    "DecimalField": ColumnKind.DECIMAL,
    "DateTimeField": ColumnKind.DATETIME,
    "DateField": ColumnKind.DATE,
    "FloatField": ColumnKind.FLOAT,
    "JSONField": ColumnKind.JSON,
}


def column_kind(field: models.Field[Any, Any]) -> ColumnKind:
    """How a field's values are written; a foreign key is written as the referenced key."""
    if field.is_relation:
        target = getattr(field, "target_field", None)
        return column_kind(target) if target is not None else ColumnKind.STRING
    internal = field.get_internal_type()
    if internal in _INTEGER_TYPES:
        return ColumnKind.INTEGER
    return _KINDS.get(internal, ColumnKind.STRING)


def category_csv_columns(registrations: Sequence[Registration]) -> list[str]:
    """The columns after ``model`` of a category's CSV: ``id``, then each field name once."""
    columns = ["id"]
    for registration in registrations:
        columns.extend(name for name in registration.fields if name not in columns)
    return columns


def csv_header(columns: Sequence[str]) -> str:
    return ",".join(["model", *columns]) + "\n"


@dataclass(frozen=True)
class Batch:
    """A chunk of rows written out: its JSON records (``,\\n``-separated) and its CSV lines."""

    json: str
    csv: str
    count: int


def _batches(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


class RowWriter:
    """Writes one registration's rows for one category's CSV columns."""

    def __init__(self, registration: Registration, csv_columns: Sequence[str]) -> None:
        self.registration = registration
        self.label = registration.label
        self.columns = registration.columns
        self.kinds = tuple(column_kind(registration.model_field(n)) for n in self.columns)
        self.csv_columns = tuple(csv_columns)

    def batches(self, queryset: QuerySet[Any], chunk_size: int) -> Iterator[Batch]:
        raise NotImplementedError

    @staticmethod
    def for_database(
        vendor: str, registration: Registration, csv_columns: Sequence[str]
    ) -> RowWriter:
        if vendor == "postgresql":
            return DatabaseRowWriter(registration, csv_columns)
        return PythonRowWriter(registration, csv_columns)


# --- PostgreSQL writes the records --------------------------------------------------------------


def _sql_literal(text: str) -> str:
    """``text`` as an SQL string literal, with ``%`` doubled for the driver's placeholders."""
    return "'" + text.replace("'", "''").replace("%", "%%") + "'"


# Values that need formatting are written as text by the inner query, once for both files: ISO
# date-times and dates, plain decimals, and other non-text values as JSON writes them (a plain
# cast would add an IP address's mask length).
_TEXT_SQL: dict[ColumnKind, str] = {
    ColumnKind.DATETIME: (
        "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
    ),
    ColumnKind.DATE: "to_char(%(expressions)s, 'YYYY-MM-DD')",
    ColumnKind.DECIMAL: "(%(expressions)s)::text",
    ColumnKind.STRING: "(to_json(%(expressions)s) #>> '{}')",
}
# Each kind's (text-ready) value as JSON, given the column ({}); a missing value becomes null.
_JSON_SQL: dict[ColumnKind, str] = {
    ColumnKind.INTEGER: "COALESCE({}::text, 'null')",
    ColumnKind.BOOLEAN: "COALESCE({}::text, 'null')",
    ColumnKind.FLOAT: "COALESCE(to_json({})::text, 'null')",
    ColumnKind.DECIMAL: "COALESCE('\"' || {} || '\"', 'null')",
    ColumnKind.DATETIME: "COALESCE('\"' || {} || '\"', 'null')",
    ColumnKind.DATE: "COALESCE('\"' || {} || '\"', 'null')",
    ColumnKind.JSON: "COALESCE({}::text, 'null')",
    ColumnKind.STRING: "COALESCE(to_json({})::text, 'null')",
}
# A string cell's ' in front when it starts like a formula (spreadsheet_safe, in SQL).
_FORMULA_GUARD_SQL = (
    "CASE WHEN left({0}, 1) IN ("
    + ", ".join(f"chr({ord(character)})" for character in sorted(FORMULA_START))
    + f") THEN {_sql_literal(FORMULA_GUARD)} ELSE '' END"
)
# Each kind's value as a CSV cell; text is always quoted, its quotes doubled (RFC 4180), and a
# string that starts like a formula guarded (a JSON value's text is a number, or starts with {,
# [, ", t, f or n, none of them a formula).
_CSV_SQL: dict[ColumnKind, str] = {
    ColumnKind.INTEGER: "COALESCE({}::text, '')",
    ColumnKind.BOOLEAN: "COALESCE({}::text, '')",
    ColumnKind.FLOAT: "COALESCE({}::text, '')",
    ColumnKind.DECIMAL: "COALESCE({}, '')",
    ColumnKind.DATETIME: "COALESCE({}, '')",
    ColumnKind.DATE: "COALESCE({}, '')",
    ColumnKind.JSON: "COALESCE('\"' || replace({}::text, '\"', '\"\"') || '\"', '')",
    ColumnKind.STRING: (
        "COALESCE('\"' || " + _FORMULA_GUARD_SQL + " || replace({0}, '\"', '\"\"') || '\"', '')"
    ),
}


class DatabaseRowWriter(RowWriter):
    """PostgreSQL writes each row's JSON record and CSV line; Python joins them per chunk.

    The ORM's query selects the subject's rows, narrow and sorted by primary key, with the values
    that need formatting already as text; the outer query (``OFFSET 0`` keeps the ORM's a
    subquery) builds the two lines, so the database sorts the columns, not the formatted lines.
    Rows stream through a server-side cursor, ``chunk_size`` at a time.
    """

    def _selected(self, index: int) -> F | Func:
        name, kind = self.columns[index], self.kinds[index]
        field = self.registration.model_field(name)
        if kind in _TEXT_SQL and not isinstance(field, models.CharField | models.TextField):
            return Func(F(name), template=_TEXT_SQL[kind], output_field=models.TextField())
        return F(name)

    def _record_sql(self) -> str:
        parts = [_sql_literal('{"model":' + json.dumps(self.label) + ',"id":'), "export_rows.c0"]
        parts.append(_sql_literal(',"fields":{'))
        for index, name in enumerate(self.columns[1:], start=1):
            key = ("," if index > 1 else "") + json.dumps(name) + ":"
            value = _JSON_SQL[self.kinds[index]].format(f"export_rows.c{index}")
            parts += [_sql_literal(key), value]
        parts.append(_sql_literal("}}"))
        return " || ".join(parts)

    def _csv_sql(self) -> str:
        cells = [_sql_literal(self.label)]
        for name in self.csv_columns:
            if name in self.columns:
                index = self.columns.index(name)
                cells.append(_CSV_SQL[self.kinds[index]].format(f"export_rows.c{index}"))
            else:
                cells.append("''")
        return " || ',' || ".join(cells)

    def statement(self, queryset: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
        """Return the SQL and parameters that select ``(json record, csv line)`` per row."""
        narrow = queryset.order_by("pk").values(
            **{f"c{index}": self._selected(index) for index in range(len(self.columns))}
        )
        inner, params = narrow.query.sql_with_params()
        # Only names from the models' metadata and escaped literals are interpolated; every
        # value reaches the database as a parameter of the ORM's query.
        sql = (
            f"SELECT {self._record_sql()}, {self._csv_sql()} "  # noqa: S608 - names from metadata, values are parameters  # nosec B608
            f"FROM ({inner} OFFSET 0) AS export_rows ORDER BY export_rows.c0"
        )
        return sql, tuple(params)

    def batches(self, queryset: QuerySet[Any], chunk_size: int) -> Iterator[Batch]:
        sql, params = self.statement(queryset)
        connection = connections[queryset.db]
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(chunk_size):
                yield Batch(
                    json=",\n".join([record for record, _line in batch]),
                    csv="".join([f"{line}\n" for _record, line in batch]),
                    count=len(batch),
                )


# --- Python writes the records ------------------------------------------------------------------


def _iso_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _iso_date(value: date) -> str:
    return value.isoformat()


def _plain_decimal(value: Decimal) -> str:
    return format(value, "f")


_FOR_JSON: dict[ColumnKind, Callable[[Any], Any]] = {
    ColumnKind.DECIMAL: _plain_decimal,
    ColumnKind.DATETIME: _iso_datetime,
    ColumnKind.DATE: _iso_date,
    ColumnKind.STRING: str,
}


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class PythonRowWriter(RowWriter):
    """Python formats the values: for databases without PostgreSQL's functions.

    Its CSV lines are the SQL writer's, byte for byte: text and JSON quoted, other values bare.
    """

    def __init__(self, registration: Registration, csv_columns: Sequence[str]) -> None:
        super().__init__(registration, csv_columns)
        self._encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
        position = {name: index for index, name in enumerate(self.columns)}
        # For each CSV column, the index of its value in the row (one past the end: empty) and
        # its kind (None: empty).
        self._csv_sources = [position.get(name, len(self.columns)) for name in self.csv_columns]
        kinds = [*self.kinds, None]
        self._csv_kinds = [kinds[index] for index in self._csv_sources]

    def _json_ready(self, row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for index, kind in enumerate(self.kinds):
            if values[index] is not None and kind in _FOR_JSON:
                values[index] = _FOR_JSON[kind](values[index])
        return values

    def _csv_cell(self, value: Any, kind: ColumnKind | None) -> str:
        """A JSON-ready value as a CSV cell, as ``_CSV_SQL`` writes it."""
        if value is None:
            return ""
        if kind is ColumnKind.STRING:
            return _quoted(spreadsheet_safe(value))
        if kind is ColumnKind.JSON:
            return _quoted(self._encoder.encode(value))
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def batches(self, queryset: QuerySet[Any], chunk_size: int) -> Iterator[Batch]:
        rows = queryset.order_by("pk").values_list(*self.columns).iterator(chunk_size=chunk_size)
        names = self.columns[1:]
        sources = list(zip(self._csv_sources, self._csv_kinds, strict=True))
        for batch in _batches(rows, chunk_size):
            records, lines = [], []
            for row in batch:
                values = self._json_ready(row)
                fields = dict(zip(names, values[1:], strict=True))
                records.append(
                    self._encoder.encode({"model": self.label, "id": values[0], "fields": fields})
                )
                padded = [*values, None]
                cells = [self._csv_cell(padded[index], kind) for index, kind in sources]
                lines.append(",".join([self.label, *cells]) + "\n")
            yield Batch(json=",\n".join(records), csv="".join(lines), count=len(batch))
