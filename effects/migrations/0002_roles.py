"""The roles' permissions on the effects of rights and on policy announcements: officers and
auditors read the record of consent and restriction changes and the announcements sent; officers
lift restrictions. Frozen like systems 0004; ``roles_sync`` follows ``ROLES``.
"""

from django.db import migrations

OFFICERS = "Privacy officers"
AUDITORS = "Auditors"

READING = ["effects.view_consentchange", "announcements.view_announcement"]

GRANTS = {
    OFFICERS: [*READING, "effects.lift_restriction"],
    AUDITORS: READING,
}


def _create_permissions(apps, alias):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after the last migration; the roles need them now.
    for label in ("effects", "announcements"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=alias)
        app_config.models_module = None


def _permissions(apps, alias, names):
    Permission = apps.get_model("auth", "Permission")
    return [
        Permission.objects.using(alias).get(content_type__app_label=app_label, codename=codename)
        for app_label, codename in (name.split(".") for name in names)
    ]


def grant(apps, schema_editor):
    alias = schema_editor.connection.alias
    _create_permissions(apps, alias)
    Group = apps.get_model("auth", "Group")
    for name, names in GRANTS.items():
        group, _ = Group.objects.using(alias).get_or_create(name=name)
        group.permissions.add(*_permissions(apps, alias, names))


def revoke(apps, schema_editor):
    alias = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.using(alias).filter(name__in=list(GRANTS)):
        group.permissions.remove(*_permissions(apps, alias, GRANTS[group.name]))


class Migration(migrations.Migration):

    dependencies = [
        ("effects", "0001_initial"),
        ("announcements", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(grant, revoke, elidable=False),
    ]
