"""The rate table's first rows: six pairs over KRW, USD, JPY and BTC, anchored at
2026-01-01T00:00Z with seed 11, so that any day's rates replay the same everywhere until
an operator edits them (docs/fx.md, "Rates")."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import migrations

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
SEED = 11
# code, base, quote, mid (quote per base), volatility, spread, fee (basis points)
PAIRS = [
    ("USD/KRW", "USD", "KRW", "1380.000000", 800, 50, 20),
    ("USD/JPY", "USD", "JPY", "150.0000000", 900, 50, 20),
    ("JPY/KRW", "JPY", "KRW", "9.200000000", 900, 60, 20),
    ("BTC/USD", "BTC", "USD", "95000.00000", 6000, 100, 30),
    ("BTC/KRW", "BTC", "KRW", "131100000.0", 6000, 100, 30),
    ("BTC/JPY", "BTC", "JPY", "14250000.00", 6000, 100, 30),
]


def create(apps, schema_editor):
    Pair = apps.get_model("fx", "Pair")
    for code, base, quote, mid, volatility, spread, fee in PAIRS:
        Pair.objects.get_or_create(
            code=code,
            defaults={
                "base": base,
                "quote": quote,
                "mid": Decimal(mid),
                "anchored_at": ANCHOR,
                "seed": SEED,
                "volatility_bps": volatility,
                "spread_bps": spread,
                "fee_bps": fee,
                "updated_at": ANCHOR,
            },
        )


def remove(apps, schema_editor):
    apps.get_model("fx", "Pair").objects.filter(code__in=[p[0] for p in PAIRS]).delete()


class Migration(migrations.Migration):
    dependencies = [("fx", "0001_initial")]

    operations = [migrations.RunPython(create, remove)]
