"""The rate table's first rows, read by ``services.pairs_seed`` (after a test database
flush, say). The data migration ``fx/0002_rate_table`` holds a copy, as migrations must
not change when this module does; a test checks that both agree."""

from __future__ import annotations

from datetime import UTC, datetime

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
SEED = 11
# code, base, quote, mid (quote per base), volatility, spread, fee (basis points)
PAIRS: tuple[tuple[str, str, str, str, int, int, int], ...] = (
    ("USD/KRW", "USD", "KRW", "1380.000000", 800, 50, 20),
    ("USD/JPY", "USD", "JPY", "150.0000000", 900, 50, 20),
    ("JPY/KRW", "JPY", "KRW", "9.200000000", 900, 60, 20),
    ("BTC/USD", "BTC", "USD", "95000.00000", 6000, 100, 30),
    ("BTC/KRW", "BTC", "KRW", "131100000.0", 6000, 100, 30),
    ("BTC/JPY", "BTC", "JPY", "14250000.00", 6000, 100, 30),
)
