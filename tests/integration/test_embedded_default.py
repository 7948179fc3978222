"""The embedded default end to end: SQLite, the SQLAlchemy broker and a real worker process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_task_round_trips_through_sqlite_and_a_real_worker(tmp_path):
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
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-l", "INFO"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        sent = subprocess.run(
            [
                sys.executable,
                "-c",
                "from config.celery import ping; print(ping.delay().get(timeout=60))",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    finally:
        worker.terminate()
        log = worker.communicate(timeout=30)[0]

    assert sent.returncode == 0, sent.stderr + log
    assert sent.stdout.strip() == "{'pong': 'ok', 'database': 'sqlite'}"
    assert (tmp_path / "db.sqlite3").exists()
    assert (tmp_path / "celery-broker.sqlite3").exists()
