"""The system-task permissions of the roles: everyone who works on requests reads the tasks;
officers retry, reassign and close them. Frozen like 0002; ``roles_sync`` follows ``ROLES``.
"""

from django.db import migrations

AGENTS = "Support agents"
OFFICERS = "Privacy officers"
AUDITORS = "Auditors"

READING = ["systems.view_systemtask"]

GRANTS = {
    AGENTS: READING,
    OFFICERS: [*READING, "systems.change_systemtask"],
    AUDITORS: READING,
}


def _create_permissions(apps, alias):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after the last migration; the roles need them now.
    app_config = apps.get_app_config("systems")
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
        ("systems", "0003_system_tasks"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(grant, revoke, elidable=False),
    ]
