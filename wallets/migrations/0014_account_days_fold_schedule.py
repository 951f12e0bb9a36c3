"""Fold the accounts' daily roll-up nightly at 00:40 Asia/Seoul (django-celery-beat; time,
time zone and on/off are editable in the admin): ``wallets.tasks.fold_account_days``."""

from django.db import migrations

from sandbox import beat


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0013_balance_check_planned_for_large_statements"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        beat.schedule(
            beat.Periodic(
                "wallets: fold the accounts' daily roll-up",
                "wallets.tasks.fold_account_days",
                beat.Crontab("40", "0"),
            )
        )
    ]
