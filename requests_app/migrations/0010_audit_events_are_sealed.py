"""Audit events are sealed: each carries the HMAC of its hash under an audit key (``AUDIT_KEYS``).

The key lives outside the database, so whoever can switch off the append-only trigger (0002) can
still edit an event and recompute the SHA-256 chain, but cannot seal what they recomputed.

Every existing event is sealed here with the key in use, rather than left as an unsealed
"legacy" prefix of its chain, because sealing changes no hash: the chains, the heads and every
evidence record handed out before still match. A legacy prefix would instead be a door left
open: an attacker could strip the seals of any event and pass it off as legacy, and only a
checkpoint taken since could tell. The seal vouches for nothing more than the SHA-256 chain did:
a chain that was already broken stays broken (the hashes are recomputed when verifying).

On PostgreSQL the trigger refuses the UPDATE, so the migration (run by the tables' owner)
switches it off inside its own transaction and on again before committing; the ALTER TABLE lock
keeps every other session out meanwhile. The HMAC is written out here rather than imported from
``requests_app.audit`` so the migration keeps doing what it did whatever the code becomes.
"""

import hashlib
import hmac

from django.conf import settings
from django.db import migrations, models

TABLE = "requests_app_requestevent"
BATCH = 2000


def seal_existing_events(apps, schema_editor):
    RequestEvent = apps.get_model("requests_app", "RequestEvent")
    events = RequestEvent.objects.using(schema_editor.connection.alias)
    if not events.filter(seal="").exists():
        return
    key_id, secret = next(iter(settings.AUDIT_KEYS.items()))
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER requests_app_requestevent_append_only")
    last = 0
    while batch := list(events.filter(seal="", pk__gt=last).order_by("pk").only("pk", "hash")[:BATCH]):
        for event in batch:
            event.key_id = key_id
            event.seal = hmac.new(
                secret.encode("utf-8"), event.hash.encode("utf-8"), hashlib.sha256
            ).hexdigest()
        events.bulk_update(batch, ["key_id", "seal"])
        last = batch[-1].pk
    if postgresql:
        schema_editor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER requests_app_requestevent_append_only")


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0009_models_move_to_their_apps"),
    ]

    operations = [
        migrations.AddField(
            model_name="requestevent",
            name="key_id",
            field=models.CharField(default="", max_length=16, verbose_name="audit key"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="requestevent",
            name="seal",
            field=models.CharField(default="", max_length=64, verbose_name="seal"),
            preserve_default=False,
        ),
        migrations.RunPython(seal_existing_events, migrations.RunPython.noop, elidable=False),
    ]
