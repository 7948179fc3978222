"""Export packages, links and downloads move from requests_app to the exports app."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('requests_app', '0008_status_links_expire'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # The tables exist already (created by requests_app's migrations, under the same names):
    # only Django's picture of which app owns the models changes.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ExportPackage',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('access', 'Copy of the data (access)'), ('portability', 'Machine-readable copy (portability)')], max_length=15, verbose_name='kind')),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('building', 'Building'), ('ready', 'Ready for review'), ('failed', 'Failed'), ('delivered', 'Delivered to the subject'), ('expired', 'Expired, file deleted'), ('discarded', 'Discarded, file deleted')], default='queued', max_length=15, verbose_name='status')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created at')),
                        ('attempts', models.PositiveSmallIntegerField(default=0, verbose_name='build attempts')),
                        ('started_at', models.DateTimeField(blank=True, null=True, verbose_name='last attempt started at')),
                        ('built_at', models.DateTimeField(blank=True, null=True, verbose_name='built at')),
                        ('failure', models.TextField(blank=True, help_text='Shown to staff only.', verbose_name='why the last attempt failed')),
                        ('partial_path', models.CharField(blank=True, max_length=300, verbose_name='file being written')),
                        ('file_path', models.CharField(blank=True, max_length=300, verbose_name='file')),
                        ('size', models.PositiveBigIntegerField(blank=True, null=True, verbose_name='size (bytes)')),
                        ('sha256', models.CharField(blank=True, max_length=64, verbose_name='SHA-256 of the file')),
                        ('row_counts', models.JSONField(blank=True, default=dict, editable=False, verbose_name='rows per category and model')),
                        ('total_rows', models.PositiveBigIntegerField(default=0, verbose_name='rows')),
                        ('delivered_at', models.DateTimeField(blank=True, null=True, verbose_name='delivered at')),
                        ('link_expires_at', models.DateTimeField(blank=True, null=True, verbose_name='link valid until')),
                        ('file_deleted_at', models.DateTimeField(blank=True, null=True, verbose_name='file deleted at')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='created by')),
                        ('delivered_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='delivered by')),
                        ('request', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='export_packages', to='requests_app.subjectrequest', verbose_name='subject request')),
                    ],
                    options={
                        'verbose_name': 'export package',
                        'verbose_name_plural': 'export packages',
                        'db_table': 'requests_app_exportpackage',
                        'ordering': ['-created_at', '-pk'],
                        'permissions': [('deliver_exportpackage', 'Can deliver an export package to the subject')],
                    },
                ),
                migrations.CreateModel(
                    name='ExportLink',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('token_hash', models.CharField(editable=False, max_length=64, unique=True, verbose_name='token hash')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created at')),
                        ('package', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='links', to='exports.exportpackage', verbose_name='export package')),
                    ],
                    options={
                        'verbose_name': 'export link',
                        'verbose_name_plural': 'export links',
                        'db_table': 'requests_app_exportlink',
                        'ordering': ['-created_at', '-pk'],
                    },
                ),
                migrations.CreateModel(
                    name='ExportDownload',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('route', models.CharField(choices=[('email_link', 'the link in the email'), ('status_page', "the request's status page")], max_length=15, verbose_name='opened from')),
                        ('started_at', models.DateTimeField(verbose_name='started at')),
                        ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished at')),
                        ('bytes_sent', models.PositiveBigIntegerField(default=0, verbose_name='bytes sent')),
                        ('completed', models.BooleanField(default=False, verbose_name='complete')),
                        ('package', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='downloads', to='exports.exportpackage', verbose_name='export package')),
                    ],
                    options={
                        'verbose_name': 'export download',
                        'verbose_name_plural': 'export downloads',
                        'db_table': 'requests_app_exportdownload',
                        'ordering': ['-started_at', '-pk'],
                    },
                ),
                migrations.AddIndex(
                    model_name='exportpackage',
                    index=models.Index(fields=['status', 'link_expires_at'], name='export_package_status_expiry'),
                ),
                migrations.AddConstraint(
                    model_name='exportpackage',
                    constraint=models.UniqueConstraint(condition=models.Q(('status__in', ('queued', 'building', 'ready', 'failed'))), fields=('request', 'kind'), name='export_package_one_in_the_works'),
                ),
                migrations.AddConstraint(
                    model_name='exportpackage',
                    constraint=models.CheckConstraint(condition=models.Q(('status__in', ['queued', 'building', 'ready', 'failed', 'delivered', 'expired', 'discarded'])), name='export_package_known_status'),
                ),
                migrations.AddConstraint(
                    model_name='exportpackage',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('status__in', ('ready', 'delivered')), _negated=True), models.Q(models.Q(('file_path', ''), _negated=True), ('size__isnull', False), ('built_at__isnull', False)), _connector='OR'), name='export_package_ready_has_file'),
                ),
                migrations.AddConstraint(
                    model_name='exportpackage',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('status__in', ('delivered', 'expired')), _negated=True), models.Q(('delivered_at__isnull', False), ('link_expires_at__isnull', False)), _connector='OR'), name='export_package_delivered_has_link'),
                ),
            ],
            database_operations=[],
        ),
    ]
