"""The export, erasure, retention and OpenDSR models leave requests_app for apps of their own.

Nothing in the database moves: the tables keep their names (each model pins ``db_table``), their
rows, constraints and triggers. Django's state forgets the models here (the new apps' ``0001``
migrations declared them), and the content types are relabelled, so every permission, every
group's grant of it (the staff roles) and every admin log entry follows the model to its app.
"""

from django.db import migrations

MOVED = {
    "exports": ["exportpackage", "exportlink", "exportdownload"],
    "retention": [
        "purgerun",
        "purgestep",
        "purgetarget",
        "retentionnotice",
        "closedrequestanonymisation",
    ],
    "erasure": ["erasureschedule", "erasurecertificate"],
    "opendsr": ["controller", "opendsrrequest", "opendsrcallback"],
}


def _relabel(apps, schema_editor, *, backwards: bool) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    LogEntry = apps.get_model("admin", "LogEntry")
    db = schema_editor.connection.alias
    for app_label, models in MOVED.items():
        source, target = ("requests_app", app_label) if not backwards else (app_label, "requests_app")
        for model in models:
            old = ContentType.objects.using(db).filter(app_label=source, model=model).first()
            if old is None:
                continue  # a fresh database: post_migrate creates the content type
            new = ContentType.objects.using(db).filter(app_label=target, model=model).first()
            if new is None:
                old.app_label = target
                old.save(update_fields=["app_label"])
                continue
            # Both exist (a half-finished earlier attempt): keep the target, move what points
            # at the old one to it, then drop the old one.
            taken = set(
                Permission.objects.using(db).filter(content_type=new).values_list("codename", flat=True)
            )
            for permission in Permission.objects.using(db).filter(content_type=old):
                if permission.codename in taken:
                    twin = Permission.objects.using(db).get(content_type=new, codename=permission.codename)
                    twin.group_set.add(*permission.group_set.all())
                    twin.user_set.add(*permission.user_set.all())
                    permission.delete()
                else:
                    permission.content_type = new
                    permission.save(update_fields=["content_type"])
            LogEntry.objects.using(db).filter(content_type=old).update(content_type=new)
            old.delete()


def forwards(apps, schema_editor) -> None:
    _relabel(apps, schema_editor, backwards=False)


def backwards(apps, schema_editor) -> None:
    _relabel(apps, schema_editor, backwards=True)


class Migration(migrations.Migration):

    dependencies = [
        ("requests_app", "0008_status_links_expire"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("exports", "0001_initial"),
        ("retention", "0001_initial"),
        ("erasure", "0001_initial"),
        ("opendsr", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='controller',
                    name='organization',
                ),
                migrations.RemoveField(
                    model_name='opendsrrequest',
                    name='controller',
                ),
                migrations.RemoveField(
                    model_name='erasurecertificate',
                    name='request',
                ),
                migrations.RemoveField(
                    model_name='erasurecertificate',
                    name='schedule',
                ),
                migrations.RemoveField(
                    model_name='erasureschedule',
                    name='approved_by',
                ),
                migrations.RemoveField(
                    model_name='erasureschedule',
                    name='request',
                ),
                migrations.RemoveField(
                    model_name='erasureschedule',
                    name='run',
                ),
                migrations.RemoveField(
                    model_name='exportdownload',
                    name='package',
                ),
                migrations.RemoveField(
                    model_name='exportlink',
                    name='package',
                ),
                migrations.RemoveField(
                    model_name='exportpackage',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='exportpackage',
                    name='delivered_by',
                ),
                migrations.RemoveField(
                    model_name='exportpackage',
                    name='request',
                ),
                migrations.RemoveField(
                    model_name='opendsrcallback',
                    name='opendsr_request',
                ),
                migrations.RemoveField(
                    model_name='opendsrrequest',
                    name='request',
                ),
                migrations.RemoveField(
                    model_name='purgerun',
                    name='organization',
                ),
                migrations.RemoveField(
                    model_name='purgerun',
                    name='parent',
                ),
                migrations.RemoveField(
                    model_name='purgerun',
                    name='rule',
                ),
                migrations.RemoveField(
                    model_name='purgetarget',
                    name='run',
                ),
                migrations.RemoveField(
                    model_name='purgestep',
                    name='run',
                ),
                migrations.RemoveField(
                    model_name='retentionnotice',
                    name='rule',
                ),
                migrations.DeleteModel(
                    name='ClosedRequestAnonymisation',
                ),
                migrations.DeleteModel(
                    name='Controller',
                ),
                migrations.DeleteModel(
                    name='ErasureCertificate',
                ),
                migrations.DeleteModel(
                    name='ErasureSchedule',
                ),
                migrations.DeleteModel(
                    name='ExportDownload',
                ),
                migrations.DeleteModel(
                    name='ExportLink',
                ),
                migrations.DeleteModel(
                    name='ExportPackage',
                ),
                migrations.DeleteModel(
                    name='OpenDSRCallback',
                ),
                migrations.DeleteModel(
                    name='OpenDSRRequest',
                ),
                migrations.DeleteModel(
                    name='PurgeTarget',
                ),
                migrations.DeleteModel(
                    name='PurgeRun',
                ),
                migrations.DeleteModel(
                    name='PurgeStep',
                ),
                migrations.DeleteModel(
                    name='RetentionNotice',
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
