"""End of day: one statement per node-day, and a start for every existing node.

Nodes made from now on start their end of day in ``node_create``; those that exist get a
``banknet.end_of_day_start`` action, due now on their clock, whose handler schedules the
first close in node time (the beat sweep runs it within seconds).
"""

import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def start_existing_nodes(apps, schema_editor):
    from django.utils import timezone

    Node = apps.get_model("tenants", "Node")
    ScheduledAction = apps.get_model("events", "ScheduledAction")
    ClockAttachment = apps.get_model("events", "ClockAttachment")
    frozen = dict(ClockAttachment.objects.values_list("node_id", "clock__frozen_time"))
    for node in Node.objects.filter(is_active=True):
        ScheduledAction.objects.get_or_create(
            kind="banknet.end_of_day_start",
            key=f"eod-start:{node.pk}",
            defaults={
                "node": node,
                "tenant_id": node.tenant_id,
                "due_at": frozen.get(node.pk) or timezone.now(),
            },
        )


def unstart(apps, schema_editor):
    apps.get_model("events", "ScheduledAction").objects.filter(
        kind__in=["banknet.end_of_day_start", "banknet.end_of_day"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("banknet", "0002_seed_banks"),
        ("tenants", "0001_initial"),
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="EndOfDay",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "date",
                    models.DateField(help_text="The node's day that closed, in ``time_zone``."),
                ),
                ("time_zone", models.CharField(max_length=64)),
                (
                    "closed_at",
                    models.DateTimeField(help_text="Node time: the midnight that ended the day."),
                ),
                (
                    "statement",
                    models.JSONField(
                        default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder
                    ),
                ),
                ("totals", models.JSONField(default=dict)),
                (
                    "created_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                (
                    "node",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="end_of_days",
                        to="tenants.node",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenants.tenant",
                    ),
                ),
            ],
            options={
                "verbose_name": "end of day",
                "verbose_name_plural": "end of day",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("node", "date"), name="end_of_day_once_per_node_day"
                    )
                ],
            },
        ),
        migrations.RunPython(start_existing_nodes, unstart),
    ]
