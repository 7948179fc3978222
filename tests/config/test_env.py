from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("YES", True), ("1", True), ("off", False), ("0", False), ("no", False)],
)
def test_booleans_accept_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("DEBUG", raw)

    assert env.env_bool("DEBUG", not expected) is expected


@pytest.mark.parametrize("raw", ["ture", "2", "enabled", "y es"])
def test_a_bad_boolean_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("DEBUG", raw)

    with pytest.raises(ImproperlyConfigured, match="DEBUG must be a boolean"):
        env.env_bool("DEBUG", False)


def test_an_unset_or_blank_variable_takes_the_default(monkeypatch):
    monkeypatch.setenv("DEBUG", "  ")
    monkeypatch.delenv("SECURE_SSL_REDIRECT", raising=False)

    assert env.env_bool("DEBUG", True) is True
    assert env.env_bool("SECURE_SSL_REDIRECT", False) is False


def test_a_bad_integer_names_the_variable(monkeypatch):
    monkeypatch.setenv("SECURE_HSTS_SECONDS", "a year")

    with pytest.raises(ImproperlyConfigured, match="SECURE_HSTS_SECONDS must be a whole number"):
        env.env_int("SECURE_HSTS_SECONDS", 0)


def test_a_negative_integer_is_refused(monkeypatch):
    monkeypatch.setenv("SECURE_HSTS_SECONDS", "-5")

    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env.env_int("SECURE_HSTS_SECONDS", 0)


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", "dsr.example.com, .example.org,,")

    assert env.env_list("ALLOWED_HOSTS", []) == ["dsr.example.com", ".example.org"]


def test_a_postgres_url_is_parsed_for_psycopg(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://dsr:s%40cret@db.internal:5433/dsr")

    config = env.env_database("DATABASE_URL", "sqlite:///x")

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.internal", 5433, "dsr")
    assert config["PASSWORD"] == "s@cret"


@pytest.mark.parametrize("raw", ["mysql://u@h/db", "not a url", "postgres://host:5432/"])
def test_a_bad_database_url_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("DATABASE_URL", raw)

    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        env.env_database("DATABASE_URL", "sqlite:///x")


def test_an_smtp_url_configures_the_smtp_backend(monkeypatch):
    monkeypatch.setenv("EMAIL_URL", "smtp+tls://mailer:pw@smtp.example.com:587")

    config = env.env_email("EMAIL_URL", "filemail:///tmp/mail")

    assert config["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (config["EMAIL_HOST"], config["EMAIL_PORT"], config["EMAIL_USE_TLS"]) == (
        "smtp.example.com",
        587,
        True,
    )


def test_a_bad_email_url_names_the_variable(monkeypatch):
    monkeypatch.setenv("EMAIL_URL", "pigeon://coop")

    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL must use one of the schemes"):
        env.env_email("EMAIL_URL", "filemail:///tmp/mail")


def test_a_bad_broker_url_names_the_variable(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest@localhost//")

    with pytest.raises(ImproperlyConfigured, match="CELERY_BROKER_URL"):
        env.env_broker("CELERY_BROKER_URL", "redis://localhost")


def test_a_secret_is_read_from_the_file_the_FILE_variable_names(monkeypatch, tmp_path):
    secret = tmp_path / "password"
    secret.write_text("smtp://mailer:from-a-file@smtp.example.com:25\n")
    monkeypatch.setenv("EMAIL_URL_FILE", str(secret))
    monkeypatch.setenv("EMAIL_URL", "smtp://ignored@elsewhere")

    assert env.env_email("EMAIL_URL", "dummymail://")["EMAIL_HOST_PASSWORD"] == "from-a-file"


def test_an_unreadable_FILE_variable_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "missing"))

    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY_FILE points to"):
        env.secret_key("SECRET_KEY", tmp_path / "generated")


def test_the_secret_key_is_generated_once_and_kept(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    key_file = tmp_path / "var" / "secret_key"

    first = env.secret_key("SECRET_KEY", key_file)

    assert len(first) >= 50
    assert env.secret_key("SECRET_KEY", key_file) == first
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_a_short_secret_key_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "too-short")

    with pytest.raises(ImproperlyConfigured, match="at least 50 characters"):
        env.secret_key("SECRET_KEY", tmp_path / "secret_key")


def test_a_filemail_url_keeps_its_absolute_path(monkeypatch, tmp_path):
    monkeypatch.setenv("EMAIL_URL", f"filemail://{tmp_path}/mail")

    config = env.env_email("EMAIL_URL", "dummymail://")

    assert config["EMAIL_FILE_PATH"] == f"{tmp_path}/mail"


def test_the_audit_keyring_is_generated_once_with_one_key(monkeypatch, tmp_path):
    monkeypatch.delenv("AUDIT_KEYS", raising=False)
    key_file = tmp_path / "var" / "audit_keys"

    first = env.env_keyring("AUDIT_KEYS", key_file)

    assert list(first) == ["k1"]
    assert len(first["k1"]) >= 32
    assert env.env_keyring("AUDIT_KEYS", key_file) == first
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_the_audit_keyring_lists_the_key_in_use_first(monkeypatch, tmp_path):
    monkeypatch.setenv("AUDIT_KEYS", f"2026-b={'b' * 40}==, 2026-a={'a' * 32}\n")

    keys = env.env_keyring("AUDIT_KEYS", tmp_path / "audit_keys")

    assert keys == {"2026-b": "b" * 40 + "==", "2026-a": "a" * 32}
    assert next(iter(keys)) == "2026-b"
    assert not (tmp_path / "audit_keys").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("s3cret-without-an-id-" * 3, "pair 1 is not"),
        (f"k1={'a' * 32},k1={'b' * 32}", "names the key 'k1' twice"),
        ("k1=short", "under 32 characters"),
        (f"a-key-id-far-too-long={'a' * 32}", "pair 1 is not"),
    ],
)
def test_a_malformed_audit_keyring_is_refused_without_showing_a_secret(
    monkeypatch, tmp_path, value, message
):
    monkeypatch.setenv("AUDIT_KEYS", value)

    with pytest.raises(ImproperlyConfigured, match=message) as refused:
        env.env_keyring("AUDIT_KEYS", tmp_path / "audit_keys")

    assert "s3cret" not in str(refused.value)
    assert "aaaa" not in str(refused.value)
