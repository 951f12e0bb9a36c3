"""Dashboard pages for wallets and the ledger: thin views over the API's selectors and
services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.middleware import HtmxDetails

from sandbox import labels
from sandbox.errors import ApplicationError
from sandbox.tenants.access import TenantRequest
from sandbox.tenants.models import Node
from sandbox.tenants.views import apply_form_errors, require_writer, tenant_page
from wallets import chart_data, exports, forms, inputs, presenters, selectors, services
from wallets.form_once import form_once
from wallets.models import Account, LedgerTransaction, Wallet


class _HtmxTenantRequest(TenantRequest):
    htmx: HtmxDetails  # set by django_htmx's middleware


@tenant_page()
def wallet_list(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant_access.tenant
    nodes = Node.objects.for_tenant(tenant).order_by("-is_active", "name")
    balances = selectors.balances_by_node(Account.objects.for_tenant(tenant))
    rows = [(node, balances.get(node.pk, [])) for node in nodes]
    totals = selectors.balances_by_currency(Account.objects.for_tenant(tenant))
    context = {"rows": rows, "totals": totals, "charts": chart_data.wallet_charts(tenant=tenant)}
    return render(request, "wallets/wallet_list.html", context)


@tenant_page()
def wallet_detail(request: TenantRequest, node_id: str) -> HttpResponseBase:
    access = request.tenant_access
    wallet = selectors.wallet_get_for_node(tenant=access.tenant, node_id=node_id)
    account_form = forms.AccountForm(request.POST or None)
    if request.method == "POST":
        require_writer(request)
        if account_form.is_valid():
            try:
                account = services.account_create(
                    wallet=wallet, actor=access.actor, **account_form.cleaned_data
                )
            except ApplicationError as error:
                apply_form_errors(account_form, error)
            else:
                messages.success(
                    request, f"Account “{account.name}” opened: {account.account_number}."
                )
                return redirect("wallets:wallet", node_id=wallet.node_id)
    context = _wallet_context(request, wallet)
    context["account_form"] = account_form
    context["charts"] = chart_data.wallet_charts(tenant=access.tenant, node_id=wallet.node_id)
    return render(request, "wallets/wallet_detail.html", context)


def _wallet_context(
    request: TenantRequest, wallet: Wallet, transfer_form: forms.TransferForm | None = None
) -> dict[str, Any]:
    tenant = request.tenant_access.tenant
    accounts = list(wallet.accounts.order_by("currency", "created_at"))
    open_accounts = (
        Account.objects.for_tenant(tenant)
        .filter(status="open")
        .only(*selectors.ACCOUNT_LABEL_FIELDS)
        .order_by("name")
    )
    return {
        "wallet": wallet,
        "node": wallet.node,
        "accounts": accounts,
        "balances": selectors.balances_by_currency(wallet.accounts.all()),
        "transfer_form": transfer_form or forms.TransferForm(accounts=open_accounts),
        "can_write": request.tenant_access.may_write,
    }


@require_POST
@tenant_page(write=True)
def transfer_create(request: _HtmxTenantRequest, node_id: str) -> HttpResponseBase:
    """The wallet page's transfer form (htmx swaps in the result; without JS, a redirect)."""
    access = request.tenant_access
    wallet = selectors.wallet_get_for_node(tenant=access.tenant, node_id=node_id)
    open_accounts = Account.objects.for_tenant(access.tenant).filter(status="open").order_by("name")
    form = forms.TransferForm(request.POST, accounts=open_accounts)
    result: dict[str, Any] | None = None  # the transaction as the API shows it
    if form.is_valid():
        data = form.cleaned_data
        body = {
            "source_account_id": data["source"],
            "destination_account_id": data["destination"],
            "amount": data["amount"],
            "memo": data["memo"],
        }
        try:
            accounts = selectors.accounts_by_id(
                tenant=access.tenant, ids={data["source"], data["destination"]}
            )
            body["currency"] = (
                accounts[data["source"]].currency if data["source"] in accounts else ""
            )
            body["amount"] = inputs.typed_amount(data["amount"])
            transfer = inputs.parse_transfer(body, accounts)

            def execute() -> tuple[int, dict[str, Any]]:
                posted = services.transfer_create(tenant=access.tenant, request=transfer)
                return 201, presenters.transaction_data(posted.transaction, posted.entries)

            result = form_once(request, key=data["idempotency_key"], body=body, execute=execute)
        except ApplicationError as error:
            apply_form_errors(form, error)
        else:
            form = forms.TransferForm(accounts=open_accounts)  # a fresh key for the next one
    if request.htmx:
        return render(
            request,
            "wallets/_transfer_form.html",
            {"transfer_form": form, "result": result, "node": wallet.node},
        )
    if result:
        messages.success(
            request, f"Transferred {result['amount']['amount']} {result['amount']['currency']}."
        )
    else:
        messages.error(request, "; ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect("wallets:wallet", node_id=wallet.node_id)


def _filled(query: QueryDict) -> dict[str, str]:
    """The parameters that have a value (the last one given, as ``query[key]`` reads),
    without the spaces people type around it (the API itself stays strict)."""
    return {key: value for key in query if (value := query.get(key, "").strip())}


@tenant_page()
def transaction_list(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant_access.tenant
    accounts = (
        Account.objects.for_tenant(tenant).only(*selectors.ACCOUNT_LABEL_FIELDS).order_by("name")
    )
    params = _filled(request.GET)
    form = forms.HistoryFilterForm(request.GET or None, accounts=accounts)
    rows: list[selectors.HistoryRow] = []
    next_cursor: str | None = None
    error: ApplicationError | None = None
    try:
        filters = selectors.history_filters(tenant=tenant, params=params)
        rows, next_cursor = selectors.history_page(
            tenant=tenant, filters=filters, cursor=params.get("cursor"), limit=50
        )
    except ApplicationError as exc:
        error = exc
    query = request.GET.copy()
    query.pop("cursor", None)
    export_query = query
    next_query = None
    if next_cursor:
        next_query = query.copy()
        next_query["cursor"] = next_cursor
    names = {a.pk: a for a in accounts}
    context = {
        "form": form,
        "rows": [(txn, [(e, names.get(e.account_id)) for e in entries]) for txn, entries in rows],
        "error": error,
        "next_url": f"?{next_query.urlencode()}" if next_query else None,
        "export_url": reverse("wallets:transactions-export") + f"?{export_query.urlencode()}",
    }
    # A refused filter (an impossible date, say) is the client's mistake: 400, with the page.
    return render(request, "wallets/transaction_list.html", context, status=400 if error else 200)


@tenant_page()
def transaction_export(request: TenantRequest) -> HttpResponseBase:
    tenant = request.tenant_access.tenant
    params = _filled(request.GET)
    try:
        filters = selectors.history_filters(tenant=tenant, params=params)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("wallets:transactions")
    return exports.csv_response(tenant=tenant, filters=filters)


@tenant_page()
def transaction_detail(request: TenantRequest, transaction_id: str) -> HttpResponse:
    tenant = request.tenant_access.tenant
    txn = selectors.transaction_get(tenant=tenant, transaction_id=transaction_id)
    entries = selectors.transaction_entries(txn)
    reversal = LedgerTransaction.objects.filter(reverses=txn).first()
    reversible = reversal is None and txn.reverses_id is None
    context = {
        "txn": txn,
        "kind_label": labels.transaction_label(txn.kind, txn.memo),
        "entries": entries,
        "reversal": reversal,
        "can_reverse": request.tenant_access.may_write and reversible,
    }
    return render(request, "wallets/transaction_detail.html", context)


@require_POST
@tenant_page(write=True)
def transaction_reverse(request: TenantRequest, transaction_id: str) -> HttpResponseBase:
    access = request.tenant_access
    txn = selectors.transaction_get(tenant=access.tenant, transaction_id=transaction_id)
    try:
        result = services.transaction_reverse(
            transaction_=txn, tenant=access.tenant, actor=access.actor
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("wallets:transaction", transaction_id=txn.uuid)
    messages.success(request, "Reversed.")
    return redirect("wallets:transaction", transaction_id=result.transaction.uuid)
