"""Purge runs, steps, targets, notices and anonymisations move from requests_app to retention."""

import django.db.models.deletion
import django.utils.timezone
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
                    name='ClosedRequestAnonymisation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('anonymised_at', models.DateTimeField(verbose_name='anonymised at')),
                        ('request', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='anonymisation', to='requests_app.subjectrequest', verbose_name='subject request')),
                    ],
                    options={
                        'verbose_name': 'closed request anonymisation',
                        'verbose_name_plural': 'closed request anonymisations',
                        'db_table': 'requests_app_closedrequestanonymisation',
                    },
                ),
                migrations.CreateModel(
                    name='PurgeRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('retention', 'Retention rule'), ('erasure', 'Erasure request'), ('hold_release', 'End of a legal hold after an erasure')], max_length=15, verbose_name='kind')),
                        ('as_of', models.DateField(help_text="The day, on the organisation's calendar, the run counts from.", verbose_name='as of')),
                        ('triggered_by', models.CharField(max_length=150, verbose_name='started by')),
                        ('batch_size', models.PositiveIntegerField(verbose_name='batch size')),
                        ('position', models.PositiveSmallIntegerField(default=0, verbose_name='current phase')),
                        ('started_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='started at')),
                        ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished at')),
                        ('totals', models.JSONField(blank=True, default=dict, verbose_name='rows per model')),
                        ('retained', models.JSONField(blank=True, default=list, verbose_name='retained per model')),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='purge_runs', to='policies.organization', verbose_name='organisation')),
                        ('parent', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='releases', to='retention.purgerun', verbose_name='erasure run whose legal hold ended')),
                        ('rule', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='purge_runs', to='policies.retentionrule', verbose_name='retention rule')),
                    ],
                    options={
                        'verbose_name': 'purge run',
                        'verbose_name_plural': 'purge runs',
                        'db_table': 'requests_app_purgerun',
                        'ordering': ['-started_at', '-pk'],
                    },
                ),
                migrations.CreateModel(
                    name='PurgeStep',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('position', models.PositiveSmallIntegerField(verbose_name='phase')),
                        ('model_label', models.CharField(max_length=100, verbose_name='model')),
                        ('action', models.CharField(choices=[('delete', 'delete'), ('anonymise', 'anonymise'), ('retain', 'retain under a legal basis')], max_length=10, verbose_name='action')),
                        ('cutoff', models.DateField(blank=True, help_text='Rows whose retention clock started on or before this day are due.', null=True, verbose_name='cutoff')),
                        ('legal_basis', models.CharField(blank=True, max_length=300, verbose_name='exempt until its own period under')),
                        ('pk_from', models.BigIntegerField(verbose_name='from primary key')),
                        ('pk_to', models.BigIntegerField(verbose_name='to primary key')),
                        ('cursor', models.BigIntegerField(blank=True, null=True, verbose_name='done up to')),
                        ('planned', models.PositiveBigIntegerField(default=0, help_text='Rows due in the range when the run was planned.', verbose_name='rows planned')),
                        ('rows', models.PositiveBigIntegerField(default=0, verbose_name='rows')),
                        ('batches', models.PositiveIntegerField(default=0, verbose_name='batches')),
                        ('longest_batch_ms', models.PositiveIntegerField(default=0, verbose_name='longest batch (ms)')),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True, verbose_name='last batch at')),
                        ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished at')),
                        ('last_error', models.TextField(blank=True, verbose_name='last error')),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='steps', to='retention.purgerun', verbose_name='purge run')),
                    ],
                    options={
                        'verbose_name': 'purge step',
                        'verbose_name_plural': 'purge steps',
                        'db_table': 'requests_app_purgestep',
                        'ordering': ['run', 'position', 'pk_from'],
                    },
                ),
                migrations.CreateModel(
                    name='PurgeTarget',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('model_label', models.CharField(max_length=100, verbose_name='model')),
                        ('object_pk', models.BigIntegerField(verbose_name='primary key')),
                        ('action', models.CharField(choices=[('delete', 'delete'), ('anonymise', 'anonymise'), ('retain', 'retain under a legal basis')], max_length=10, verbose_name='action')),
                        ('legal_basis', models.CharField(blank=True, max_length=300, verbose_name='legal basis')),
                        ('retained_until', models.DateField(blank=True, null=True, verbose_name='retained until')),
                        ('released_at', models.DateTimeField(blank=True, null=True, verbose_name='hold ended at')),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='targets', to='retention.purgerun', verbose_name='purge run')),
                    ],
                    options={
                        'verbose_name': 'purge target',
                        'verbose_name_plural': 'purge targets',
                        'db_table': 'requests_app_purgetarget',
                    },
                ),
                migrations.CreateModel(
                    name='RetentionNotice',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('anchor_label', models.CharField(max_length=100, verbose_name='model')),
                        ('anchor_pk', models.BigIntegerField(verbose_name='primary key')),
                        ('purge_on', models.DateField(verbose_name='purge date')),
                        ('days_before', models.PositiveSmallIntegerField(verbose_name='days before')),
                        ('created_at', models.DateTimeField(verbose_name='created at')),
                        ('sent_at', models.DateTimeField(blank=True, null=True, verbose_name='sent at')),
                        ('recipients', models.PositiveSmallIntegerField(default=0, verbose_name='recipients')),
                        ('rule', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='notices', to='policies.retentionrule', verbose_name='retention rule')),
                    ],
                    options={
                        'verbose_name': 'retention notice',
                        'verbose_name_plural': 'retention notices',
                        'db_table': 'requests_app_retentionnotice',
                        'ordering': ['-created_at', '-pk'],
                    },
                ),
                migrations.AddIndex(
                    model_name='purgerun',
                    index=models.Index(fields=['finished_at'], name='purge_run_finished'),
                ),
                migrations.AddConstraint(
                    model_name='purgerun',
                    constraint=models.UniqueConstraint(condition=models.Q(('finished_at__isnull', True), ('rule__isnull', False)), fields=('kind', 'rule', 'as_of'), name='purge_run_one_open_per_rule_and_day'),
                ),
                migrations.AddIndex(
                    model_name='purgestep',
                    index=models.Index(fields=['run', 'position', 'finished_at'], name='purge_step_pending'),
                ),
                migrations.AddIndex(
                    model_name='purgetarget',
                    index=models.Index(fields=['run', 'model_label', 'action', 'object_pk'], name='purge_target'),
                ),
                migrations.AddIndex(
                    model_name='purgetarget',
                    index=models.Index(condition=models.Q(('action', 'retain'), ('released_at__isnull', True)), fields=['retained_until'], name='purge_target_held'),
                ),
                migrations.AddConstraint(
                    model_name='retentionnotice',
                    constraint=models.UniqueConstraint(fields=('rule', 'anchor_label', 'anchor_pk', 'purge_on', 'days_before'), name='retention_notice_once'),
                ),
            ],
            database_operations=[],
        ),
    ]
