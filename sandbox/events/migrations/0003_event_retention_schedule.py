"""Purge old events nightly at 04:30 Asia/Seoul (django-celery-beat; time, time zone and
on/off are editable in the admin). How old: ``SANDBOX_EVENT_RETENTION_DAYS``."""

from django.db import migrations

from sandbox import beat


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0002_list_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        beat.schedule(
            beat.Periodic(
                "events: purge old events", "events.purge_old_events", beat.Crontab("30", "4")
            )
        )
    ]
