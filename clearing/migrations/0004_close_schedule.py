"""The daily close at 00:05 Asia/Seoul, and the anchor check at 00:30, as django-celery-beat
periodic tasks: operators change time, time zone or switch them off in the admin."""

from django.db import migrations

CLOSE_TASK = "clearing: daily close"
VERIFY_TASK = "clearing: verify anchors"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minute in (
        (CLOSE_TASK, "clearing.tasks.close_due_days", "5"),
        (VERIFY_TASK, "clearing.tasks.verify_anchors", "30"),
    ):
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour="0",
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone="Asia/Seoul",
        )
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "crontab": schedule, "enabled": True}
        )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[CLOSE_TASK, VERIFY_TASK]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("clearing", "0003_job_dayclose_treechunk"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
