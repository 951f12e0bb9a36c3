"""The banks of the simulated network. Korean banks under their real three-digit codes
(KFTC numbering); US banks under their ABA routing numbers; Japanese banks under their
Zengin codes. Operators edit hours, windows, delays and limits afterwards.

A frozen copy of the static table ``wallets.banks.NETWORK_BANKS`` as it stood: a migration
means the same thing forever, whatever the table becomes. tests/wallets/banknet/test_banks.py
checks that the two agree; a change to the table comes with a data migration of its own."""

from datetime import time

from django.db import migrations

KOREAN = dict(
    country="KR", currency="KRW", timezone="Asia/Seoul",
    opens_at=time(0, 0), closes_at=time(0, 0), business_days="0123456",
    maintenance_starts_at=time(23, 30), maintenance_ends_at=time(0, 30),
    processing_delay_seconds=5, daily_withdrawal_limit=50_000_000,
    account_number_min_length=10, account_number_max_length=14,
)  # fmt: skip
US = dict(
    country="US", currency="USD", timezone="America/New_York",
    opens_at=time(9, 0), closes_at=time(17, 0), business_days="01234",
    maintenance_starts_at=time(2, 0), maintenance_ends_at=time(3, 0),
    processing_delay_seconds=60, daily_withdrawal_limit=2_500_000,
    account_number_min_length=8, account_number_max_length=17,
)  # fmt: skip
JP = dict(
    country="JP", currency="JPY", timezone="Asia/Tokyo",
    opens_at=time(8, 30), closes_at=time(15, 30), business_days="01234",
    maintenance_starts_at=None, maintenance_ends_at=None,
    processing_delay_seconds=30, daily_withdrawal_limit=10_000_000,
    account_number_min_length=7, account_number_max_length=7,
)  # fmt: skip

BANKS = [
    ("004", "004", "KB Kookmin Bank", KOREAN),
    ("088", "088", "Shinhan Bank", KOREAN),
    ("081", "081", "Hana Bank", KOREAN),
    ("011", "011", "NH NongHyup Bank", KOREAN),
    ("020", "020", "Woori Bank", KOREAN),
    ("003", "003", "IBK Industrial Bank of Korea", KOREAN),
    ("021000021", "US1", "JPMorgan Chase Bank", US),
    ("026009593", "US2", "Bank of America", US),
    ("0005", "JP1", "MUFG Bank", JP),
    ("0001", "JP2", "Mizuho Bank", JP),
]


def seed(apps, schema_editor):
    Bank = apps.get_model("banknet", "Bank")
    for code, ledger_code, name, defaults in BANKS:
        Bank.objects.update_or_create(
            code=code, defaults={"ledger_code": ledger_code, "name": name, **defaults}
        )


def unseed(apps, schema_editor):
    apps.get_model("banknet", "Bank").objects.filter(code__in=[b[0] for b in BANKS]).delete()


class Migration(migrations.Migration):
    dependencies = [("banknet", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
