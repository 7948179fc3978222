"""The settings module as a whole, loaded in a fresh interpreter with a chosen environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "production-secret-key-that-is-long-enough-0123456789",
    "ALLOWED_HOSTS": "dsr.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://dsr.example.com",
    "DATABASE_URL": "postgres://dsr:pw@db.internal:5432/dsr",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "EMAIL_URL": "smtp+tls://mailer:pw@smtp.example.com:587",
}


def run_django(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DATABASE_URL", "CELERY_", "EMAIL_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS")
        )
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def load_settings(environment: dict[str, str]) -> dict[str, object]:
    script = (
        "import json, django; django.setup(); from django.conf import settings as s;"
        "print(json.dumps({'db': s.DATABASES['default']['ENGINE'],"
        " 'db_age': s.DATABASES['default'].get('CONN_MAX_AGE'),"
        " 'broker': s.CELERY_BROKER_URL, 'mail': s.EMAIL_BACKEND, 'debug': s.DEBUG,"
        " 'mail_dir': getattr(s, 'EMAIL_FILE_PATH', None),"
        " 'hsts': getattr(s, 'SECURE_HSTS_SECONDS', None),"
        " 'secure_cookie': getattr(s, 'SESSION_COOKIE_SECURE', False)}))"
    )
    done = run_django({"DJANGO_SETTINGS_MODULE": "config.settings", **environment}, "-c", script)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_embedded_default_needs_no_variables(tmp_path):
    loaded = load_settings({"VAR_DIR": str(tmp_path)})

    assert loaded["db"] == "django.db.backends.sqlite3"
    assert loaded["broker"] == f"sqla+sqlite:///{tmp_path}/celery-broker.sqlite3"
    assert loaded["mail"] == "django.core.mail.backends.filebased.EmailBackend"
    assert loaded["mail_dir"] == f"{tmp_path}/mail"
    assert loaded["debug"] is False
    assert (tmp_path / "secret_key").exists()


def test_production_variables_select_postgres_redis_smtp_and_secure_cookies(tmp_path):
    loaded = load_settings({**PRODUCTION, "VAR_DIR": str(tmp_path)})

    assert loaded["db"] == "django.db.backends.postgresql"
    assert loaded["db_age"] == 60
    assert loaded["broker"] == "redis://redis.internal:6379/0"
    assert loaded["mail"] == "django.core.mail.backends.smtp.EmailBackend"
    assert loaded["secure_cookie"] is True
    assert loaded["hsts"] == 31536000


def test_a_bad_value_stops_start_up_with_the_variable_name(tmp_path):
    done = run_django({"VAR_DIR": str(tmp_path), "DEBUG": "maybe"}, "manage.py", "check")

    assert done.returncode != 0
    assert "DEBUG must be a boolean" in done.stderr


def test_an_unknown_two_step_log_in_setting_stops_start_up(tmp_path):
    done = run_django(
        {"VAR_DIR": str(tmp_path), "STAFF_TWO_FACTOR": "sometimes"}, "manage.py", "check"
    )

    assert done.returncode != 0
    assert "STAFF_TWO_FACTOR must be optional, officers or all" in done.stderr


def test_the_retired_proxy_header_setting_stops_start_up_naming_its_successor(tmp_path):
    done = run_django(
        {"VAR_DIR": str(tmp_path), "RATELIMIT_IP_META_KEY": "HTTP_X_REAL_IP"}, "manage.py", "check"
    )

    assert done.returncode != 0
    assert "set TRUSTED_PROXY_COUNT" in done.stderr


def test_check_deploy_is_clean_with_production_variables(tmp_path):
    done = run_django(
        {**PRODUCTION, "VAR_DIR": str(tmp_path)},
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout
