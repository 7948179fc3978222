from __future__ import annotations

import pytest

# The shared steps assert too; have pytest explain their failures as it does in test modules.
pytest.register_assert_rewrite("tests.e2e.journey")
