"""Parts of the tenant's pages that apps above this one draw: the overview's first-run
checklist, and on a node's page (the hub) its balances, money actions and webhooks. Apps
register a panel here in their ``AppConfig.ready()``; the page includes each panel's
template, so this app imports none of them (as ``sandbox.events.panels`` for clocks).

A panel's template is rendered with the page's context plus ``panel``: what its
``context(request, obj)`` returned; a panel whose context is None is not shown. Its links
and forms reach its own views by URL name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

PAGES = ("overview", "node")


@dataclass(frozen=True)
class PagePanel:
    page: str
    template: str
    context: Callable[[HttpRequest, Any], dict[str, Any] | None]
    order: int = 100  # lower first


_PANELS: list[PagePanel] = []


def page_panel(panel: PagePanel) -> PagePanel:
    """Register ``panel``; register in your AppConfig.ready(). Registering twice is a no-op."""
    if panel.page not in PAGES:
        raise ValueError(f"No page {panel.page!r} takes panels; use one of {PAGES}.")
    if panel not in _PANELS:
        _PANELS.append(panel)
    return panel


def page_panels(page: str, request: HttpRequest, obj: Any = None) -> list[dict[str, Any]]:
    """The panels of ``page`` that have something to show, each its template and context."""
    shown = []
    for panel in sorted((p for p in _PANELS if p.page == page), key=lambda p: p.order):
        context = panel.context(request, obj)
        if context is not None:
            shown.append({"template": panel.template, "context": context})
    return shown
