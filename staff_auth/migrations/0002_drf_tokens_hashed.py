"""DRF's plaintext tokens become hashed API tokens that expire; the plaintext is deleted.

An install from before staff_auth has DRF's ``authtoken_token`` table (the app is no longer
installed, so it is read with SQL). Each key is kept working as a token named "API token
(before hashing)" until ``API_TOKEN_DAYS`` from now: only its SHA-256 is stored, and the table
is emptied, so no usable key is left in the database. The empty table stays (dropping it would
leave DRF's migration records lying about it).
"""

import hashlib
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone
from django.utils.dateparse import parse_datetime

TABLE = "authtoken_token"
NAME = "API token (before hashing)"


def _aware(value):
    moment = value if isinstance(value, datetime) else parse_datetime(str(value))
    if moment is None:
        return timezone.now()
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def hash_drf_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("staff_auth", "ApiToken")
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id, created FROM authtoken_token")
        rows = cursor.fetchall()
        expires_at = timezone.now() + timedelta(days=getattr(settings, "API_TOKEN_DAYS", 90))
        ApiToken.objects.using(connection.alias).bulk_create(
            ApiToken(
                user_id=user_id,
                name=NAME,
                key_hash=hashlib.sha256(key.encode("utf-8")).hexdigest(),
                key_hint=key[:12],
                created_at=_aware(created),
                expires_at=expires_at,
            )
            for key, user_id, created in rows
        )
        cursor.execute("DELETE FROM authtoken_token")


class Migration(migrations.Migration):

    dependencies = [
        ("staff_auth", "0001_initial"),
    ]

    operations = [
        # Going back cannot bring the plaintext keys back: the tokens stay hashed.
        migrations.RunPython(hash_drf_tokens, migrations.RunPython.noop, elidable=False),
    ]
