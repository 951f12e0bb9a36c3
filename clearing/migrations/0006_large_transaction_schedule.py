"""Anchor large inter-node transactions every 30 seconds (django-celery-beat; editable in
the admin)."""

from django.db import migrations

from sandbox import beat


class Migration(migrations.Migration):
    dependencies = [
        ("clearing", "0005_large_transaction_records"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        beat.schedule(
            beat.Periodic(
                "clearing: anchor large transactions",
                "clearing.tasks.anchor_large_transactions",
                beat.Every(seconds=30),
            )
        )
    ]
