"""The Clopos demo POS database: a SQL system with its own schema, for the data-map engine.

The sample POS of ``pos.models`` lives in the tracker's own database; Clopos's POS, like a real
customer's, lives in a database of its own whose tables and columns the tracker reaches only
through the data map ``seeds/systems/clopos.toml``. ``create_schema`` makes that schema and
``populate`` fills it, on SQLite, PostgreSQL or MariaDB/MySQL, named by a URL read as the
tracker reads a system's (``sqlite:////ABSOLUTE/PATH``, ``sqlite:///PATH/IN/THE/PROJECT``,
``postgres://...``, ``mysql://...``):

- ``venues`` (the merchants, with the retention dates ``closed_at`` and ``paid_until``) and
  everything that hangs off them: ``staff``, ``terminals``, ``sign_ins``, ``staff_actions``,
  ``menu_items``, ``orders``, ``order_items``, the subscription ``bills`` Clopos issues and their
  ``bill_payments``, and support ``tickets``; plus ``audit_log``, the operator's own log with no
  customer data. Integer keys, real foreign keys.
- **Two tenants** share the database (``venues.tenant_code``): Clopos's venues and a reseller's.
  The reseller's first owner has the same email as the demo subject, so a finder that ignores
  the scope is caught.
- **The demo subject** ``owner@clopos-demo.az`` owns Clopos's first venue (staff, terminals,
  menu, 40 orders, bills) and also manages its second venue, where the address is written with
  a capital O (emails match ignoring case).
- **The retention cases**: Clopos's first six venues are, in order, current (the demo venue),
  current (the one the subject manages), closed 60 days ago, licence paid until 7 months ago,
  closed 10 days ago and licence paid until 2 months ago; later venues are mostly current.
- **Deterministic**: the same seed and ``now`` give the same rows (ids are assigned here).
- **Time**: timestamps are UTC: ``timestamptz`` on PostgreSQL, naive UTC ``DATETIME`` on MySQL
  and SQLite (text there, as Django writes it); ``paid_until`` is a date, local to Asia/Baku.

One schema text serves every dialect; only the key, reference and timestamp types and MySQL's
table options differ. Plain DB-API drivers: sqlite3, psycopg 3, PyMySQL (imported only for
MySQL URLs).
"""

from __future__ import annotations

import calendar
import random
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import SplitResult, unquote, urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings

from pos.demo_catalogues import (
    CATALOGUES,
    CENT,
    CLOSURE_TOPIC,
    COMPANY_WORDS,
    COUNTRIES,
    DEVICE_NAMES,
    SUPPORT_TOPICS,
    USER_AGENTS,
    Standing,
    ascii_slug,
    between,
    digits,
    money,
)
from pos.models import BusinessType, StaffAction

CLOPOS_TENANT = "clopos-az"
OTHER_TENANT = "tapkassa-az"
DEMO_OWNER_EMAIL = "owner@clopos-demo.az"
DEMO_OWNER_NAME = "Aysel Quliyeva"
DEMO_VENUE_NAME = "Aysel's Kitchen"
DEMO_ORDERS = 40
TIME_ZONE = ZoneInfo("Asia/Baku")
DEFAULT_VENUES = 20
BATCH_SIZE = 1_000

# Every table in creation order (parents first) with its primary key.
PRIMARY_KEYS: dict[str, str] = {
    "venues": "venue_id",
    "staff": "staff_id",
    "terminals": "terminal_id",
    "sign_ins": "sign_in_id",
    "staff_actions": "action_id",
    "menu_items": "menu_item_id",
    "orders": "order_id",
    "order_items": "item_id",
    "bills": "bill_id",
    "bill_payments": "payment_id",
    "tickets": "ticket_id",
    "audit_log": "log_id",
}
TABLES = tuple(PRIMARY_KEYS)

SCHEMA = """
CREATE TABLE venues (
    venue_id {id},
    tenant_code VARCHAR(40) NOT NULL,
    venue_name VARCHAR(200) NOT NULL,
    business_type VARCHAR(20) NOT NULL,
    tax_number VARCHAR(20),
    street VARCHAR(200) NOT NULL,
    city VARCHAR(100) NOT NULL,
    subscription_plan VARCHAR(20) NOT NULL,
    currency CHAR(3) NOT NULL,
    opened_at {ts} NOT NULL,
    closed_at {ts},
    paid_until DATE NOT NULL
){options};
CREATE INDEX ix_venues_tenant_code ON venues (tenant_code);
CREATE INDEX ix_venues_closed_at ON venues (closed_at);
CREATE INDEX ix_venues_paid_until ON venues (paid_until);
CREATE TABLE staff (
    staff_id {id},
    venue_id {ref} NOT NULL,
    full_name VARCHAR(200) NOT NULL,
    email_address VARCHAR(254) NOT NULL,
    mobile VARCHAR(32),
    role VARCHAR(20) NOT NULL,
    is_primary_contact BOOLEAN NOT NULL,
    birth_date DATE,
    hired_at {ts} NOT NULL,
    FOREIGN KEY (venue_id) REFERENCES venues (venue_id)
){options};
CREATE INDEX ix_staff_venue_id ON staff (venue_id);
CREATE INDEX ix_staff_email_address ON staff (email_address);
CREATE TABLE terminals (
    terminal_id {id},
    venue_id {ref} NOT NULL,
    label VARCHAR(100) NOT NULL,
    platform VARCHAR(20) NOT NULL,
    serial_number VARCHAR(64) NOT NULL,
    FOREIGN KEY (venue_id) REFERENCES venues (venue_id)
){options};
CREATE INDEX ix_terminals_venue_id ON terminals (venue_id);
CREATE TABLE sign_ins (
    sign_in_id {id},
    staff_id {ref} NOT NULL,
    terminal_id {ref},
    signed_in_at {ts} NOT NULL,
    ip_address VARCHAR(45) NOT NULL,
    user_agent VARCHAR(400) NOT NULL,
    FOREIGN KEY (staff_id) REFERENCES staff (staff_id),
    FOREIGN KEY (terminal_id) REFERENCES terminals (terminal_id) ON DELETE SET NULL
){options};
CREATE INDEX ix_sign_ins_staff_id ON sign_ins (staff_id);
CREATE INDEX ix_sign_ins_terminal_id ON sign_ins (terminal_id);
CREATE TABLE staff_actions (
    action_id {id},
    staff_id {ref} NOT NULL,
    action VARCHAR(30) NOT NULL,
    acted_at {ts} NOT NULL,
    FOREIGN KEY (staff_id) REFERENCES staff (staff_id)
){options};
CREATE INDEX ix_staff_actions_staff_id ON staff_actions (staff_id);
CREATE TABLE menu_items (
    menu_item_id {id},
    venue_id {ref} NOT NULL,
    item_name VARCHAR(200) NOT NULL,
    category VARCHAR(100) NOT NULL,
    price NUMERIC(12, 2) NOT NULL,
    FOREIGN KEY (venue_id) REFERENCES venues (venue_id)
){options};
CREATE INDEX ix_menu_items_venue_id ON menu_items (venue_id);
CREATE TABLE orders (
    order_id {id},
    venue_id {ref} NOT NULL,
    cashier_id {ref},
    order_number VARCHAR(32) NOT NULL,
    placed_at {ts} NOT NULL,
    total NUMERIC(12, 2) NOT NULL,
    guest_name VARCHAR(200),
    guest_phone VARCHAR(32),
    FOREIGN KEY (venue_id) REFERENCES venues (venue_id),
    FOREIGN KEY (cashier_id) REFERENCES staff (staff_id) ON DELETE SET NULL
){options};
CREATE INDEX ix_orders_venue_id ON orders (venue_id);
CREATE INDEX ix_orders_cashier_id ON orders (cashier_id);
CREATE TABLE order_items (
    item_id {id},
    order_id {ref} NOT NULL,
    menu_item_id {ref} NOT NULL,
    quantity NUMERIC(10, 3) NOT NULL,
    price NUMERIC(12, 2) NOT NULL,
    FOREIGN KEY (order_id) REFERENCES orders (order_id),
    FOREIGN KEY (menu_item_id) REFERENCES menu_items (menu_item_id)
){options};
CREATE INDEX ix_order_items_order_id ON order_items (order_id);
CREATE INDEX ix_order_items_menu_item_id ON order_items (menu_item_id);
CREATE TABLE bills (
    bill_id {id},
    venue_id {ref} NOT NULL,
    bill_number VARCHAR(32) NOT NULL,
    issued_on DATE NOT NULL,
    amount NUMERIC(12, 2) NOT NULL,
    tax_amount NUMERIC(12, 2) NOT NULL,
    currency CHAR(3) NOT NULL,
    issuer_tax_number VARCHAR(20) NOT NULL,
    FOREIGN KEY (venue_id) REFERENCES venues (venue_id)
){options};
CREATE INDEX ix_bills_venue_id ON bills (venue_id);
CREATE TABLE bill_payments (
    payment_id {id},
    bill_id {ref} NOT NULL,
    paid_at {ts} NOT NULL,
    amount NUMERIC(12, 2) NOT NULL,
    method VARCHAR(20) NOT NULL,
    card_brand VARCHAR(20),
    card_last4 CHAR(4),
    gateway_ip_address VARCHAR(45),
    FOREIGN KEY (bill_id) REFERENCES bills (bill_id)
){options};
CREATE INDEX ix_bill_payments_bill_id ON bill_payments (bill_id);
CREATE TABLE tickets (
    ticket_id {id},
    venue_id {ref} NOT NULL,
    staff_id {ref},
    opened_at {ts} NOT NULL,
    channel VARCHAR(20) NOT NULL,
    subject VARCHAR(200) NOT NULL,
    body TEXT NOT NULL,
    FOREIGN KEY (venue_id) REFERENCES venues (venue_id),
    FOREIGN KEY (staff_id) REFERENCES staff (staff_id) ON DELETE SET NULL
){options};
CREATE INDEX ix_tickets_venue_id ON tickets (venue_id);
CREATE INDEX ix_tickets_staff_id ON tickets (staff_id);
CREATE TABLE audit_log (
    log_id {id},
    logged_at {ts} NOT NULL,
    actor VARCHAR(100) NOT NULL,
    event_type VARCHAR(50) NOT NULL,
    detail TEXT NOT NULL
){options}
"""

# The first Clopos venues cover every retention case; see the module docstring.
FIRST_STANDINGS: tuple[Standing, ...] = (
    Standing.CURRENT,
    Standing.CURRENT,
    Standing.DELETED_LONG_AGO,
    Standing.LICENCE_OVERDUE_LONG,
    Standing.DELETED_RECENTLY,
    Standing.LICENCE_OVERDUE_RECENTLY,
)
LATER_WEIGHTS: dict[Standing, int] = {
    Standing.CURRENT: 12,
    Standing.DELETED_LONG_AGO: 2,
    Standing.LICENCE_OVERDUE_LONG: 2,
    Standing.DELETED_RECENTLY: 2,
    Standing.LICENCE_OVERDUE_RECENTLY: 2,
}
# Documentation addresses (RFC 5737): the payment gateway's servers, never a person's device.
GATEWAY_NETWORK = "203.0.113."
AUDIT_EVENTS = (
    ("backup.completed", "Nightly backup completed."),
    ("sync.finished", "Menu synchronisation with the terminals finished."),
    ("schema.checked", "Schema check passed."),
)


class CloposDbError(Exception):
    """The demo database cannot be created or filled; the message says why in one line."""


class Connection(Protocol):
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    name: str
    placeholder: str
    id_type: str
    reference_type: str
    timestamp_type: str
    table_options: str
    tables_query: str
    adapt: Callable[[object], object]

    def statements(self) -> list[str]:
        """Return the schema's statements in this dialect."""
        text = SCHEMA.format(
            id=self.id_type,
            ref=self.reference_type,
            ts=self.timestamp_type,
            options=self.table_options,
        )
        return [statement.strip() for statement in text.split(";") if statement.strip()]


def _adapt_sqlite(value: object) -> object:
    # Text as Django writes it on SQLite (naive UTC), since the tracker reads the system through
    # Django; NUMERIC affinity stores the decimal text as a number.
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _adapt_mysql(value: object) -> object:
    # DATETIME has no time zone: the value is stored as naive UTC.
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _same(value: object) -> object:
    return value


SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    id_type="INTEGER PRIMARY KEY",
    reference_type="INTEGER",
    timestamp_type="DATETIME",
    table_options="",
    tables_query="SELECT name FROM sqlite_master WHERE type = 'table'",
    adapt=_adapt_sqlite,
)
POSTGRESQL = Dialect(
    name="postgresql",
    placeholder="%s",
    id_type="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    reference_type="BIGINT",
    timestamp_type="TIMESTAMP WITH TIME ZONE",
    table_options="",
    tables_query=(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    ),
    adapt=_same,
)
MYSQL = Dialect(
    name="mysql",
    placeholder="%s",
    id_type="BIGINT AUTO_INCREMENT PRIMARY KEY",
    reference_type="BIGINT",
    timestamp_type="DATETIME",
    table_options=" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    tables_query="SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
    adapt=_adapt_mysql,
)
SCHEMES: dict[str, Dialect] = {
    "sqlite": SQLITE,
    "postgres": POSTGRESQL,
    "postgresql": POSTGRESQL,
    "mysql": MYSQL,
    "mariadb": MYSQL,
}


@dataclass
class Database:
    dialect: Dialect
    connection: Connection


# --- Connecting ----------------------------------------------------------------------------------


def _dialect(parts: SplitResult) -> Dialect:
    dialect = SCHEMES.get(parts.scheme.lower())
    if dialect is None:
        raise CloposDbError(
            f"unsupported database URL scheme {parts.scheme!r}: use sqlite:////ABSOLUTE/PATH, "
            "postgres://USER:PASSWORD@HOST:PORT/NAME or mysql://USER:PASSWORD@HOST:PORT/NAME"
        )
    if dialect is SQLITE:
        if parts.netloc or len(parts.path) < 2:
            raise CloposDbError(
                "a SQLite URL is sqlite:////ABSOLUTE/PATH or sqlite:///PATH/IN/THE/PROJECT"
            )
    elif len(parts.path.strip("/")) == 0:
        raise CloposDbError(f"the {parts.scheme} URL names no database: add /NAME after the host")
    return dialect


def _sqlite_path(parts: SplitResult) -> Path:
    # As the tracker reads a system's URL (django-environ): what follows "sqlite:///" is the
    # path, so four slashes make it absolute and three make it relative to the project.
    path = Path(unquote(parts.path[1:]))
    return path if path.is_absolute() else Path(settings.BASE_DIR) / path


def _open(dialect: Dialect, url: str, parts: SplitResult) -> Connection:
    if dialect is SQLITE:
        connection = sqlite3.connect(_sqlite_path(parts))
        # SQLite checks foreign keys only when each connection asks it to.
        connection.execute("PRAGMA foreign_keys = ON")
        return connection
    if dialect is POSTGRESQL:
        import psycopg

        return psycopg.connect(url, connect_timeout=10)
    try:
        import pymysql
    except ImportError as error:
        raise CloposDbError("a MySQL or MariaDB URL needs PyMySQL: pip install pymysql") from error
    return pymysql.connect(
        host=parts.hostname or "localhost",
        port=parts.port or 3306,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=unquote(parts.path.strip("/")),
        charset="utf8mb4",
        connect_timeout=10,
    )


def _driver_errors(dialect: Dialect) -> tuple[type[Exception], ...]:
    if dialect is SQLITE:
        return (sqlite3.Error,)
    if dialect is POSTGRESQL:
        import psycopg

        return (psycopg.Error,)
    try:
        import pymysql
    except ImportError:
        return ()  # _open has said that PyMySQL is missing
    return (pymysql.MySQLError,)


@contextmanager
def connect(url: str) -> Iterator[Database]:
    """Open the database ``url`` names, closing it afterwards; refuse a bad URL in one line."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as error:
        raise CloposDbError(f"not a database URL: {error}") from error
    dialect = _dialect(parts)
    try:
        connection = _open(dialect, url, parts)
    except _driver_errors(dialect) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CloposDbError(f"cannot connect to the {dialect.name} database: {reason}") from error
    try:
        yield Database(dialect, connection)
    finally:
        connection.close()


def _existing_tables(database: Database) -> list[str]:
    cursor = database.connection.cursor()
    cursor.execute(database.dialect.tables_query)
    present = {str(row[0]) for row in cursor.fetchall()}
    return [table for table in TABLES if table in present]


# --- Schema --------------------------------------------------------------------------------------


def create_schema(url: str, *, replace: bool = False) -> None:
    """Create the demo tables; refuse if any exists, unless ``replace`` drops them first."""
    with connect(url) as database:
        existing = _existing_tables(database)
        if existing and not replace:
            raise CloposDbError(
                f"the database already has the tables {', '.join(existing)}: "
                "replace them (--replace) or use another database"
            )
        cursor = database.connection.cursor()
        for table in reversed(TABLES):
            if table in existing:
                cursor.execute(f"DROP TABLE {table}")  # table names are this module's constants
        for statement in database.dialect.statements():
            cursor.execute(statement)
        database.connection.commit()


# --- Filling -------------------------------------------------------------------------------------


class _Writer:
    """Buffer rows per table, assign their keys, and insert them parents first in batches."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._buffers: dict[str, list[dict[str, object]]] = {table: [] for table in TABLES}
        self._last_id = dict.fromkeys(TABLES, 0)
        self.counts = dict.fromkeys(TABLES, 0)

    def add(self, table: str, **row: object) -> int:
        """Queue one row of ``table`` and return its new primary key."""
        self._last_id[table] += 1
        key = self._last_id[table]
        self._buffers[table].append({PRIMARY_KEYS[table]: key, **row})
        return key

    def flush_if_full(self) -> None:
        if sum(len(rows) for rows in self._buffers.values()) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        dialect = self._database.dialect
        cursor = self._database.connection.cursor()
        for table in TABLES:
            rows = self._buffers[table]
            if not rows:
                continue
            columns = list(rows[0])
            marks = ", ".join([dialect.placeholder] * len(columns))
            # Names come from this module, never from input; every value is a parameter.
            statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - names from this module, values are parameters  # nosec B608
            for start in range(0, len(rows), BATCH_SIZE):
                batch = rows[start : start + BATCH_SIZE]
                cursor.executemany(
                    statement, [tuple(dialect.adapt(row[c]) for c in columns) for row in batch]
                )
            self.counts[table] += len(rows)
            self._buffers[table] = []

    def advance_sequences(self) -> None:
        """Move PostgreSQL's identity sequences past the keys written here."""
        if self._database.dialect is not POSTGRESQL:
            return  # SQLite and MySQL move past explicit keys by themselves
        cursor = self._database.connection.cursor()
        for table, key in PRIMARY_KEYS.items():
            if self._last_id[table]:
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, %s), %s)",
                    (table, key, self._last_id[table]),
                )


def _months_before(day: date, months: int) -> date:
    """Return the same day ``months`` months earlier, clamped to that month's last day."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass
class _Venue:
    venue_id: int
    business_type: str
    opened_at: datetime
    closed_at: datetime | None
    paid_until: date
    last_active: datetime
    staff: list[int]
    terminals: list[tuple[int, str]]


class _Generator:
    """Draw the rows of every venue from one random stream."""

    def __init__(self, writer: _Writer, *, seed: int, now: datetime) -> None:
        from faker import Faker

        self.writer = writer
        # Reproducible on purpose: demo data, never secrets.
        self.rng = random.Random(seed)  # noqa: S311 - reproducible demo data, no secret  # nosec B311
        self.fake = Faker("az_AZ")
        self.fake.seed_instance(self.rng.getrandbits(64))
        self.country = COUNTRIES["AZ"]
        self.now = now
        self.today = now.astimezone(TIME_ZONE).date()
        self.used_emails: set[str] = set()

    def standing(self, index: int) -> Standing:
        if index < len(FIRST_STANDINGS):
            return FIRST_STANDINGS[index]
        return self.rng.choices(list(LATER_WEIGHTS), weights=list(LATER_WEIGHTS.values()))[0]

    def person(self) -> tuple[str, str]:
        """Return a first and last name of either gender."""
        if self.rng.random() < 0.5:
            return self.fake.first_name_male(), self.fake.last_name_male()
        return self.fake.first_name_female(), self.fake.last_name_female()

    def email(self, first: str, last: str, domain: str) -> str:
        local = f"{ascii_slug(first)}.{ascii_slug(last)}"
        candidate, number = f"{local}@{domain}", 1
        while candidate in self.used_emails:
            number += 1
            candidate = f"{local}{number}@{domain}"
        self.used_emails.add(candidate)
        return candidate

    def _dates(self, standing: Standing) -> tuple[datetime, datetime | None, date]:
        """Return when a venue opened, closed (or None) and is paid until."""
        rng, now, today = self.rng, self.now, self.today
        opened_at = now - timedelta(days=rng.randint(400, 1_100), seconds=rng.randint(0, 86_399))
        closed_at = None
        if standing is Standing.DELETED_LONG_AGO:
            closed_at = now - timedelta(days=60, minutes=rng.randint(0, 600))
        elif standing is Standing.DELETED_RECENTLY:
            closed_at = now - timedelta(days=10, minutes=rng.randint(0, 600))
        if closed_at is not None:
            paid_until = closed_at.astimezone(TIME_ZONE).date() + timedelta(rng.randint(0, 29))
        elif standing is Standing.LICENCE_OVERDUE_LONG:
            paid_until = _months_before(today, 7)
        elif standing is Standing.LICENCE_OVERDUE_RECENTLY:
            paid_until = _months_before(today, 2)
        else:
            paid_until = today + timedelta(rng.randint(1, 29))
        return opened_at, closed_at, paid_until

    def venue(
        self,
        tenant: str,
        standing: Standing,
        *,
        issuer_tax_number: str,
        owner: tuple[str, str] | None = None,
        name: str | None = None,
        orders: int | None = None,
    ) -> _Venue:
        """Write one venue and everything under it; ``owner`` is a fixed (name, email)."""
        rng, country = self.rng, self.country
        business_type = (
            BusinessType.RESTAURANT
            if name
            else rng.choice((BusinessType.RESTAURANT, BusinessType.CAFE))
        )
        surname = self.fake.last_name()
        venue_name = name or f"{surname} {COMPANY_WORDS[business_type]}"
        plan = rng.choice(tuple(country.plan_prices))
        opened_at, closed_at, paid_until = self._dates(standing)
        if closed_at is not None:
            last_active = closed_at
        else:
            paid_end = datetime.combine(paid_until + timedelta(30), datetime.min.time(), TIME_ZONE)
            last_active = min(self.now, paid_end.astimezone(UTC))
        venue_id = self.writer.add(
            "venues",
            tenant_code=tenant,
            venue_name=venue_name,
            business_type=str(business_type),
            tax_number=country.tax_id(rng),
            street=f"{rng.choice(country.streets)} {rng.randint(1, 200)}",
            city=rng.choice(country.cities),
            subscription_plan=plan,
            currency=country.currency,
            opened_at=opened_at,
            closed_at=closed_at,
            paid_until=paid_until,
        )
        venue = _Venue(
            venue_id, str(business_type), opened_at, closed_at, paid_until, last_active, [], []
        )
        self._terminals(venue, 2 if name else rng.randint(1, 3))
        domain = f"{ascii_slug(venue_name) or 'venue'}.example"
        owner_name, owner_email = owner or self._new_person(domain)
        self.staff_member(venue, "owner", owner_name, owner_email, primary_contact=True)
        roles = (
            ["manager", "cashier", "cashier", "cashier"]
            if name
            else [
                rng.choice(("manager", "cashier", "cashier", "waiter"))
                for _n in range(rng.randint(2, 6))
            ]
        )
        for role in roles:
            self.staff_member(venue, role, *self._new_person(domain))
        menu = self._menu(venue)
        self._orders(venue, menu, orders if orders is not None else rng.randint(10, 40))
        self._bills(venue, plan, issuer_tax_number)
        self._tickets(venue, 2 if name else rng.randint(0, 3))
        return venue

    def _new_person(self, domain: str) -> tuple[str, str]:
        first, last = self.person()
        return f"{first} {last}", self.email(first, last, domain)

    def _terminals(self, venue: _Venue, count: int) -> None:
        rng = self.rng
        for _n in range(count):
            platform = rng.choice(tuple(DEVICE_NAMES))
            terminal_id = self.writer.add(
                "terminals",
                venue_id=venue.venue_id,
                label=DEVICE_NAMES[platform],
                platform=str(platform),
                serial_number=f"CLP-{rng.getrandbits(40):010X}",
            )
            venue.terminals.append((terminal_id, str(platform)))

    def staff_member(
        self, venue: _Venue, role: str, full_name: str, email: str, *, primary_contact: bool = False
    ) -> int:
        """Write a person working at ``venue``, with their sign-ins and actions."""
        rng, country = self.rng, self.country
        # The owner is there from the first day; the others join in the first months.
        hired_at = (
            venue.opened_at
            if role == "owner"
            else self._moment(venue.opened_at, venue.opened_at + timedelta(days=120))
        )
        birth_date = (
            self.today - timedelta(days=rng.randint(20 * 365, 60 * 365))
            if rng.random() < 0.4
            else None
        )
        staff_id = self.writer.add(
            "staff",
            venue_id=venue.venue_id,
            full_name=full_name,
            email_address=email,
            mobile=country.phone(rng) if role == "owner" or rng.random() < 0.8 else None,
            role=role,
            is_primary_contact=primary_contact,
            birth_date=birth_date,
            hired_at=hired_at,
        )
        venue.staff.append(staff_id)
        for _n in range(rng.randint(1, 5)):
            terminal_id, platform = rng.choice(venue.terminals)
            self.writer.add(
                "sign_ins",
                staff_id=staff_id,
                terminal_id=terminal_id,
                signed_in_at=self._moment(hired_at, venue.last_active),
                ip_address=f"{rng.choice(country.ip_prefixes)}{rng.randint(0, 255)}."
                f"{rng.randint(1, 254)}",
                user_agent=rng.choice(USER_AGENTS[platform]),
            )
        for _n in range(rng.randint(1, 6)):
            self.writer.add(
                "staff_actions",
                staff_id=staff_id,
                action=rng.choice(StaffAction.values),
                acted_at=self._moment(hired_at, venue.last_active),
            )
        return staff_id

    def _moment(self, start: datetime, end: datetime) -> datetime:
        return between(self.rng, start, end).replace(microsecond=0)

    def _menu(self, venue: _Venue) -> list[tuple[int, Decimal]]:
        rng, country = self.rng, self.country
        catalogue = CATALOGUES[venue.business_type]
        menu = []
        for item_name, category, dollars, _by_litre in rng.sample(
            catalogue, k=rng.randint(min(6, len(catalogue)), len(catalogue))
        ):
            price = money(Decimal(dollars) * country.per_dollar, country.price_step)
            item_id = self.writer.add(
                "menu_items",
                venue_id=venue.venue_id,
                item_name=item_name,
                category=category,
                price=price,
            )
            menu.append((item_id, price))
        return menu

    def _orders(self, venue: _Venue, menu: list[tuple[int, Decimal]], count: int) -> None:
        rng, fake = self.rng, self.fake
        span = (venue.last_active - venue.opened_at) / max(count, 1)
        for index in range(count):
            # Evenly spread with jitter, so order numbers rise with time.
            placed_at = (venue.opened_at + span * (index + rng.random())).replace(microsecond=0)
            lines = [
                (item_id, Decimal(rng.choice((1, 1, 1, 2, 2, 3))), price)
                for item_id, price in rng.sample(menu, k=min(len(menu), rng.randint(1, 4)))
            ]
            total = sum((quantity * price for _i, quantity, price in lines), Decimal(0))
            with_guest = rng.random() < 0.25
            order_id = self.writer.add(
                "orders",
                venue_id=venue.venue_id,
                cashier_id=rng.choice(venue.staff),
                order_number=f"{venue.venue_id:04d}-{index + 1:06d}",
                placed_at=placed_at,
                total=total.quantize(CENT, rounding=ROUND_HALF_UP),
                guest_name=fake.first_name() if with_guest else None,
                guest_phone=self.country.phone(rng) if with_guest else None,
            )
            for item_id, quantity, price in lines:
                self.writer.add(
                    "order_items",
                    order_id=order_id,
                    menu_item_id=item_id,
                    quantity=quantity,
                    price=price,
                )

    def _bills(self, venue: _Venue, plan: str, issuer_tax_number: str) -> None:
        """Bill every 30 days while the venue is open; stop at the first bill left unpaid."""
        rng, country = self.rng, self.country
        amount = country.plan_prices[plan]
        tax = (amount * country.vat_rate / (1 + country.vat_rate)).quantize(
            CENT, rounding=ROUND_HALF_UP
        )
        issued_on = venue.opened_at.astimezone(TIME_ZONE).date()
        end = (venue.closed_at or self.now).astimezone(TIME_ZONE).date()
        number = 0
        while issued_on <= end:
            number += 1
            bill_id = self.writer.add(
                "bills",
                venue_id=venue.venue_id,
                bill_number=f"CLP-{venue.venue_id:04d}-{number:03d}",
                issued_on=issued_on,
                amount=amount,
                tax_amount=tax,
                currency=country.currency,
                issuer_tax_number=issuer_tax_number,
            )
            if issued_on > venue.paid_until:
                return
            card = rng.random() < 0.7
            self.writer.add(
                "bill_payments",
                bill_id=bill_id,
                paid_at=datetime.combine(issued_on, datetime.min.time(), TIME_ZONE).astimezone(UTC)
                + timedelta(hours=rng.randint(1, 120)),
                amount=amount,
                method="card" if card else "bank_transfer",
                card_brand=rng.choice(("Visa", "Mastercard")) if card else None,
                card_last4=digits(rng, 4) if card else None,
                gateway_ip_address=f"{GATEWAY_NETWORK}{rng.randint(1, 254)}" if card else None,
            )
            issued_on += timedelta(days=30)

    def _tickets(self, venue: _Venue, count: int) -> None:
        rng = self.rng
        for index in range(count):
            subject, body = rng.choice(SUPPORT_TOPICS)
            # The owner (the venue's first staff member) writes the first ticket.
            staff_id = venue.staff[0] if index == 0 else rng.choice(venue.staff)
            at = self._moment(venue.opened_at, venue.last_active)
            self._ticket(venue, staff_id, subject, body, at)
        if venue.closed_at is not None:
            subject, body = CLOSURE_TOPIC
            self._ticket(venue, venue.staff[0], subject, body, venue.closed_at - timedelta(hours=6))

    def _ticket(self, venue: _Venue, staff_id: int, subject: str, body: str, at: datetime) -> None:
        self.writer.add(
            "tickets",
            venue_id=venue.venue_id,
            staff_id=staff_id,
            opened_at=at.replace(microsecond=0),
            channel=self.rng.choice(("email", "phone", "chat")),
            subject=subject,
            body=body,
        )

    def audit_log(self) -> None:
        for days in range(30, 0, -1):
            event_type, detail = self.rng.choice(AUDIT_EVENTS)
            self.writer.add(
                "audit_log",
                logged_at=(
                    self.now - timedelta(days=days, minutes=self.rng.randint(0, 90))
                ).replace(microsecond=0),
                actor="ops-scheduler",
                event_type=event_type,
                detail=detail,
            )


def populate(
    url: str, *, venues: int = DEFAULT_VENUES, seed: int = 0, now: datetime | None = None
) -> dict[str, int]:
    """Fill the empty demo tables in one transaction; return the rows written per table.

    ``venues`` Clopos venues (at least 2) and ``other_tenant_venues(venues)`` of the other
    tenant's. Dates are relative to ``now`` (the current time by default).
    """
    if venues < 2:
        raise CloposDbError("the demo needs at least 2 Clopos venues")
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    with connect(url) as database:
        missing = [table for table in TABLES if table not in _existing_tables(database)]
        if missing:
            raise CloposDbError(f"the tables {', '.join(missing)} are missing: create them first")
        cursor = database.connection.cursor()
        cursor.execute("SELECT COUNT(*) FROM venues")
        if cursor.fetchone()[0]:
            raise CloposDbError(
                "the demo tables already hold rows: replace them (--replace) to start again"
            )
        writer = _Writer(database)
        try:
            _generate(_Generator(writer, seed=seed, now=moment), venues)
            writer.flush()
            writer.advance_sequences()
            database.connection.commit()
        except BaseException:
            database.connection.rollback()
            raise
        return dict(writer.counts)


def other_tenant_venues(venues: int) -> int:
    """Return how many venues the other tenant gets beside ``venues`` of Clopos's."""
    # Never fewer than the retention cases, so its venues can be wrongly purged too.
    return max(len(FIRST_STANDINGS), venues // 4)


def _generate(generator: _Generator, venues: int) -> None:
    clopos_issuer = generator.country.tax_id(generator.rng)
    other_issuer = generator.country.tax_id(generator.rng)
    generator.venue(
        CLOPOS_TENANT,
        generator.standing(0),
        issuer_tax_number=clopos_issuer,
        owner=(DEMO_OWNER_NAME, DEMO_OWNER_EMAIL),
        name=DEMO_VENUE_NAME,
        orders=DEMO_ORDERS,
    )
    for index in range(1, venues):
        venue = generator.venue(
            CLOPOS_TENANT, generator.standing(index), issuer_tax_number=clopos_issuer
        )
        if index == 1:
            # The subject also manages this venue, under the same address written differently.
            generator.staff_member(venue, "manager", DEMO_OWNER_NAME, DEMO_OWNER_EMAIL.capitalize())
        generator.writer.flush_if_full()
    for index in range(other_tenant_venues(venues)):
        # Another person, with the demo subject's address, owns the other tenant's first venue.
        owner = (" ".join(generator.person()), DEMO_OWNER_EMAIL) if index == 0 else None
        generator.venue(
            OTHER_TENANT, generator.standing(index), issuer_tax_number=other_issuer, owner=owner
        )
        generator.writer.flush_if_full()
    generator.audit_log()
