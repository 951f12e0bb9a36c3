"""Purge expired idempotency keys nightly at 04:00 Asia/Seoul (django-celery-beat; time,
time zone and on/off are editable in the admin)."""

from django.db import migrations

from sandbox import beat


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0007_idempotency_key_age"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        beat.schedule(
            beat.Periodic(
                "wallets: purge expired idempotency keys",
                "wallets.tasks.purge_idempotency_keys",
                beat.Crontab("0", "4"),
            )
        )
    ]
