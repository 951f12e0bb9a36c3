"""A backup every night at 03:00 and a restore drill every Sunday at 04:00 (Asia/Seoul), as
django-celery-beat periodic tasks: operators change time or switch them off in the admin."""

from django.db import migrations

BACKUP_TASK = "recovery: nightly backup"
DRILL_TASK = "recovery: weekly restore drill"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, hour, day_of_week in (
        (BACKUP_TASK, "recovery.tasks.backup", "3", "*"),
        (DRILL_TASK, "recovery.tasks.restore_drill", "4", "0"),
    ):
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute="0",
            hour=hour,
            day_of_week=day_of_week,
            day_of_month="*",
            month_of_year="*",
            timezone="Asia/Seoul",
        )
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "crontab": schedule, "enabled": True}
        )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[BACKUP_TASK, DRILL_TASK]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
