"""Status links expire: give those issued before they did the expiry they would get now.

Each status token without an expiry gets ``created_at + STATUS_LINK_DAYS``, so a link older than
that stops working and a newer one works until then, exactly as if it had been issued today.
Reversed, the expiries stay: the code before this migration honours them too.
"""

from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.db.models import F


def expire_status_links(apps, schema_editor):
    RequestToken = apps.get_model("requests_app", "RequestToken")
    RequestToken.objects.using(schema_editor.connection.alias).filter(
        purpose="status", expires_at__isnull=True
    ).update(expires_at=F("created_at") + timedelta(days=settings.STATUS_LINK_DAYS))


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0007_export_roles"),
    ]

    operations = [
        migrations.RunPython(expire_status_links, migrations.RunPython.noop, elidable=True),
    ]
