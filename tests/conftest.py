from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
# Systems reached over HTTP in the tests (tests/systems): the reference receiver and the tracker's
# own endpoints listen on loopback over plain http; this variable holds their shared secret.
TEST_WEBHOOK_SECRET_ENV = "DSR_TEST_WEBHOOK_SECRET"
TEST_WEBHOOK_SECRET = "test-webhook-secret-0123456789abcdef0123456789"
LOOPBACK_SYSTEMS_ENV = {
    "SYSTEM_HTTP_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SYSTEM_HTTP_ALLOW_HTTP": "true",
    TEST_WEBHOOK_SECRET_ENV: TEST_WEBHOOK_SECRET,
}


def pytest_configure(config: pytest.Config) -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.exit(
            "the tests run on PostgreSQL: use `make test`, which starts PostgreSQL and Redis",
            returncode=4,
        )
    # WhiteNoise warns about a missing STATIC_ROOT on a fresh clone, where nothing is collected.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `make test-fast` leaves out the browser tests by this marker.
    e2e = ROOT / "tests" / "e2e"
    for item in items:
        if e2e in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _plain_static_files(settings: pytest.FixtureRequest) -> None:
    # The manifest storage needs `collectstatic`; tests serve static files from the finders.
    settings.STORAGES = {  # type: ignore[attr-defined]
        **settings.STORAGES,  # type: ignore[attr-defined]
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _audit_checkpoints_apart(
    settings: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Checkpoints of a `make run` under var/ list requests the test database does not have; each
    # test gets a directory of its own, created only if it takes a checkpoint.
    base = tmp_path_factory.getbasetemp() / "audit-checkpoints"
    settings.AUDIT_CHECKPOINT_DIR = base / uuid.uuid4().hex  # type: ignore[attr-defined]


def _test_database_url() -> str:
    """Return DATABASE_URL pointing at the test database pytest-django created."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + settings.DATABASES["default"]["NAME"]))


@pytest.fixture(scope="session")
def celery_worker_mail_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the worker writes the mail it sends (one file per message)."""
    return tmp_path_factory.mktemp("worker-mail")


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: None, django_db_blocker: object, celery_worker_mail_dir: Path
) -> Iterator[subprocess.Popen]:
    """Start a real Celery worker process on the test Redis and the test database."""
    # The worker is another process: Django's in-memory outbox cannot see its mail, files can.
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "EMAIL_URL": f"filemail://{celery_worker_mail_dir}",
        **LOOPBACK_SYSTEMS_ENV,
    }
    log = open(ROOT / "var" / "test-worker.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Celery worker did not start: see var/test-worker.log")
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
