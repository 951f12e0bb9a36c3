"""Compute every subject's credit standing daily at 05:00 Asia/Seoul (django-celery-beat;
time, time zone and on/off are editable in the admin)."""

from django.db import migrations

from sandbox import beat


class Migration(migrations.Migration):
    dependencies = [
        ("credit", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        beat.schedule(
            beat.Periodic(
                "credit: daily credit standings",
                "wallets.credit.tasks.compute_daily_standings",
                beat.Crontab("0", "5"),
            )
        )
    ]
