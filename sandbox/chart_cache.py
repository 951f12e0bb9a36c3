"""Charts drawn at most once a minute per page and viewer: a chart reads a month of the
ledger or of webhook attempts, which at a million transactions costs more than the rest of
its page. A figure a minute old is fine for a chart; the tables beside it stay live."""

from __future__ import annotations

from collections.abc import Callable

from django.core.cache import cache
from django.utils.safestring import SafeString, mark_safe

CHART_CACHE_SECONDS = 60


def cached_charts(key: str, build: Callable[[], list[SafeString]]) -> list[SafeString]:
    """``build()``'s charts, kept under ``key`` (which names the tenant, the page and the
    window) for ``CHART_CACHE_SECONDS``."""
    full_key = f"charts:{key}"
    markup = cache.get(full_key)
    if markup is None:
        markup = [str(chart) for chart in build()]
        cache.set(full_key, markup, CHART_CACHE_SECONDS)
    # Markup that sandbox.charts built and escaped, stored as plain strings.
    return [mark_safe(chart) for chart in markup]
