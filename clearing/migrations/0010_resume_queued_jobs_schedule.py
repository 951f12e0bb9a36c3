"""Every minute, send again the clearing jobs still queued a while after they were sent (the
broker was down when they were queued): django-celery-beat, editable in the admin."""

from django.db import migrations

from sandbox import beat


class Migration(migrations.Migration):
    dependencies = [
        ("clearing", "0009_test_clock_closes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        beat.schedule(
            beat.Periodic(
                "clearing: resume queued jobs",
                "clearing.tasks.resume_queued_jobs",
                beat.Every(seconds=60),
            )
        )
    ]
