"""A backup every night at 03:00 and a restore drill every Sunday at 04:00 (Asia/Seoul), as
django-celery-beat periodic tasks: operators change time or switch them off in the admin."""

from django.db import migrations

from sandbox import beat


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        beat.schedule(
            beat.Periodic(
                "recovery: nightly backup", "recovery.tasks.backup", beat.Crontab("0", "3")
            ),
            beat.Periodic(
                "recovery: weekly restore drill",
                "recovery.tasks.restore_drill",
                beat.Crontab("0", "4", day_of_week="0"),
            ),
        )
    ]
