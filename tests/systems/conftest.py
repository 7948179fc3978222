"""Fixtures of the systems tests: the external databases' connections, allowed in a test.

Django's test case forbids connections to aliases it was not told about; a system's alias is
added while the test runs, so it is allowed here, and removed at the end (closed first), so the
next test starts with none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from systems import loading
from tests.pos_data import clopos, zpos
from tests.tracker import _fresh_rate_limits, _plain_http, _tasks_run_in_process

__all__ = [
    "_fresh_rate_limits",
    "_plain_http",
    "_tasks_run_in_process",
    "clopos",
    "system_connections",
    "zpos",
]

SYSTEM_PREFIXES = ("system_", "check_")


@pytest.fixture
def system_connections(db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    guarded = BaseDatabaseWrapper.ensure_connection

    def ensure_connection(self: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> None:
        if self.alias.startswith(SYSTEM_PREFIXES):
            return _real_ensure(self)
        return guarded(self, *args, **kwargs)

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", ensure_connection)
    yield
    for alias in [a for a in connections.settings if a.startswith(SYSTEM_PREFIXES)]:
        connections[alias].close()
        with contextlib.suppress(AttributeError):
            del connections[alias]
        del connections.settings[alias]
    loading.invalidate()


def _real_ensure(connection: BaseDatabaseWrapper) -> None:
    """Django's own ``ensure_connection`` (the test case patches the class's)."""
    if connection.connection is None:
        with connection.wrap_database_errors:
            connection.connect()
