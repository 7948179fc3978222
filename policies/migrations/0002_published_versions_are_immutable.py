"""Make published policy versions and their rules immutable in the database itself.

The models refuse to save or delete a published version or its rules, but ``QuerySet.update()``,
``bulk_create``, raw SQL and other programs sharing the database go around Python. On PostgreSQL,
row triggers refuse the same changes on every path:

- ``policies_policyversion``: no UPDATE or DELETE of a row whose stored ``published_at`` is set.
  Publishing is an UPDATE of a draft (``published_at`` NULL before), so it stays allowed; and
  since every later UPDATE is refused, the dates can never be moved or set back to NULL.
- ``policies_requesttyperule``, ``policies_retentionrule`` and ``policies_retentionexemption``:
  no INSERT, UPDATE or DELETE of a row that belongs (before or after the change) to a published
  version.

The triggers raise SQLSTATE 23000 (integrity_constraint_violation), which Django surfaces as
``django.db.IntegrityError`` with the message below. TRUNCATE is deliberately left alone: it is
what test databases and operators use to wipe everything, not an edit of one policy.

SQLite (the embedded default) has no such triggers here; the Python guards apply there.
"""

from django.db import migrations

FUNCTIONS_SQL = r"""
CREATE OR REPLACE FUNCTION policies_version_is_published(version bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM policies_policyversion WHERE id = version AND published_at IS NOT NULL
    )
$$;

CREATE OR REPLACE FUNCTION policies_refuse_published_version_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.published_at IS NOT NULL THEN
        RAISE EXCEPTION 'policy version % is published and cannot be changed (% refused)',
                OLD.id, TG_OP
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'Publish a new version instead.';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION policies_refuse_published_rule_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND policies_version_is_published(OLD.version_id) THEN
        RAISE EXCEPTION '% of policy version % is published and cannot be changed (% refused)',
                TG_TABLE_NAME, OLD.version_id, TG_OP
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'Publish a new version instead.';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND policies_version_is_published(NEW.version_id) THEN
        RAISE EXCEPTION '% of policy version % is published and cannot be changed (% refused)',
                TG_TABLE_NAME, NEW.version_id, TG_OP
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'Publish a new version instead.';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION policies_refuse_published_exemption_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    rule_version bigint;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT version_id INTO rule_version FROM policies_retentionrule WHERE id = OLD.rule_id;
        IF policies_version_is_published(rule_version) THEN
            RAISE EXCEPTION 'retention exemption of policy version % is published and cannot be changed (% refused)',
                    rule_version, TG_OP
                USING ERRCODE = 'integrity_constraint_violation',
                      HINT = 'Publish a new version instead.';
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT version_id INTO rule_version FROM policies_retentionrule WHERE id = NEW.rule_id;
        IF policies_version_is_published(rule_version) THEN
            RAISE EXCEPTION 'retention exemption of policy version % is published and cannot be changed (% refused)',
                    rule_version, TG_OP
                USING ERRCODE = 'integrity_constraint_violation',
                      HINT = 'Publish a new version instead.';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER policies_policyversion_frozen
    BEFORE UPDATE OR DELETE ON policies_policyversion
    FOR EACH ROW EXECUTE FUNCTION policies_refuse_published_version_change();

CREATE TRIGGER policies_requesttyperule_frozen
    BEFORE INSERT OR UPDATE OR DELETE ON policies_requesttyperule
    FOR EACH ROW EXECUTE FUNCTION policies_refuse_published_rule_change();

CREATE TRIGGER policies_retentionrule_frozen
    BEFORE INSERT OR UPDATE OR DELETE ON policies_retentionrule
    FOR EACH ROW EXECUTE FUNCTION policies_refuse_published_rule_change();

CREATE TRIGGER policies_retentionexemption_frozen
    BEFORE INSERT OR UPDATE OR DELETE ON policies_retentionexemption
    FOR EACH ROW EXECUTE FUNCTION policies_refuse_published_exemption_change();
"""

DROP_SQL = r"""
DROP TRIGGER IF EXISTS policies_retentionexemption_frozen ON policies_retentionexemption;
DROP TRIGGER IF EXISTS policies_retentionrule_frozen ON policies_retentionrule;
DROP TRIGGER IF EXISTS policies_requesttyperule_frozen ON policies_requesttyperule;
DROP TRIGGER IF EXISTS policies_policyversion_frozen ON policies_policyversion;
DROP FUNCTION IF EXISTS policies_refuse_published_exemption_change();
DROP FUNCTION IF EXISTS policies_refuse_published_rule_change();
DROP FUNCTION IF EXISTS policies_refuse_published_version_change();
DROP FUNCTION IF EXISTS policies_version_is_published(bigint);
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # No parameters: the SQL uses % in RAISE formats, which must not be read as placeholders.
        schema_editor.execute(FUNCTIONS_SQL, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("policies", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_triggers, drop_triggers, elidable=False),
    ]
