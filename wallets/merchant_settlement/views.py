"""Dashboard pages of merchant settlement: contracts with a form and a "run a cycle now"
button, the batches with their states, and a batch's page (figures, orders, events, the
signed statement). Thin views over the same services, selectors and presenters as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sandbox.errors import ApplicationError
from sandbox.events.selectors import event_list
from sandbox.tenants.access import TenantRequest
from sandbox.tenants.views import apply_form_errors, require_writer, tenant_page
from wallets import inputs
from wallets.banknet.models import AccountLink
from wallets.merchant_settlement import forms, presenters, selectors, services, statements
from wallets.merchant_settlement.models import SettlementBatch, SettlementContract
from wallets.selectors import account_get, open_accounts


def _terms(data: dict[str, Any], currency: str) -> services.Terms:
    return services.Terms(
        cycle=data["cycle"],
        delay_days=data["delay_days"],
        fee_rate_bps=data["fee_rate_bps"],
        fixed_fee=inputs.parse_typed_amount(
            data["fixed_fee"], currency, "fixed_fee", allow_zero=True
        ),
        minimum_payout=inputs.parse_typed_amount(
            data["minimum_payout"], currency, "minimum_payout", allow_zero=True
        ),
    )


def _save_contract(request: TenantRequest, data: dict[str, Any]) -> None:
    access = request.tenant_access
    account = account_get(tenant=access.tenant, account_id=data["account"])
    link = AccountLink.objects.select_related("bank_account__bank").get_for_tenant(
        access.tenant, data["link"]
    )
    assert account.wallet is not None  # account_get returns virtual accounts
    existing = SettlementContract.objects.filter(node_id=account.wallet.node_id).first()
    terms = _terms(data, account.currency)
    if existing is None:
        services.contract_create(
            actor=access.actor, node=account.wallet.node, account=account, link=link, terms=terms
        )
    elif existing.account_id != account.pk:
        raise ApplicationError("A contract keeps its account.", code="account_immutable")
    else:
        services.contract_update(actor=access.actor, contract=existing, link=link, terms=terms)


@tenant_page()
def settlement_home(request: TenantRequest) -> HttpResponseBase:
    access = request.tenant_access
    tenant = access.tenant
    form = forms.ContractForm(
        request.POST or None,
        accounts=open_accounts(tenant=tenant),
        links=AccountLink.objects.for_tenant(tenant)
        .filter(status=AccountLink.Status.VERIFIED)
        .select_related("node", "bank_account"),
    )
    if request.method == "POST":
        require_writer(request)
        if form.is_valid():
            try:
                _save_contract(request, form.cleaned_data)
            except ApplicationError as error:
                apply_form_errors(form, error)
            else:
                messages.success(request, "Settlement contract saved.")
                return redirect("settlement:home")
    filters = {
        "node": request.GET.get("node", "").strip(),
        "status": request.GET.get("status", "").strip(),
    }
    try:
        batches = selectors.batches(tenant=tenant, filters=filters)[:200]
        rows = [presenters.batch_json(batch) for batch in batches]
    except ApplicationError as error:
        messages.error(request, error.message)
        rows = []
    contracts = SettlementContract.objects.for_tenant(tenant).select_related("node")
    return render(
        request,
        "settlement/home.html",
        {
            "form": form,
            "contracts": [(c.node, presenters.contract_json(c)) for c in contracts],
            "rows": rows,
            "filters": filters,
            "statuses": SettlementBatch.Status.choices,
        },
    )


@require_POST
@tenant_page(write=True)
def run_now(request: TenantRequest, node_id: str) -> HttpResponseBase:
    tenant = request.tenant_access.tenant
    contract = selectors.contract_of_node(tenant=tenant, node_id=node_id)  # 404 for others
    try:
        batch = services.settlement_run_now(actor=request.tenant_access.actor, contract=contract)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("settlement:home")
    return redirect("settlement:batch", batch_id=batch.pk)


@tenant_page()
def batch_detail(request: TenantRequest, batch_id: str) -> HttpResponse:
    tenant = request.tenant_access.tenant
    batch = selectors.batch_get(tenant=tenant, batch_id=batch_id)
    items = batch.items.select_related("payment_request").order_by("occurred_at", "id")
    events = event_list(tenant=tenant, filters={"object_id": str(batch.pk)}).order_by(
        "-occurred_at", "-created_at"
    )
    signed = statements.statement_signature(statements.statement_csv(batch))
    return render(
        request,
        "settlement/batch.html",
        {
            "batch": presenters.batch_json(batch),
            "node": batch.node,
            "items": [presenters.item_json(item, batch.currency) for item in items],
            "events": events[:50],
            "signature": signed,
        },
    )


@tenant_page()
def statement_download(request: TenantRequest, batch_id: str) -> HttpResponse:
    batch = selectors.batch_get(tenant=request.tenant_access.tenant, batch_id=batch_id)
    content = statements.statement_csv(batch)
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="settlement-{batch.pk}.csv"'
    response["Statement-Signature"] = statements.statement_signature(content).jws
    return response
