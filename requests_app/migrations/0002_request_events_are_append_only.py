"""Make the audit trail append-only in the database itself.

``RequestEvent.save()`` and ``delete()`` refuse changes in Python, but ``QuerySet.update()``, raw
SQL and other programs sharing the database go around Python. On PostgreSQL a row trigger refuses
UPDATE and DELETE of ``requests_app_requestevent`` on every path, raising SQLSTATE 23000
(integrity_constraint_violation), which Django surfaces as ``django.db.IntegrityError``.

TRUNCATE is deliberately left alone: it is what test databases and operators use to wipe
everything, not an edit of one event. The hash chain (``verify_audit_chain``) catches what gets
past the trigger, e.g. a superuser who disables it.

SQLite (the embedded default) has no such trigger here; the Python guards apply there.
"""

from django.db import migrations

CREATE_SQL = r"""
CREATE OR REPLACE FUNCTION requests_app_refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'request event % is part of the audit trail and cannot be changed (% refused)',
            OLD.id, TG_OP
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'Append a new event instead.';
END
$$;

CREATE TRIGGER requests_app_requestevent_append_only
    BEFORE UPDATE OR DELETE ON requests_app_requestevent
    FOR EACH ROW EXECUTE FUNCTION requests_app_refuse_event_change();
"""

DROP_SQL = r"""
DROP TRIGGER IF EXISTS requests_app_requestevent_append_only ON requests_app_requestevent;
DROP FUNCTION IF EXISTS requests_app_refuse_event_change();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # No parameters, so the driver leaves the "%" placeholders of RAISE alone.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(CREATE_SQL)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):

    dependencies = [
        ("requests_app", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_trigger, drop_trigger, elidable=False),
    ]
