"""The panels this app draws into the tenants app's pages (``sandbox.tenants.panels``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from sandbox.tenants.models import Node
from sandbox.tenants.panels import PagePanel
from wallets.onboarding import selectors, views


def node_hub(request: HttpRequest, node: Node) -> dict[str, Any] | None:
    return {**selectors.hub(node), **views.checklist_context(request, node)}


PANELS = [
    PagePanel(
        page="overview",
        template="onboarding/_overview.html",
        context=views.overview_panel,
        order=10,
    ),
    PagePanel(page="node", template="onboarding/_hub.html", context=node_hub, order=10),
]
