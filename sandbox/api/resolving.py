"""The API's routes, resolved once per path and process rather than on every request.

Django resolves a request's path by walking the URL patterns anew every time: for an API
path, the API's include, each app's include before the right one, then its patterns, a
``ResolverMatch`` built at each level (13 µs for ``/api/v1/nodes``, 24 µs for
``/api/v1/transfers``, the second app's). A process sees the same few paths over and over,
so ``RememberingResolver`` keeps the latest matches (a path that matches nothing is not
kept: its 404 is built anew). What it keeps is only read: the resolver above it builds each
request's own ``ResolverMatch`` from it, with copies of its arguments.
"""

from __future__ import annotations

import functools
from typing import Any

from django.urls import URLResolver, include
from django.urls.resolvers import ResolverMatch, RoutePattern

REMEMBERED_PATHS = 2048  # paths with ids are many: the least recently used go first


class RememberingResolver(URLResolver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._remembered = functools.lru_cache(maxsize=REMEMBERED_PATHS)(super().resolve)

    def resolve(self, path: Any) -> ResolverMatch:
        return self._remembered(str(path))  # str: as Django's (a lazy reverse, say)


def remembered_include(route: str, urlconf: str) -> RememberingResolver:
    """``path(route, include(urlconf))``, with its matches remembered."""
    urlconf_module, app_name, namespace = include(urlconf)
    return RememberingResolver(
        RoutePattern(route, is_endpoint=False),
        urlconf_module,
        app_name=app_name,
        namespace=namespace,
    )
