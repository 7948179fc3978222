"""Fixtures of the effects tests (shared ones from tests.tracker)."""

from __future__ import annotations

from tests.tracker import _fresh_rate_limits, _plain_http, _tasks_run_in_process
