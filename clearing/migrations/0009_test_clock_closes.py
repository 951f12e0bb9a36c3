"""Test clock closes: ``ClockClose`` and its members, anchor blocks of kind "clock", and
jobs that belong to one tenant.

On SQLite, changing the anchor block kinds' CHECK rebuilds the table, which drops the
append-only trigger of migration 0002: it is made again once the table is rebuilt (in
either direction).
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

SQLITE_APPEND_ONLY = r"""
CREATE TRIGGER IF NOT EXISTS clearing_anchorblock_no_update BEFORE UPDATE ON clearing_anchorblock
BEGIN
    SELECT RAISE(ABORT, 'clearing_anchorblock is append-only: UPDATE refused');
END;
"""


def restore_sqlite_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_APPEND_ONLY, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('clearing', '0008_settlement_schedule'),
        ('events', '0001_initial'),
        ('tenants', '0001_initial'),
        ('wallets', '0006_late_entry_guard_planned_per_statement'),
    ]

    operations = [
        # Reversed last: the table has been rebuilt by then.
        migrations.RunPython(migrations.RunPython.noop, restore_sqlite_trigger),
        migrations.CreateModel(
            name='ClockClose',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(help_text="The clock's day, in the clearing time zone.")),
                ('sequence', models.PositiveIntegerField(help_text='0, 1, 2, … per clock.')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('closed', 'Closed')], default='pending', max_length=8)),
                ('leaf_count', models.PositiveIntegerField(default=0)),
                ('root', models.CharField(blank=True, help_text="Hex of the tree's root.", max_length=64)),
                ('node_ids', models.JSONField(blank=True, default=list, help_text="The clock's nodes when it closed (sorted UUIDs).")),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('closed_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['-day', '-sequence'],
            },
        ),
        migrations.CreateModel(
            name='ClockCloseTransaction',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveIntegerField()),
                ('leaf_hash', models.CharField(help_text='SHA-256(0x00 || leaf), hex.', max_length=64)),
            ],
        ),
        migrations.RemoveConstraint(
            model_name='anchorblock',
            name='anchorblock_kind_valid',
        ),
        migrations.AddField(
            model_name='job',
            name='tenant',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant'),
        ),
        migrations.AlterField(
            model_name='anchorblock',
            name='kind',
            field=models.CharField(choices=[('genesis', 'Genesis'), ('day', 'Daily close'), ('transaction', 'Large inter-node transaction'), ('clock', 'Test clock close')], max_length=16),
        ),
        migrations.AlterField(
            model_name='job',
            name='kind',
            field=models.CharField(choices=[('close', 'Daily close'), ('anchor', 'Large transaction anchoring'), ('settlement', 'Settlement'), ('verify', 'Anchor verification'), ('clock_close', 'Test clock close')], max_length=16),
        ),
        migrations.AddConstraint(
            model_name='anchorblock',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['genesis', 'day', 'transaction', 'clock'])), name='anchorblock_kind_valid'),
        ),
        migrations.AddField(
            model_name='clockclose',
            name='anchor',
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='clock_close', to='clearing.anchorblock'),
        ),
        migrations.AddField(
            model_name='clockclose',
            name='clock',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='closes', to='events.testclock'),
        ),
        migrations.AddField(
            model_name='clockclose',
            name='tenant',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='clock_closes', to='tenants.tenant'),
        ),
        migrations.AddField(
            model_name='clockclosetransaction',
            name='clock',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='events.testclock'),
        ),
        migrations.AddField(
            model_name='clockclosetransaction',
            name='close',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='members', to='clearing.clockclose'),
        ),
        migrations.AddField(
            model_name='clockclosetransaction',
            name='transaction',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='clock_closes', to='wallets.ledgertransaction'),
        ),
        migrations.AddConstraint(
            model_name='clockclose',
            constraint=models.UniqueConstraint(fields=('clock', 'day'), name='clockclose_one_per_day'),
        ),
        migrations.AddConstraint(
            model_name='clockclose',
            constraint=models.UniqueConstraint(fields=('clock', 'sequence'), name='clockclose_sequence'),
        ),
        migrations.AddConstraint(
            model_name='clockclose',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'closed'])), name='clockclose_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='clockclose',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'closed'), _negated=True), models.Q(('anchor__isnull', False), models.Q(('root', ''), _negated=True)), _connector='OR'), name='clockclose_closed_is_anchored'),
        ),
        migrations.AddConstraint(
            model_name='clockclosetransaction',
            constraint=models.UniqueConstraint(fields=('clock', 'transaction'), name='clockclosetransaction_once_per_clock'),
        ),
        migrations.AddConstraint(
            model_name='clockclosetransaction',
            constraint=models.UniqueConstraint(fields=('close', 'position'), name='clockclosetransaction_position'),
        ),
        # Applied last: the table has been rebuilt by then.
        migrations.RunPython(restore_sqlite_trigger, migrations.RunPython.noop),
    ]
