"""Strict readers for the environment variables that configure the project.

Every reader names the variable in its error, so a typo in a deployment fails at start-up with a
message that says what to fix instead of silently falling back to a default.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    """Return the variable's value, or the contents of the file that ``NAME_FILE`` names."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE points to {file_name!r}, which cannot be read: {exc.strerror}"
            ) from exc
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str) -> str:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be a boolean (one of: {', '.join(sorted(_TRUE | _FALSE))}), got {value!r}"
    )


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_database(name: str, default: str) -> dict[str, Any]:
    """Parse a database URL (``postgres://...`` or ``sqlite:////abs/path``) into Django's form."""
    url = env_str(name, default)
    if url.split(":", 1)[0] not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise ImproperlyConfigured(
            f"{name} must be a postgres://user:password@host:port/name or sqlite:///path URL, "
            f"got scheme {url.split(':', 1)[0]!r}"
        )
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # django-environ raises several types for malformed URLs
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} must name a database, got {url!r}")
    return config


def env_email(name: str, default: str) -> dict[str, Any]:
    """Parse an email URL (``smtp://``, ``smtp+tls://``, ``smtps://``, ``filemail://...``)."""
    url = env_str(name, default)
    scheme = url.split(":", 1)[0]
    if scheme not in environ.Env.EMAIL_SCHEMES:
        raise ImproperlyConfigured(
            f"{name} must use one of the schemes {', '.join(sorted(environ.Env.EMAIL_SCHEMES))}, "
            f"got {scheme!r}"
        )
    try:
        config = environ.Env.email_url_config(url)
    except Exception as exc:
        raise ImproperlyConfigured(f"{name} is not a valid email URL: {exc}") from None
    if scheme == "filemail":
        # django-environ drops the leading slash of an absolute path (filemail:///var/mail).
        config["EMAIL_FILE_PATH"] = urlsplit(url).path or None
        if not config["EMAIL_FILE_PATH"]:
            raise ImproperlyConfigured(f"{name} must name a directory: filemail:///path/to/mail")
    return config


def env_broker(name: str, default: str) -> str:
    url = env_str(name, default)
    scheme = url.split(":", 1)[0]
    if scheme not in {"redis", "rediss", "sqla+sqlite", "sqla+postgresql", "memory"}:
        raise ImproperlyConfigured(
            f"{name} must be a redis://host:port/db or sqla+sqlite:///path URL, "
            f"got scheme {scheme!r}"
        )
    return url


def secret_key(name: str, key_file: Path) -> str:
    """Return the secret key from the environment, or one generated once into ``key_file``."""
    value = _raw(name)
    if value is not None:
        if len(value) < 50:
            raise ImproperlyConfigured(f"{name} must be at least 50 characters long")
        return value
    return _generated_once(key_file, secrets.token_urlsafe(64))


_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,16}")


def env_keyring(name: str, key_file: Path) -> dict[str, str]:
    """Return ``{key id: secret}`` from ``id=secret`` pairs, the key in use first.

    The pairs are separated by commas or white space; without the variable they are read from
    ``key_file``, which is generated once with a key ``k1``. The older keys stay listed so that
    what they signed can still be checked.
    """
    value = _raw(name)
    if value is None:
        value = _generated_once(key_file, f"k1={secrets.token_urlsafe(48)}")
    keys: dict[str, str] = {}
    for pair in filter(None, re.split(r"[,\s]+", value)):
        key_id, equals, secret = pair.partition("=")
        if not equals or not _KEY_ID.fullmatch(key_id):
            # The message names the pair's position, never its text: it may be a secret.
            raise ImproperlyConfigured(
                f"{name} must be id=secret pairs separated by commas, each id 1 to 16 letters, "
                f"digits or . _ - (pair {len(keys) + 1} is not)"
            )
        if len(secret) < 32:
            raise ImproperlyConfigured(f"{name}: the secret of {key_id!r} is under 32 characters")
        if key_id in keys:
            raise ImproperlyConfigured(f"{name} names the key {key_id!r} twice")
        keys[key_id] = secret
    if not keys:
        raise ImproperlyConfigured(f"{name} must name at least one key as id=secret")
    return keys


def _generated_once(key_file: Path, value: str) -> str:
    """Return the contents of ``key_file``, writing ``value`` into it first if it is missing."""
    if key_file.exists():
        return key_file.read_text(encoding="utf-8").strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    # Written with owner-only permissions; O_EXCL makes two processes starting at once agree.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value
