"""The panels this app draws into the tenants app's pages (``sandbox.tenants.panels``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from sandbox.tenants.models import Node
from sandbox.tenants.panels import PagePanel
from wallets.banknet import views as banknet_views
from wallets.onboarding import selectors, views


def node_hub(request: HttpRequest, node: Node) -> dict[str, Any] | None:
    """The node page as the hub: balances and account numbers, the webhook URL (edited in
    place) and the latest deliveries, and the money actions of the bank page."""
    actions = banknet_views.node_actions(request, node)  # type: ignore[arg-type]
    return {**selectors.hub(node), **views.checklist_context(request, node), **actions}


PANELS = [
    PagePanel(
        page="overview",
        template="onboarding/_overview.html",
        context=views.overview_panel,
        order=10,
    ),
    PagePanel(page="node", template="onboarding/_hub.html", context=node_hub, order=10),
]
