"""Dashboard pages of escrows: the list of escrows and disputes (with a form to open an
escrow), and an escrow's page with its terms, hash, movements, dispute and events, and
the actions a tester takes from the browser. Thin views over the API's services."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sandbox.errors import ApplicationError
from sandbox.events.models import Event
from sandbox.tenants.access import TenantRequest
from sandbox.tenants.views import apply_form_errors, require_writer, run_and_flash, tenant_page
from wallets import inputs
from wallets.escrow import disputes, escrows, forms
from wallets.escrow.models import Escrow, EscrowDispute
from wallets.form_once import form_once, new_form_key
from wallets.selectors import account_get, open_accounts


def _once(request: TenantRequest, body: dict[str, str], execute: Callable[[], object]) -> str:
    """Run a money-moving action once per the form's key (like the API's header); a form
    without one (a hand-made POST) gets a key of its own. Returns the first run's answer."""
    key = request.POST.get("idempotency_key") or str(uuid.uuid4())
    return str(form_once(request, key=key, body=body, execute=lambda: (200, str(execute()))))


def _account_choices(request: TenantRequest) -> list[tuple[str, str]]:
    accounts = open_accounts(tenant=request.tenant_access.tenant)
    return [
        (str(a.pk), f"{a.wallet.node.name} · {a.name} ({a.currency})")  # type: ignore[union-attr]
        for a in accounts
    ]


def _create(request: TenantRequest, form: forms.EscrowForm) -> Escrow | None:
    if not form.is_valid():
        return None
    data = form.cleaned_data
    access = request.tenant_access
    try:
        payer = account_get(tenant=access.tenant, account_id=data["payer_account"])
        payee = account_get(tenant=access.tenant, account_id=data["payee_account"])
        amount = inputs.parse_typed_amount(data["amount"], payer.currency)
        fixed_fee = inputs.parse_typed_amount(
            data["fixed_fee"] or "0", payer.currency, "fixed_fee", allow_zero=True
        )

        def create() -> Escrow:
            escrow = escrows.escrow_create(
                tenant=access.tenant,
                actor=access.actor,
                payer_account=payer,
                payee_account=payee,
                amount=amount,
                currency=payer.currency,
                release_condition=data["release_condition"],
                timeout_seconds=data["timeout_seconds"],
                dispute_window_seconds=data["dispute_window_seconds"],
                fee_rate_bps=data["fee_rate_bps"],
                fixed_fee=fixed_fee,
                description=data["description"],
            )
            return escrow

        escrow_id = _once(request, {k: str(v) for k, v in data.items()}, lambda: create().pk)
    except ApplicationError as error:
        apply_form_errors(form, error)
        return None
    return Escrow.objects.get_for_tenant(access.tenant, escrow_id)


@tenant_page()
def escrow_list(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant_access.tenant
    form = forms.EscrowForm(request.POST or None, accounts=_account_choices(request))
    if request.method == "POST":
        require_writer(request)
        escrow = _create(request, form)
        if escrow is not None:
            messages.success(request, "Escrow opened: the amount is held on the payer's account.")
            return redirect("escrow:escrow", escrow_id=escrow.pk)
    status = request.GET.get("status") or ""
    rows = Escrow.objects.for_tenant(tenant).select_related("payer_node", "payee_node")
    if status:
        rows = rows.filter(status=status)
    context = {
        "form": form,
        "escrows": rows.order_by("-created_at")[:200],
        "disputes": EscrowDispute.objects.for_tenant(tenant)
        .select_related("escrow")
        .order_by("-opened_at")[:200],
        "statuses": Escrow.Status.choices,
        "status": status,
    }
    return render(request, "escrow/list.html", context)


@tenant_page()
def escrow_detail(request: TenantRequest, escrow_id: str) -> HttpResponse:
    tenant = request.tenant_access.tenant
    escrow = Escrow.objects.get_for_tenant(tenant, escrow_id)
    dispute = EscrowDispute.objects.filter(escrow=escrow).first()
    ids = [str(escrow.pk)] + ([str(dispute.pk)] if dispute else [])
    context = {
        "escrow": escrow,
        "dispute": dispute,
        "terms": json.dumps(escrow.terms, indent=2, sort_keys=True),
        "movements": escrow.movements.select_related("transaction", "fee_transaction").order_by(
            "id"
        ),
        "events": Event.objects.filter(tenant=tenant, object_id__in=ids)
        .select_related("node")
        .order_by("-occurred_at", "-created_at"),
        "problems": escrows.escrow_verify(escrow),
        "form_key": new_form_key(),
    }
    return render(request, "escrow/detail.html", context)


@require_POST
@tenant_page(write=True)
def escrow_action(request: TenantRequest, escrow_id: str, action: str) -> HttpResponse:
    access = request.tenant_access
    escrow = Escrow.objects.get_for_tenant(access.tenant, escrow_id)
    post = request.POST
    body = {"action": action, "amount": post.get("amount", ""), "reason": post.get("reason", "")}

    def release() -> None:
        amount = post.get("amount") or None
        parsed = None if amount is None else inputs.parse_typed_amount(amount, escrow.currency)
        _once(
            request,
            body,
            lambda: escrows.escrow_release(escrow=escrow, actor=access.actor, amount=parsed),
        )

    run: dict[str, tuple[Callable[[], Any], str]] = {
        "release": (release, "Released to the payee."),
        "refund": (
            lambda: _once(
                request, body, lambda: escrows.escrow_refund(escrow=escrow, actor=access.actor)
            ),
            "Refunded to the payer.",
        ),
        "dispute": (
            lambda: disputes.dispute_open(
                escrow=escrow, actor=access.actor, reason=post.get("reason", "")
            ),
            "Dispute opened: the money stays held until it is decided.",
        ),
    }
    if action not in run:
        messages.error(request, f"Unknown action {action!r}.")
    else:
        run_and_flash(request, *run[action], with_code=True)
    return redirect("escrow:escrow", escrow_id=escrow.pk)


@require_POST
@tenant_page(write=True)
def dispute_action(request: TenantRequest, dispute_id: str, action: str) -> HttpResponse:
    access = request.tenant_access
    dispute = EscrowDispute.objects.get_for_tenant(access.tenant, dispute_id)
    body = {"action": action, "evidence": request.POST.get("evidence", "")}

    def decide() -> str:
        return _once(
            request,
            body,
            lambda: disputes.dispute_decide_as_test_helper(
                dispute=dispute, action=action, actor=access.actor
            ),
        )

    run: dict[str, tuple[Callable[[], Any], str]] = {
        "evidence": (
            lambda: disputes.dispute_submit_evidence(
                dispute=dispute, actor=access.actor, evidence=request.POST.get("evidence", "")
            ),
            "Evidence submitted.",
        ),
        "win": (decide, "Decided for the payer: refunded."),
        "lose": (decide, "Decided for the payee: released."),
        "deadline": (decide, "Decided by the deadline rule."),
    }
    if action not in run:
        messages.error(request, f"Unknown action {action!r}.")
    else:
        run_and_flash(request, *run[action], with_code=True)
    return redirect("escrow:escrow", escrow_id=dispute.escrow_id)
