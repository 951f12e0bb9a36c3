"""Dashboard: a person's or a node's credit standing with the chart of its history, the
attestations and a "recompute now" button. The card is a fragment of its own, which the
person page and the node page load (htmx), so the platform's pages import nothing of
this app. Thin over the same selectors, services and presenters as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from sandbox.charts import Series, line_chart
from sandbox.errors import ApplicationError
from sandbox.identities.models import Person
from sandbox.tenants.access import TenantRequest
from sandbox.tenants.models import Node
from sandbox.tenants.views import tenant_page
from wallets.credit import presenters, selectors, services
from wallets.credit.models import CreditStanding

CHART_POINTS = 366


def _card_context(
    request: TenantRequest, *, person: Person | None = None, node: Node | None = None
) -> dict[str, Any]:
    history = selectors.history_of(person=person, node=node)
    access = request.tenant_access
    return {
        "person": person,
        "node": node,
        "subject_name": f"person {person.pk}" if person is not None else node.name if node else "",
        "current": presenters.standing_json(history[0]) if history else None,
        "history": [presenters.standing_json(s) for s in history[:30]],
        "chart": _chart(history[:CHART_POINTS]) if history else "",
        "attestations": [
            presenters.attestation_json(a)
            for a in selectors.attestations_of(person=person, node=node)
        ],
        "can_write": access.may_write,
    }


def _chart(history: list[CreditStanding]) -> SafeString:
    """The score over the subject's time, oldest first (``history`` is newest first)."""
    points = [(s.as_of, float(s.score)) for s in reversed(history)]
    return line_chart([Series("Score", points)], title="Credit score over time", unit="score")


@tenant_page()
def person_card(request: TenantRequest, person_id: str) -> HttpResponse:
    person = selectors.person_of(tenant=request.tenant_access.tenant, person_id=person_id)
    return render(request, "credit/_card.html", _card_context(request, person=person))


@tenant_page()
def node_card(request: TenantRequest, node_id: str) -> HttpResponse:
    node = selectors.node_of(tenant=request.tenant_access.tenant, node_id=node_id)
    return render(request, "credit/_card.html", _card_context(request, node=node))


@tenant_page()
def person_page(request: TenantRequest, person_id: str) -> HttpResponse:
    person = selectors.person_of(tenant=request.tenant_access.tenant, person_id=person_id)
    return render(request, "credit/standing.html", _card_context(request, person=person))


@tenant_page()
def node_page(request: TenantRequest, node_id: str) -> HttpResponse:
    node = selectors.node_of(tenant=request.tenant_access.tenant, node_id=node_id)
    return render(request, "credit/standing.html", _card_context(request, node=node))


@require_POST
@tenant_page(write=True)
def person_recompute(request: TenantRequest, person_id: str) -> HttpResponseBase:
    access = request.tenant_access
    person = selectors.person_of(tenant=access.tenant, person_id=person_id)
    _recompute(request, lambda: services.standing_recompute(actor=access.actor, person=person))
    return redirect("credit:person", person_id=person.pk)


@require_POST
@tenant_page(write=True)
def node_recompute(request: TenantRequest, node_id: str) -> HttpResponseBase:
    access = request.tenant_access
    node = selectors.node_of(tenant=access.tenant, node_id=node_id)
    _recompute(request, lambda: services.standing_recompute(actor=access.actor, node=node))
    return redirect("credit:node", node_id=node.pk)


def _recompute(request: TenantRequest, compute: Any) -> None:
    try:
        standing = compute()
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Credit standing recomputed: {standing.score}.")
