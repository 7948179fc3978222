"""The connection to a system's database: its URL read from the environment, an alias in
Django's connection handler, and a router that sends each system's models to it.

The URL is read from the variable the system names (or the file a ``*_FILE`` variable names) when
the connection is first needed in a process; it is never stored, logged or shown. PostgreSQL
(``postgres://``), MariaDB/MySQL (``mysql://``, through PyMySQL) and SQLite (``sqlite:///path``)
are supported.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import environ
from django.conf import settings
from django.db import connections

SUPPORTED = {
    "django.db.backends.postgresql": "PostgreSQL",
    "django.db.backends.mysql": "MariaDB/MySQL",
    "django.db.backends.sqlite3": "SQLite",
}


class ConnectionUnavailable(Exception):
    """The system's connection cannot be set up; the message says why, without the URL."""


def read_url(variable: str) -> str:
    """The URL in ``variable``, or in the file that ``variable`` (ending in ``_FILE``) names."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ConnectionUnavailable(f"the environment variable {variable} is not set")
    if variable.endswith("_FILE"):
        try:
            value = Path(value).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConnectionUnavailable(
                f"the file named by {variable} cannot be read ({error.strerror})"
            ) from None
    return value


def _pymysql_as_mysqldb() -> None:
    """Let Django's MySQL backend use PyMySQL (pure Python: nothing to compile).

    Beyond ``install_as_MySQLdb()``, the submodules Django imports (``MySQLdb.converters``,
    ``MySQLdb.constants...``) are aliased to PyMySQL's own: imported afresh under the other name,
    they would replace ``pymysql.err`` and friends with second copies whose exception classes
    the driver never raises.
    """
    import pymysql
    import pymysql.constants.CLIENT
    import pymysql.constants.ER
    import pymysql.constants.FIELD_TYPE
    import pymysql.converters
    import pymysql.err

    pymysql.install_as_MySQLdb()
    for name, module in list(sys.modules.items()):
        if name.startswith("pymysql."):
            sys.modules.setdefault("MySQLdb." + name.removeprefix("pymysql."), module)


def database_settings(url: str) -> dict[str, Any]:
    """Django's settings for the database at ``url``; refuse an unsupported engine."""
    try:
        config = environ.Env.db_url_config(url)
    except Exception:
        raise ConnectionUnavailable("the connection URL cannot be read") from None
    engine = config.get("ENGINE", "")
    if engine not in SUPPORTED:
        raise ConnectionUnavailable(
            "the connection URL must be postgres://, mysql:// or sqlite:///"
        )
    if engine == "django.db.backends.mysql":
        _pymysql_as_mysqldb()
        config.setdefault("OPTIONS", {}).setdefault("charset", "utf8mb4")
    if engine == "django.db.backends.sqlite3":
        name = Path(config["NAME"])
        if not name.is_absolute():
            config["NAME"] = str(Path(settings.BASE_DIR) / name)
        config.setdefault("OPTIONS", {}).setdefault("timeout", 20)
    config["CONN_MAX_AGE"] = 0
    config["TIME_ZONE"] = None
    return config


def connect(alias: str, variable: str) -> str:
    """Make ``alias`` a connection to the database ``variable`` holds; return the alias."""
    config = database_settings(read_url(variable))
    known = connections.settings.get(alias)
    if known is not None and all(known.get(k) == v for k, v in config.items() if k != "OPTIONS"):
        return alias
    if known is not None:
        # Another URL for the alias: this thread's connection object is replaced, not reused.
        connections[alias].close()
        with contextlib.suppress(AttributeError):
            del connections[alias]
    connections.settings[alias] = connections.configure_settings({"default": {}, alias: config})[
        alias
    ]
    return alias


def vendor(alias: str) -> str:
    return connections[alias].vendor


class SystemsRouter:
    """Send a system's models to its database; never migrate anything there."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        return getattr(model, "dsr_database", None)

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return getattr(model, "dsr_database", None)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        first, second = getattr(obj1, "dsr_database", None), getattr(obj2, "dsr_database", None)
        if first is None and second is None:
            return None
        return first == second

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        if db.startswith("system_"):
            return False
        return None
