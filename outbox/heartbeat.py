"""Heartbeats of long work: a thread records that a build or a step is alive, every 30 s.

The row of the work (an export package being built, say) carries a ``heartbeat_at`` that this
thread moves forward from a database connection of its own (the work's own connection may sit in
a long read-only snapshot). A beat job requeues work whose heartbeat stopped for
``WORK_STALL_MINUTES`` (a worker killed mid-way), claiming it with a conditional update. The
beat itself is conditional too: when the row no longer matches (the work was taken over by
another attempt), the thread stops and ``check()`` raises ``WorkTakenOver`` in the worker, which
abandons its attempt rather than finish the work a second time.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from types import TracebackType
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import QuerySet
from django.db.models.functions import Now

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0


def stall_after() -> timedelta:
    """How long work may go without a heartbeat before a beat job hands it to another worker."""
    return timedelta(minutes=int(settings.WORK_STALL_MINUTES))


class WorkTakenOver(Exception):
    """Another attempt took the work over while this one was thought dead: stop."""


class Heartbeat:
    """Move ``field`` of the rows of ``claimed`` to the database's now, every ``every`` seconds.

    ``claimed`` names the work as this attempt claimed it (its id and attempt number), so a beat
    that updates no row means the work was taken over. Use as a context manager.
    """

    def __init__(
        self, claimed: QuerySet[Any], *, field: str = "heartbeat_at", every: float = 0.0
    ) -> None:
        self._claimed = claimed
        self._field = field
        self._every = every or HEARTBEAT_SECONDS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self.lost = False

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> None:
        """Raise ``WorkTakenOver`` if another attempt has taken the work over."""
        if self.lost:
            raise WorkTakenOver("another attempt took this work over")

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._every):
                try:
                    beats = self._claimed.update(**{self._field: Now()})
                except DatabaseError as exc:
                    # One missed beat is no harm; many make the work look stalled, as it would be.
                    logger.warning("heartbeat not recorded: %s", exc)
                    continue
                if not beats:
                    self.lost = True
                    return
        finally:
            connection.close()  # this thread's own connection
