"""The daily close at 00:05 Asia/Seoul, and the anchor check at 00:30, as django-celery-beat
periodic tasks: operators change time, time zone or switch them off in the admin."""

from django.db import migrations

from sandbox import beat


class Migration(migrations.Migration):
    dependencies = [
        ("clearing", "0003_job_dayclose_treechunk"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        beat.schedule(
            beat.Periodic(
                "clearing: daily close", "clearing.tasks.close_due_days", beat.Crontab("5", "0")
            ),
            beat.Periodic(
                "clearing: verify anchors", "clearing.tasks.verify_anchors", beat.Crontab("30", "0")
            ),
        )
    ]
