"""Dashboard pages of FX: the rates (a chart over time) with a quote-and-convert form
(htmx, the result in place), and the operators' rate table and desk. Thin views over the
services, selectors and presenters the API uses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.middleware import HtmxDetails

from sandbox import charts, clock
from sandbox.currencies import AmountError, to_minor_units
from sandbox.errors import ApplicationError
from sandbox.tenants.access import TenantRequest, actor_for
from sandbox.tenants.models import Node
from sandbox.tenants.views import apply_form_errors, tenant_page
from wallets.form_once import form_once
from wallets.fx import api, forms, presenters, selectors, services
from wallets.fx.models import Quote
from wallets.models import Account
from wallets.selectors import account_get

HOURS = (1, 6, 24, 72)


class _HtmxTenantRequest(TenantRequest):
    htmx: HtmxDetails  # set by django_htmx's middleware


def _nodes(request: TenantRequest) -> Any:
    return Node.objects.for_tenant(request.tenant_access.tenant).filter(is_active=True)


def _accounts(request: TenantRequest, quote: Quote, currency: str, *, own_node: bool) -> Any:
    rows = Account.objects.for_tenant(request.tenant_access.tenant).filter(
        status=Account.Status.OPEN, currency=currency
    )
    if own_node:
        rows = rows.filter(wallet__node_id=quote.node_id)
    return rows.order_by("name")


def _convert_form(request: TenantRequest, quote: Quote, data: Any = None) -> forms.ConvertForm:
    return forms.ConvertForm(
        data,
        initial={"quote": quote.pk},
        sources=_accounts(request, quote, quote.source_currency, own_node=True),
        targets=_accounts(request, quote, quote.target_currency, own_node=False),
    )


def _chart(pair_code: str, hours: int, node: Node | None) -> dict[str, Any]:
    pair = selectors.pair_get(pair_code)
    end = clock.now(node_id=node.pk if node else None)
    series = selectors.pair_series(pair, start=end - timedelta(hours=hours), end=end)
    first = series[0][1]
    change = [(at, float((mid / first - 1) * 10_000)) for at, mid in series]
    return {
        "pair": pair,
        "first": presenters.rate_str(first),
        "last": presenters.rate_str(series[-1][1]),
        "chart": charts.line_chart(
            [charts.Series(pair.code, change)],
            title=f"{pair.code} mid rate over {hours} h: change from the start, in basis points",
            unit="bps",
        ),
    }


@tenant_page()
def rates(request: TenantRequest) -> HttpResponse:
    """The rate table now, a pair's chart, and the quote form."""
    tenant = request.tenant_access.tenant
    nodes = list(_nodes(request).order_by("name"))
    node = None
    if node_id := request.GET.get("node"):
        node = Node.objects.get_for_tenant(tenant, node_id)
    pair_code = request.GET.get("pair") or "USD-KRW"
    try:
        hours = int(request.GET.get("hours", "24"))
    except ValueError:
        hours = 24
    hours = hours if hours in HOURS else 24
    at = clock.now(node_id=node.pk if node else None)
    context = {
        "table": api.rates_json(at)["pairs"],
        "at": at,
        "nodes": nodes,
        "node": node,
        "hours": hours,
        "hour_choices": HOURS,
        "slugs": [presenters.pair_slug(p.code) for p in selectors.pairs()],
        "slug": presenters.pair_slug(pair_code),
        "quote_form": forms.QuoteForm(nodes=nodes),
        "conversions": [
            presenters.conversion_json(c) for c in selectors.conversions_for(tenant)[:20]
        ],
        **_chart(pair_code, hours, node),
    }
    return render(request, "fx/rates.html", context)


@require_POST
@tenant_page(write=True)
def quote(request: _HtmxTenantRequest) -> HttpResponseBase:
    """Lock a quote; the box shows it with the form that converts it."""
    access = request.tenant_access
    form = forms.QuoteForm(request.POST, nodes=_nodes(request))
    context: dict[str, Any] = {"quote_form": form}
    if form.is_valid():
        data = form.cleaned_data
        amount_field = "sell_amount" if data["side"] == "sell" else "buy_amount"
        currency = data["source_currency"] if data["side"] == "sell" else data["target_currency"]
        try:
            try:
                minor = to_minor_units(data["amount"], currency)
            except AmountError as error:
                raise ApplicationError(
                    error.message, code=error.code, fields={"amount": [error.message]}
                ) from None
            created = services.create_quote(
                tenant=access.tenant,
                node=Node.objects.get_for_tenant(access.tenant, data["node"]),
                source_currency=data["source_currency"],
                target_currency=data["target_currency"],
                lock_seconds=data["lock_seconds"],
                **{amount_field: minor},
            )
        except ApplicationError as error:
            if "amount" in error.fields or amount_field in error.fields:
                form.add_error("amount", error.message)
            else:
                apply_form_errors(form, error)
        else:
            context["quote"] = presenters.quote_json(created)
            context["convert_form"] = _convert_form(request, created)
    return _box(request, context)


@require_POST
@tenant_page(write=True)
def convert(request: _HtmxTenantRequest) -> HttpResponseBase:
    """Convert a quote (idempotent with the form's key); the box shows the conversion."""
    access = request.tenant_access
    quote_id = request.POST.get("quote", "")
    found = Quote.objects.get_for_tenant(access.tenant, quote_id)
    form = _convert_form(request, found, request.POST)
    context: dict[str, Any] = {"quote_form": forms.QuoteForm(nodes=_nodes(request))}
    if form.is_valid():
        data = form.cleaned_data
        body = {
            "quote_id": str(found.pk),
            "source_account_id": data["source_account"],
            "target_account_id": data["target_account"],
        }
        try:

            def execute() -> tuple[int, dict[str, Any]]:
                done = services.execute_quote(
                    found,
                    source_account=account_get(
                        tenant=access.tenant, account_id=data["source_account"]
                    ),
                    target_account=account_get(
                        tenant=access.tenant, account_id=data["target_account"]
                    ),
                )
                return 201, presenters.conversion_json(done)

            conversion = form_once(request, key=data["idempotency_key"], body=body, execute=execute)
        except ApplicationError as error:
            context["error"] = error
            form.add_error(None, f"{error.message} ({error.code})")
        else:
            context["conversion"] = conversion
    found.refresh_from_db()
    context["quote"] = presenters.quote_json(found)
    if "conversion" not in context:
        context["convert_form"] = form
    return _box(request, context)


def _box(request: _HtmxTenantRequest, context: dict[str, Any]) -> HttpResponseBase:
    if request.htmx:
        return render(request, "fx/_quote_box.html", context)
    if "conversion" in context:
        messages.success(request, "Converted.")
    elif "quote" in context and "error" not in context:
        messages.success(request, "Quoted: convert it from the box below before it expires.")
    else:
        form = context.get("convert_form") or context["quote_form"]
        messages.error(request, "; ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect("fx:rates")


# --- Operators ---------------------------------------------------------------------------------


@staff_member_required(login_url="login")
def operator(request: HttpRequest) -> HttpResponseBase:
    """The rate table (edit, pin, unpin, jump) and the desk's positions and P&L."""
    if request.method == "POST":
        return _operator_post(request)
    at = clock.now()
    rows = []
    for pair in selectors.pairs():
        edit = forms.PairForm(
            initial={
                "spread_bps": pair.spread_bps,
                "fee_bps": pair.fee_bps,
                "volatility_bps": pair.volatility_bps,
                "seed": pair.seed,
                "enabled": pair.enabled,
            },
            prefix=presenters.pair_slug(pair.code),
        )
        event = forms.RateEventForm(prefix=f"{presenters.pair_slug(pair.code)}-event")
        mid = selectors.pair_mid(pair, at)
        rows.append((presenters.pair_data(pair, mid_now=mid), edit, event))
    return render(request, "fx/operator.html", {"rows": rows, "desk": api.desk_json()})


def _operator_post(request: HttpRequest) -> HttpResponseBase:
    actor = actor_for(request)
    try:
        pair = selectors.pair_get(request.POST.get("pair", ""))
        slug = presenters.pair_slug(pair.code)
        if request.POST.get("form") == "event":
            event = forms.RateEventForm(request.POST, prefix=f"{slug}-event")
            if not event.is_valid():
                raise ApplicationError(event.errors.as_text(), code="invalid_form")
            value: Any = event.cleaned_data["value"] or None
            if event.cleaned_data["kind"] == "jump" and value is not None:
                value = int(value) if value.lstrip("-").isdigit() else value
            services.rate_event_create(
                pair=pair, actor=actor, kind=event.cleaned_data["kind"], value=value
            )
            messages.success(request, f"{pair.code}: {event.cleaned_data['kind']} recorded.")
        else:
            edit = forms.PairForm(request.POST, prefix=slug)
            if not edit.is_valid():
                raise ApplicationError(edit.errors.as_text(), code="invalid_form")
            changes = dict(edit.cleaned_data)
            if changes["mid"] is None or changes["mid"] == pair.mid:
                del changes["mid"]
            if changes["seed"] == pair.seed:
                del changes["seed"]
            services.pair_update(pair=pair, actor=actor, **changes)
            messages.success(request, f"{pair.code} saved.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("fx:operator")
