"""The outbox on the embedded default (SQLite and the SQLAlchemy broker), in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ENQUEUE = """
import django
django.setup()
from outbox.api import enqueue
from outbox.models import OutboxMessage
enqueue("config.ping")
message = OutboxMessage.objects.get()
print(message.sent_at is not None, message.last_error or "-")
"""


def test_on_the_embedded_default_a_task_is_relayed_to_the_sqlalchemy_broker(
    tmp_path: Path,
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "CELERY_", "EMAIL_URL"))
    }
    env |= {"VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )

    sent = subprocess.run(
        [sys.executable, "-c", ENQUEUE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )

    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.split() == ["True", "-"]
    assert (tmp_path / "celery-broker.sqlite3").exists()
