"""Settle due windows at 00:20 Asia/Seoul, after the daily close (django-celery-beat;
editable in the admin)."""

from django.db import migrations

from sandbox import beat


class Migration(migrations.Migration):
    dependencies = [
        ("clearing", "0007_settlement"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        beat.schedule(
            beat.Periodic(
                "clearing: settle due windows",
                "clearing.tasks.settle_due_windows",
                beat.Crontab("20", "0"),
            )
        )
    ]
