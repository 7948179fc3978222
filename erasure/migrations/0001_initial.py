"""Erasure schedules and certificates move from requests_app to the erasure app."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('requests_app', '0008_status_links_expire'),
        ('retention', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # The tables exist already (created by requests_app's migrations, under the same names):
    # only Django's picture of which app owns the models changes.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ErasureCertificate',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('issued_at', models.DateTimeField(verbose_name='issued at')),
                        ('content', models.JSONField(verbose_name='certificate')),
                        ('sha256', models.CharField(max_length=64, verbose_name='SHA-256')),
                        ('sent_at', models.DateTimeField(blank=True, null=True, verbose_name='sent to the subject at')),
                        ('request', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='erasure_certificates', to='requests_app.subjectrequest', verbose_name='subject request')),
                    ],
                    options={
                        'verbose_name': 'erasure certificate',
                        'verbose_name_plural': 'erasure certificates',
                        'db_table': 'requests_app_erasurecertificate',
                        'ordering': ['-issued_at', '-pk'],
                    },
                ),
                migrations.CreateModel(
                    name='ErasureSchedule',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('scheduled', 'Scheduled (the subject can still cancel)'), ('cancelled', 'Cancelled'), ('running', 'Being erased'), ('done', 'Erased')], default='scheduled', max_length=15, verbose_name='status')),
                        ('approved_at', models.DateTimeField(verbose_name='approved at')),
                        ('execute_after', models.DateTimeField(help_text='The end of the grace period in which the subject can cancel.', verbose_name='runs after')),
                        ('deadline', models.DateTimeField(blank=True, null=True, verbose_name='request deadline')),
                        ('cancelled_at', models.DateTimeField(blank=True, null=True, verbose_name='cancelled at')),
                        ('started_at', models.DateTimeField(blank=True, null=True, verbose_name='started at')),
                        ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished at')),
                        ('approved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='approved by')),
                        ('request', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='erasure', to='requests_app.subjectrequest', verbose_name='subject request')),
                    ],
                    options={
                        'verbose_name': 'erasure',
                        'verbose_name_plural': 'erasures',
                        'db_table': 'requests_app_erasureschedule',
                        'ordering': ['execute_after', 'pk'],
                    },
                ),
    
                migrations.AddField(
                    model_name='erasureschedule',
                    name='run',
                    field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='erasure_schedule', to='retention.purgerun', verbose_name='purge run'),
                ),
                migrations.AddField(
                    model_name='erasurecertificate',
                    name='schedule',
                    field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='certificate', to='erasure.erasureschedule', verbose_name='erasure'),
                ),
                migrations.AddIndex(
                    model_name='erasureschedule',
                    index=models.Index(fields=['status', 'execute_after'], name='erasure_status_due'),
                ),
                migrations.AddConstraint(
                    model_name='erasureschedule',
                    constraint=models.CheckConstraint(condition=models.Q(('status__in', ['scheduled', 'cancelled', 'running', 'done'])), name='erasure_known_status'),
                ),
            ],
            database_operations=[],
        ),
    ]
