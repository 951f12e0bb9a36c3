"""Dashboard pages of push payments: the merchant's requests and checkout page (the QR,
turning "paid" live through htmx polling), and the payer's simulated wallet app, which
opens a QR's URL, checks the merchant's signature and approves. Thin views over the same
services and presenters as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from sandbox.errors import ApplicationError
from sandbox.events.selectors import event_list
from sandbox.nodekeys import selectors as key_selectors
from sandbox.nodekeys import services as key_services
from sandbox.tenants.access import TenantRequest
from sandbox.tenants.models import Node
from sandbox.tenants.views import apply_form_errors, require_writer, tenant_page
from wallets import inputs
from wallets.form_once import form_once
from wallets.payments import emvco, forms, presenters, public, services
from wallets.payments.models import PaymentRequest
from wallets.selectors import account_get, open_accounts


def _open_accounts(request: TenantRequest) -> Any:
    return open_accounts(tenant=request.tenant_access.tenant).filter(
        currency__in=list(emvco.NUMERIC_CURRENCY)
    )


def _get(request: TenantRequest, request_id: str) -> PaymentRequest:
    return PaymentRequest.objects.select_related("node", "transaction").get_for_tenant(
        request.tenant_access.tenant, request_id
    )


@tenant_page()
def request_list(request: TenantRequest) -> HttpResponseBase:
    access = request.tenant_access
    form = forms.PaymentRequestForm(request.POST or None, accounts=_open_accounts(request))
    if request.method == "POST":
        require_writer(request)
        if form.is_valid():
            data = form.cleaned_data
            try:
                account = account_get(tenant=access.tenant, account_id=data["account"])
                created = services.payment_request_create(
                    actor=access.actor,
                    account=account,
                    order_id=data["order_id"],
                    amount=inputs.parse_typed_amount(data["amount"], account.currency),
                    currency=account.currency,
                    description=data["description"],
                    expires_in=data["expires_in"],
                )
            except ApplicationError as error:
                apply_form_errors(form, error)
            else:
                return redirect("payments:checkout", request_id=created.pk)
    requests = (
        PaymentRequest.objects.for_tenant(access.tenant)
        .select_related("node", "transaction")
        .order_by("-created_at")[:200]
    )
    nodes = Node.objects.for_tenant(access.tenant).order_by("name")
    return render(
        request,
        "payments/request_list.html",
        {"form": form, "rows": [presenters.request_json(r) for r in requests], "nodes": nodes},
    )


@tenant_page()
def node_keys(request: TenantRequest, node_id: str) -> HttpResponseBase:
    """A node's signing keys (its JWKS); rotating makes a new one and retires the old."""
    access = request.tenant_access
    node = Node.objects.get_for_tenant(access.tenant, node_id)
    if request.method == "POST":
        require_writer(request)
        try:
            key = key_services.node_key_rotate(node=node, actor=access.actor)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"New active key {key.kid}; the old one is retired.")
        return redirect("payments:node-keys", node_id=node.pk)
    jwks = key_selectors.node_jwks(node)
    return render(request, "payments/node_keys.html", {"node": node, "keys": jwks["keys"]})


def _checkout_context(request: TenantRequest, payment: PaymentRequest) -> dict[str, Any]:
    events = event_list(
        tenant=request.tenant_access.tenant, filters={"object_id": str(payment.pk)}
    ).order_by("-occurred_at", "-created_at")
    return {
        "payment": presenters.request_json(payment),
        "merchant": payment.node,
        "events": events[:50],
        "refunds": [presenters.refund_json(r) for r in payment.refunds.order_by("created_at")],
    }


@tenant_page()
def checkout(request: TenantRequest, request_id: str) -> HttpResponse:
    payment = _get(request, request_id)
    context = _checkout_context(request, payment)
    # The QR, inline: segno draws modules only, no text of the payload reaches the page.
    context["qr_svg"] = mark_safe(public.qr_svg_inline(payment.qr_payload))
    context["refund_form"] = forms.RefundForm()
    return render(request, "payments/checkout.html", context)


@tenant_page()
def checkout_status(request: TenantRequest, request_id: str) -> HttpResponse:
    """The part of the checkout page that htmx polls until the order is paid."""
    payment = _get(request, request_id)
    return render(request, "payments/_status.html", _checkout_context(request, payment))


@require_POST
@tenant_page(write=True)
def refund(request: TenantRequest, request_id: str) -> HttpResponseBase:
    payment = _get(request, request_id)
    form = forms.RefundForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            amount = (
                inputs.parse_typed_amount(data["amount"], payment.currency)
                if data["amount"]
                else None
            )

            def execute() -> tuple[int, dict[str, Any]]:
                done = services.payment_refund(
                    request=payment,
                    actor=request.tenant_access.actor,
                    amount=amount,
                    reason=data["reason"],
                )
                return 201, presenters.refund_json(done)

            body = {"amount": data["amount"], "reason": data["reason"]}
            form_once(request, key=data["idempotency_key"], body=body, execute=execute)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Refunded.")
    return redirect("payments:checkout", request_id=payment.pk)


@require_POST
@tenant_page(write=True)
def cancel(request: TenantRequest, request_id: str) -> HttpResponseBase:
    payment = _get(request, request_id)
    try:
        services.payment_request_cancel(request=payment, actor=request.tenant_access.actor)
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("payments:checkout", request_id=payment.pk)


# --- The payer's wallet app -------------------------------------------------------------------


def _open_qr(payload: str) -> tuple[emvco.QrData, str]:
    """Decode the QR and fetch what its URL serves: the signed request, whose merchant
    signature is checked here, as a wallet app would. (The URL is this sandbox's own:
    reading it is reading the row the public URL serves.)"""
    try:
        data = emvco.parse(payload)
    except emvco.QrError as error:
        raise ApplicationError(error.message, code=error.code) from None
    request_id = presenters.request_id_of_url(data.url)
    served = PaymentRequest.objects.filter(pk=request_id).first() if request_id else None
    if served is None:
        raise ApplicationError(
            "The QR's URL serves no payment request of this sandbox.", code="unknown_qr_url"
        )
    services.request_verify(served.jws)  # 422 when the merchant's signature fails
    return data, served.jws


@tenant_page()
def payer_app(request: TenantRequest) -> HttpResponse:
    access = request.tenant_access
    payload = (request.POST.get("payload") or request.GET.get("payload") or "").strip()
    context: dict[str, Any] = {"payload": payload}
    if not payload:
        return render(request, "payments/payer.html", context)
    try:
        qr, request_jws = _open_qr(payload)
    except ApplicationError as error:
        context["error"] = error.message
        return render(request, "payments/payer.html", context)
    claims, _ = services.request_verify(request_jws)
    accounts = _open_accounts(request).filter(currency=claims.payload["currency"])
    form = forms.ApproveForm(
        request.POST if request.method == "POST" else None,
        accounts=accounts.exclude(pk=claims.payload["account"]),
        initial={"payload": payload},
    )
    context.update(qr=qr, claims=claims.payload, form=form, verified_kid=claims.kid)
    if request.method == "POST" and form.is_valid():
        require_writer(request)
        data = form.cleaned_data
        try:
            account = account_get(tenant=access.tenant, account_id=data["account"])

            def execute() -> tuple[int, dict[str, Any]]:
                assert account.wallet is not None
                authorization = services.payment_authorize(
                    tenant=access.tenant,
                    actor=access.actor,
                    payer_node=account.wallet.node,
                    account=account,
                    request_jws=request_jws,
                )
                # The wallet app hands the token to the merchant, whose server (simulated
                # here) presents it at once; API clients redeem it themselves.
                paid = services.payment_redeem(
                    request=authorization.request, token=authorization.jws, actor=access.actor
                )
                return 200, {"token": authorization.jws, **presenters.request_json(paid)}

            body = {"payload": payload, "account": data["account"]}
            context["paid"] = form_once(
                request, key=data["idempotency_key"], body=body, execute=execute
            )
        except ApplicationError as error:
            apply_form_errors(form, error)
    return render(request, "payments/payer.html", context)
