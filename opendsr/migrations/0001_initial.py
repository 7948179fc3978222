"""OpenDSR controllers, requests and callbacks move from requests_app to the opendsr app."""

import django.db.models.deletion
import opendsr.models
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('policies', '0002_published_versions_are_immutable'),
        ('requests_app', '0008_status_links_expire'),
    ]

    # The tables exist already (created by requests_app's migrations, under the same names):
    # only Django's picture of which app owns the models changes.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Controller',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200, verbose_name='name')),
                        ('identifier', models.SlugField(help_text='Returned to the controller as controller_id in every OpenDSR response.', max_length=60, unique=True, verbose_name='controller ID')),
                        ('callback_hosts', models.TextField(blank=True, help_text='One host name per line (e.g. dsr.merchant.example). Status callbacks go only to URLs on these hosts; a request naming another host is refused.', verbose_name='allowed callback hosts')),
                        ('is_active', models.BooleanField(default=True, help_text="An inactive controller's key is refused.", verbose_name='active')),
                        ('api_key_hash', models.CharField(default=opendsr.models._unusable_key_hash, editable=False, max_length=64, unique=True, verbose_name='API key hash')),
                        ('api_key_hint', models.CharField(blank=True, editable=False, max_length=12, verbose_name='API key starts with')),
                        ('key_issued_at', models.DateTimeField(blank=True, null=True, verbose_name='API key issued at')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
                        ('organization', models.ForeignKey(help_text='Whose policy the requests are handled under: ours, as the processor.', on_delete=django.db.models.deletion.PROTECT, related_name='opendsr_controllers', to='policies.organization', verbose_name='organisation')),
                    ],
                    options={
                        'verbose_name': 'OpenDSR controller',
                        'verbose_name_plural': 'OpenDSR controllers',
                        'db_table': 'requests_app_controller',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='OpenDSRRequest',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('subject_request_id', models.UUIDField(help_text="The controller's id for the request (UUID v4).", verbose_name='subject_request_id')),
                        ('regulation', models.CharField(choices=[('gdpr', 'GDPR'), ('ccpa', 'CCPA')], max_length=10, verbose_name='regulation')),
                        ('request_type', models.CharField(choices=[('access', 'access'), ('portability', 'portability'), ('erasure', 'erasure')], max_length=15, verbose_name='OpenDSR request type')),
                        ('identities', models.JSONField(default=list, verbose_name='subject identities')),
                        ('status_callback_urls', models.JSONField(blank=True, default=list, verbose_name='status callback URLs')),
                        ('api_version', models.CharField(blank=True, max_length=10, verbose_name='API version asked for')),
                        ('submitted_time', models.DateTimeField(verbose_name='submitted to the controller at')),
                        ('received_time', models.DateTimeField(verbose_name='received at')),
                        ('encoded_request', models.TextField(verbose_name='request as received (base64)')),
                        ('reported_status', models.CharField(choices=[('pending', 'pending'), ('in_progress', 'in progress'), ('completed', 'completed'), ('cancelled', 'cancelled')], default='pending', max_length=15, verbose_name='status last reported to the controller')),
                        ('cancelled_at', models.DateTimeField(blank=True, null=True, verbose_name='cancelled by the controller at')),
                        ('controller', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='requests', to='opendsr.controller', verbose_name='controller')),
                        ('request', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='opendsr', to='requests_app.subjectrequest', verbose_name='subject request')),
                    ],
                    options={
                        'verbose_name': 'OpenDSR request',
                        'verbose_name_plural': 'OpenDSR requests',
                        'db_table': 'requests_app_opendsrrequest',
                        'ordering': ['-received_time', '-pk'],
                    },
                ),
                migrations.CreateModel(
                    name='OpenDSRCallback',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('url', models.URLField(max_length=2000, verbose_name='callback URL')),
                        ('request_status', models.CharField(choices=[('pending', 'pending'), ('in_progress', 'in progress'), ('completed', 'completed'), ('cancelled', 'cancelled')], max_length=15, verbose_name='status reported')),
                        ('created_at', models.DateTimeField(verbose_name='created at')),
                        ('attempts', models.PositiveSmallIntegerField(default=0, verbose_name='attempts')),
                        ('last_attempt_at', models.DateTimeField(blank=True, null=True, verbose_name='last attempt at')),
                        ('response_status', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='last HTTP status')),
                        ('last_error', models.CharField(blank=True, max_length=300, verbose_name='last error')),
                        ('delivered_at', models.DateTimeField(blank=True, null=True, verbose_name='delivered at')),
                        ('opendsr_request', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='callbacks', to='opendsr.opendsrrequest', verbose_name='OpenDSR request')),
                    ],
                    options={
                        'verbose_name': 'OpenDSR status callback',
                        'verbose_name_plural': 'OpenDSR status callbacks',
                        'db_table': 'requests_app_opendsrcallback',
                        'ordering': ['-created_at', '-pk'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='opendsrrequest',
                    constraint=models.UniqueConstraint(fields=('controller', 'subject_request_id'), name='opendsr_request_unique_id_per_controller'),
                ),
            ],
            database_operations=[],
        ),
    ]
