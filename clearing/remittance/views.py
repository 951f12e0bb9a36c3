"""Dashboard pages of remittances: the form and list, and a remittance's page that shows
each leg live (htmx polling). Thin views over the API's services and presenters."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render

from clearing.remittance import forms, presenters, selectors, services
from clearing.remittance.models import Remittance
from sandbox.errors import ApplicationError
from sandbox.events.selectors import event_list
from sandbox.tenants.access import TenantRequest
from sandbox.tenants.views import apply_form_errors, require_writer, tenant_page
from wallets import inputs
from wallets.form_once import form_once
from wallets.selectors import account_get, open_accounts

FINAL = (Remittance.Status.OUTGOING_PAYMENT_SENT, Remittance.Status.FUNDS_REFUNDED)


def _accounts(request: TenantRequest) -> Any:
    return (
        open_accounts(tenant=request.tenant_access.tenant)
        .filter(currency__in=["KRW", "USD", "JPY"])
        .exclude(customer_reference=services.TRANSIT_REFERENCE)
    )


@tenant_page()
def remittance_list(request: TenantRequest) -> HttpResponseBase:
    access = request.tenant_access
    form = forms.RemittanceForm(request.POST or None, accounts=_accounts(request))
    if request.method == "POST":
        require_writer(request)
        if form.is_valid():
            data = form.cleaned_data
            try:
                sender = account_get(tenant=access.tenant, account_id=data["sender_account"])
                beneficiary = account_get(
                    tenant=access.tenant, account_id=data["beneficiary_account"]
                )
                amount = inputs.parse_amount(data["amount"], sender.currency)

                def execute() -> tuple[int, dict[str, Any]]:
                    created = services.remittance_create(
                        tenant=access.tenant,
                        actor=access.actor,
                        request=services.RemittanceRequest(
                            sender_account=sender,
                            beneficiary_account=beneficiary,
                            amount=amount,
                            originator={"name": data["originator_name"]},
                            beneficiary={"name": data["beneficiary_name"]},
                            memo=data["memo"],
                            reference=data["reference"],
                        ),
                    )
                    return 201, presenters.remittance_json(created)

                body = {k: v for k, v in data.items() if k != "idempotency_key"}
                done = form_once(request, key=data["idempotency_key"], body=body, execute=execute)
            except ApplicationError as error:
                apply_form_errors(form, error)
            else:
                return redirect("remittance:detail", remittance_id=done["id"])
    rows = selectors.remittance_list(tenant=access.tenant)[:200]
    return render(
        request,
        "remittance/list.html",
        {"form": form, "rows": [presenters.remittance_json(r) for r in rows]},
    )


def _context(request: TenantRequest, remittance: Remittance) -> dict[str, Any]:
    events = event_list(
        tenant=request.tenant_access.tenant, filters={"object_id": str(remittance.pk)}
    ).order_by("-occurred_at", "-created_at")
    return {
        "remittance": presenters.remittance_json(remittance),
        "live": remittance.status not in FINAL,
        "events": events[:50],
    }


@tenant_page()
def remittance_detail(request: TenantRequest, remittance_id: str) -> HttpResponse:
    access = request.tenant_access
    remittance = selectors.remittance_get(tenant=access.tenant, remittance_id=remittance_id)
    context = _context(request, remittance)
    context["travel_rule"] = selectors.remittance_travel_rule(remittance=remittance)
    return render(request, "remittance/detail.html", context)


@tenant_page()
def remittance_legs(request: TenantRequest, remittance_id: str) -> HttpResponse:
    """The part of the remittance page that htmx polls until it is done."""
    remittance = selectors.remittance_get(
        tenant=request.tenant_access.tenant, remittance_id=remittance_id
    )
    return render(request, "remittance/_legs.html", _context(request, remittance))
