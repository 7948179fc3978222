"""The backend of an unavailable system (see the package docstring)."""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import OperationalError
from django.db.backends.dummy import base


class DatabaseWrapper(base.DatabaseWrapper):
    vendor = "unavailable"

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        reason = self.settings_dict.get("DSR_UNAVAILABLE", "its connection is not configured")
        raise OperationalError(f"{self.settings_dict.get('DSR_SYSTEM', self.alias)}: {reason}")

    ensure_connection = _refuse
    _cursor = _refuse
    _commit = _refuse
    _rollback = _refuse
    _savepoint = _refuse

    def _set_autocommit(self, autocommit: bool) -> None:
        self._refuse()

    def is_usable(self) -> bool:
        return False
