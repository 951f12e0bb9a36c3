"""Dashboard pages of the bank network: banks and simulated accounts, a node's bank page
(deposits, transfers, verification, withdrawals, card payments, tester controls), the
tester activity log and scenarios; for operators, the banks' settings. Thin views over
the services the API uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.middleware import HtmxDetails

from sandbox.currencies import to_decimal_string
from sandbox.errors import ApplicationError
from sandbox.tenants.access import TenantRequest, actor_for
from sandbox.tenants.models import AuditLogEntry, Node, Tenant
from sandbox.tenants.views import apply_form_errors, require_writer, run_and_flash, tenant_page
from wallets import inputs
from wallets.banknet import (
    bank_accounts,
    cards,
    deposits,
    forms,
    links,
    network_banks,
    scenario_data,
    scenarios,
    withdrawals,
)
from wallets.banknet.models import (
    AccountLink,
    Bank,
    BankAccount,
    BankOutage,
    CardPayment,
    Deposit,
    ScenarioRun,
    Withdrawal,
    WithdrawalRule,
)
from wallets.form_once import form_once
from wallets.models import Account
from wallets.selectors import account_get

NodeAction = Callable[[TenantRequest, Node], django_forms.Form | None]


class _HtmxRequest(TenantRequest):
    htmx: HtmxDetails  # set by django_htmx's middleware


# --- Banks and simulated bank accounts -------------------------------------------------------


@tenant_page()
def home(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant_access.tenant
    form = forms.BankAccountForm(request.POST or None)
    if request.method == "POST":
        require_writer(request)
        if form.is_valid():
            try:
                bank_accounts.bank_account_create(
                    tenant=tenant, actor=request.tenant_access.actor, **form.cleaned_data
                )
            except ApplicationError as error:
                apply_form_errors(form, error)
            else:
                messages.success(request, "Account opened.")
                return redirect("banknet:home")
    offline = set(
        BankOutage.objects.filter(tenant=tenant, ended_at__isnull=True).values_list(
            "bank_id", flat=True
        )
    )
    context = {
        "banks": [(bank, bank.is_online and bank.pk not in offline) for bank in Bank.objects.all()],
        "form": form,
        "bank_accounts": BankAccount.objects.for_tenant(tenant)
        .select_related("bank")
        .order_by("-created_at"),
        "nodes": Node.objects.for_tenant(tenant).filter(is_active=True).order_by("name"),
        **_home_lists(tenant),
    }
    return render(request, "banknet/home.html", context)


def _home_lists(tenant: Tenant) -> dict[str, Any]:
    return {
        "deposits": Deposit.objects.for_tenant(tenant)
        .select_related("sender")
        .order_by("-created_at")[:15],
        "withdrawals": Withdrawal.objects.for_tenant(tenant)
        .select_related("node")
        .order_by("-created_at")[:15],
    }


@tenant_page()
def home_live(request: TenantRequest) -> HttpResponse:
    """The recent deposits and withdrawals alone: the page polls them (htmx)."""
    return render(request, "banknet/_home_live.html", _home_lists(request.tenant_access.tenant))


@tenant_page()
def bank_account_detail(request: TenantRequest, bank_account_id: str) -> HttpResponse:
    tenant = request.tenant_access.tenant
    account = BankAccount.objects.get_for_tenant(tenant, bank_account_id)
    if request.method == "POST":
        require_writer(request)
        run_and_flash(
            request,
            lambda: bank_accounts.bank_account_close(
                bank_account=account, actor=request.tenant_access.actor
            ),
            "Account closed.",
        )
        return redirect("banknet:bank-account", bank_account_id=account.pk)
    lines = account.lines.order_by("-created_at", "-id")[:200]
    return render(request, "banknet/bank_account.html", {"account": account, "lines": lines})


@require_POST
@tenant_page(write=True)
def bank_toggle(request: TenantRequest, code: str, action: str) -> HttpResponse:
    access = request.tenant_access
    try:
        bank = network_banks.bank_get(code, "code")
    except ApplicationError:
        raise Http404(f"No bank with code {code}.") from None
    if action == "offline":
        run_and_flash(
            request,
            lambda: network_banks.tester_bank_offline(
                tenant=access.tenant, bank=bank, actor=access.actor
            ),
            f"{bank.name} is offline for your organization.",
        )
    elif action == "online":
        run_and_flash(
            request,
            lambda: network_banks.tester_bank_online(
                tenant=access.tenant, bank=bank, actor=access.actor
            ),
            f"{bank.name} is back; what waited for it goes through now.",
        )
    return redirect(request.POST.get("next") or "banknet:home")


# --- A node's bank page ----------------------------------------------------------------------


def _node_lists(tenant: Tenant, node: Node) -> dict[str, Any]:
    """What changes on its own on a node's bank page: balances, deposits, withdrawals."""
    accounts = (
        Account.objects.for_tenant(tenant)
        .filter(wallet__node=node, status="open")
        .order_by("created_at")
    )
    return {
        "node": node,
        "accounts": accounts,
        "deposits": Deposit.objects.for_tenant(tenant)
        .filter(Q(node=node) | Q(account__in=accounts))
        .select_related("sender")
        .order_by("-created_at")[:20],
        "withdrawals": Withdrawal.objects.for_tenant(tenant)
        .filter(node=node)
        .order_by("-created_at")[:20],
    }


def _senders(tenant: Tenant, node: Node) -> list[BankAccount]:
    """The simulated accounts a deposit can come from, the node's own sender first (in its
    currency, at a bank of its country), then the others in the node's currency."""
    senders = list(
        BankAccount.objects.for_tenant(tenant).filter(status="open").select_related("bank")
    )
    first = bank_accounts.node_sender_find(node)

    def rank(account: BankAccount) -> tuple[bool, bool]:
        return (account != first, account.currency != node.base_currency)

    return sorted(senders, key=rank)


def _deposit_form(tenant: Tenant, node: Node, accounts: Any) -> forms.DepositForm:
    """A fresh deposit form with its defaults: from the node's sender, to the node's own
    account in the sender's currency (its base currency first)."""
    senders = _senders(tenant, node)
    form = forms.DepositForm(senders=senders, accounts=accounts)
    sender = senders[0] if senders else None
    currency = sender.currency if sender is not None else node.base_currency
    to = next((a for a in accounts if a.currency == currency), None)
    form.initial.update(
        {"sender": str(sender.pk) if sender else "", "account": str(to.pk) if to else ""}
    )
    return form


def node_actions(
    request: TenantRequest, node: Node, bound: dict[str, django_forms.Form] | None = None
) -> dict[str, Any]:
    """The forms of a node's money actions (deposit, transfer, withdrawal, card): on its
    bank page, and on its hub (the node page), where they post here and show their result
    in place."""
    tenant = request.tenant_access.tenant
    accounts = _accounts(request, node).order_by("created_at")
    links = AccountLink.objects.for_tenant(tenant).filter(node=node).select_related("bank_account")
    verified = [link for link in links if link.status == AccountLink.Status.VERIFIED]
    bound = bound or {}
    return {
        "node": node,
        "links": links.order_by("-created_at"),
        "deposit_form": bound.get("deposit") or _deposit_form(tenant, node, accounts),
        "transfer_form": bound.get("transfer") or forms.TransferForm(accounts=accounts),
        "withdraw_form": bound.get("withdraw")
        or forms.WithdrawForm(accounts=accounts, links=verified),
        "card_form": bound.get("card") or forms.CardForm(accounts=accounts),
    }


def _node_context(
    request: TenantRequest, node: Node, bound: dict[str, django_forms.Form] | None = None
) -> dict[str, Any]:
    tenant = request.tenant_access.tenant
    lists = _node_lists(tenant, node)
    bound = bound or {}
    return {
        **lists,
        **node_actions(request, node, bound),
        "link_form": bound.get("link") or forms.LinkForm(),
        "fail_form": bound.get("fail") or forms.FailNextForm(),
        "delay_form": bound.get("delay") or forms.DelayNextForm(),
        "rules": WithdrawalRule.objects.for_tenant(tenant).filter(node=node, remaining__gt=0),
        "payments": CardPayment.objects.for_tenant(tenant)
        .filter(node=node)
        .order_by("-created_at")[:20],
    }


@tenant_page()
def node_bank(request: _HtmxRequest, node_id: str) -> HttpResponse:
    node = Node.objects.get_for_tenant(request.tenant_access.tenant, node_id)
    bound: dict[str, django_forms.Form] = {}
    if request.method == "POST":
        require_writer(request)
        action = request.POST.get("action", "")
        handler = NODE_ACTIONS.get(action)
        if handler is None:
            messages.error(request, f"Unknown action {action!r}.")
        else:
            form = handler(request, node)
            if request.htmx and action in IN_PLACE:
                return _action_in_place(request, node, action, form)
            if form is None:
                return redirect("banknet:node", node_id=node.pk)
            bound[action] = form
    return render(request, "banknet/node.html", _node_context(request, node, bound))


# The actions whose card swaps itself (htmx) with its result, on the bank page and the hub.
IN_PLACE = {
    "deposit": "deposit",
    "sender": "deposit",
    "transfer": "transfer",
    "withdraw": "withdraw",
}


def _action_in_place(
    request: _HtmxRequest, node: Node, action: str, form: django_forms.Form | None
) -> HttpResponse:
    """The action's card again, with the result where the button was: a fresh form after
    success (a new idempotency key), the bound one with its errors after a refusal; and
    the node's balances, swapped out of band."""
    card = IN_PLACE[action]
    bound = {card: form} if form is not None and card == action else None
    results = [(m.level_tag, m.message) for m in messages.get_messages(request)]
    context = {
        **node_actions(request, node, bound),
        **_node_lists(request.tenant_access.tenant, node),
        "action": card,
        "results": results,
        "out_of_band": True,
    }
    return render(request, "banknet/_action.html", context)


@tenant_page()
def node_live(request: TenantRequest, node_id: str) -> HttpResponse:
    """A node's deposits and withdrawals, and its balances (swapped out of band): the
    node's bank page polls them (htmx)."""
    tenant = request.tenant_access.tenant
    node = Node.objects.get_for_tenant(tenant, node_id)
    context = {**_node_lists(tenant, node), "out_of_band": True}
    return render(request, "banknet/_node_live.html", context)


def _accounts(request: TenantRequest, node: Node) -> QuerySet[Account]:
    return Account.objects.for_tenant(request.tenant_access.tenant).filter(
        wallet__node=node, status="open"
    )


def _money_action(
    request: TenantRequest,
    form: django_forms.Form,
    move: Callable[[Account, int, dict[str, Any]], Model],
    success: str = "",
) -> django_forms.Form | None:
    """What every money-moving form of a node's page does: a valid form gives an account
    and an amount; ``move(account, amount, data)`` runs once per the form's idempotency
    key (like the API's header) and returns what it made; a refusal shows on the form."""
    if not form.is_valid():
        return form
    data = form.cleaned_data
    try:
        account = account_get(tenant=request.tenant_access.tenant, account_id=data["account"])
        amount = inputs.parse_typed_amount(data["amount"], account.currency)
        form_once(
            request,
            key=data["idempotency_key"],
            body={k: str(v) for k, v in data.items()},
            execute=lambda: (200, str(move(account, amount, data).pk)),
        )
    except ApplicationError as error:
        apply_form_errors(form, error)
        return form
    if success:
        messages.success(request, success)
    return None


def _act_deposit(request: TenantRequest, node: Node) -> django_forms.Form | None:
    """Like ``POST /api/v1/test_helpers/deposits``: to one of the node's accounts (in its
    currency) or to any virtual account number (in the sender's currency); the service
    decides, and an unknown or closed account sends the money back."""
    tenant, actor = request.tenant_access.tenant, request.tenant_access.actor
    senders = BankAccount.objects.for_tenant(tenant).filter(status="open")
    form = forms.DepositForm(request.POST, senders=senders, accounts=_accounts(request, node))
    if not form.is_valid():
        return form
    data = form.cleaned_data
    try:
        sender = BankAccount.objects.get_for_tenant(tenant, data["sender"])
        if data["account"]:
            account = account_get(tenant=tenant, account_id=data["account"])
            bank_code, number, currency = (
                account.bank_code,
                account.account_number,
                account.currency,
            )
        else:
            bank_code, number, currency = data["bank_code"], data["account_number"], sender.currency
        amount = inputs.parse_typed_amount(data["amount"], currency)

        def deposit() -> tuple[int, str]:
            sent = deposits.tester_deposit(
                tenant=tenant,
                actor=actor,
                sender=sender,
                bank_code=bank_code,
                account_number=number,
                amount=amount,
                currency=currency,
                memo=data["memo"],
                delay_seconds=data["delay_seconds"],
            )
            return 200, str(sent.pk)

        body = {k: str(v) for k, v in data.items()}
        form_once(request, key=data["idempotency_key"], body=body, execute=deposit)
    except ApplicationError as error:
        apply_form_errors(form, error)
        return form
    messages.success(
        request,
        "Deposit sent; the bank credits it after its delay, or sends it back if it cannot.",
    )
    return None


def _act_transfer(request: TenantRequest, node: Node) -> django_forms.Form | None:
    form = forms.TransferForm(request.POST, accounts=_accounts(request, node))

    def move(account: Account, amount: int, data: dict[str, Any]) -> Withdrawal:
        return withdrawals.withdrawal_create(
            actor=request.tenant_access.actor,
            account=account,
            amount=amount,
            currency=account.currency,
            memo=data["memo"],
            bank_code=data["bank_code"],
            account_number=data["account_number"],
            holder_name=data["holder_name"],
        )

    return _money_action(
        request, form, move, "Transfer sent: the amount is held until the bank answers."
    )


def _act_link(request: TenantRequest, node: Node) -> django_forms.Form | None:
    form = forms.LinkForm(request.POST)
    if not form.is_valid():
        return form
    try:
        links.account_link_start(node=node, actor=request.tenant_access.actor, **form.cleaned_data)
    except ApplicationError as error:
        apply_form_errors(form, error)
        return form
    messages.success(request, "1 KRW sent. The code is on that account's statement.")
    return None


def _act_confirm(request: TenantRequest, node: Node) -> django_forms.Form | None:
    form = forms.ConfirmForm(request.POST)
    if form.is_valid():
        link = AccountLink.objects.get_for_tenant(
            request.tenant_access.tenant, form.cleaned_data["link"]
        )
        run_and_flash(
            request,
            lambda: links.account_link_confirm(
                link=link, code=form.cleaned_data["code"], actor=request.tenant_access.actor
            ),
            "Account verified.",
        )
    return None


def _act_withdraw(request: TenantRequest, node: Node) -> django_forms.Form | None:
    tenant = request.tenant_access.tenant
    links = AccountLink.objects.for_tenant(tenant).filter(node=node, status="verified")
    form = forms.WithdrawForm(request.POST, accounts=_accounts(request, node), links=links)

    def move(account: Account, amount: int, data: dict[str, Any]) -> Withdrawal:
        link = AccountLink.objects.select_related("bank_account__bank").get(
            pk=AccountLink.objects.get_for_tenant(tenant, data["link"]).pk
        )
        return withdrawals.withdrawal_create(
            actor=request.tenant_access.actor,
            account=account,
            amount=amount,
            currency=account.currency,
            link=link,
        )

    return _money_action(request, form, move, "Withdrawal sent.")


def _act_card(request: TenantRequest, node: Node) -> django_forms.Form | None:
    form = forms.CardForm(request.POST, accounts=_accounts(request, node))
    outcome: dict[str, CardPayment] = {}

    def move(account: Account, amount: int, data: dict[str, Any]) -> CardPayment:
        outcome["payment"] = cards.card_authorize(
            actor=request.tenant_access.actor,
            account=account,
            amount=amount,
            currency=account.currency,
            card_number=data["card_number"],
            exp_month=data["exp_month"],
            exp_year=data["exp_year"],
            cvc=data["cvc"],
        )
        return outcome["payment"]

    refused = _money_action(request, form, move)
    payment = outcome.get("payment")
    if payment is not None and payment.status == CardPayment.Status.DECLINED:
        messages.error(request, f"Declined: {payment.decline_code}.")
    elif payment is not None:
        messages.success(request, f"Card payment {payment.get_status_display().lower()}.")
    return refused


def _act_rule(request: TenantRequest, node: Node, action: str) -> django_forms.Form | None:
    form = (forms.FailNextForm if action == "fail" else forms.DelayNextForm)(request.POST)
    if not form.is_valid():
        return form
    data = form.cleaned_data
    try:
        withdrawals.tester_withdrawal_rule(
            node=node,
            actor=request.tenant_access.actor,
            action=action,
            count=data["count"],
            reason=data.get("reason", ""),
            delay_seconds=data.get("seconds", 0),
        )
    except ApplicationError as error:
        apply_form_errors(form, error)
        return form
    messages.success(request, "Rule set for the next withdrawals.")
    return None


def _act_sender(request: TenantRequest, node: Node) -> django_forms.Form | None:
    """Open the node's simulated sender (the deposit form's "From" has none yet)."""
    run_and_flash(
        request,
        lambda: bank_accounts.node_sender_open(node=node, actor=request.tenant_access.actor),
        "A simulated customer is ready to deposit.",
    )
    return None


NODE_ACTIONS: dict[str, NodeAction] = {
    "deposit": _act_deposit,
    "sender": _act_sender,
    "transfer": _act_transfer,
    "link": _act_link,
    "confirm": _act_confirm,
    "withdraw": _act_withdraw,
    "card": _act_card,
    "fail": lambda request, node: _act_rule(request, node, "fail"),
    "delay": lambda request, node: _act_rule(request, node, "delay"),
}


@require_POST
@tenant_page(write=True)
def withdrawal_return(request: TenantRequest, withdrawal_id: str) -> HttpResponse:
    access = request.tenant_access
    withdrawal = Withdrawal.objects.get_for_tenant(access.tenant, withdrawal_id)
    reason = request.POST.get("reason") or Withdrawal.FailureReason.ACCOUNT_CLOSED
    run_and_flash(
        request,
        lambda: withdrawals.withdrawal_return(
            withdrawal=withdrawal, actor=access.actor, reason=reason
        ),
        "The bank sent it back; the ledger reversed the payment.",
    )
    return redirect("banknet:node", node_id=withdrawal.node_id)


@require_POST
@tenant_page(write=True)
def card_action(request: TenantRequest, payment_id: str, action: str) -> HttpResponse:
    access = request.tenant_access
    payment = CardPayment.objects.get_for_tenant(access.tenant, payment_id)
    amount = None
    if request.POST.get("amount"):
        try:
            amount = inputs.parse_typed_amount(request.POST["amount"], payment.currency)
        except ApplicationError as error:
            messages.error(request, error.message)
            return redirect("banknet:node", node_id=payment.node_id)
    run = {
        "capture": lambda: cards.card_capture(payment=payment, actor=access.actor, amount=amount),
        "refund": lambda: cards.card_refund(payment=payment, actor=access.actor, amount=amount),
        "cancel": lambda: cards.card_cancel(payment=payment, actor=access.actor),
        "pass": lambda: cards.card_challenge(payment=payment, passed=True, actor=access.actor),
        "fail": lambda: cards.card_challenge(payment=payment, passed=False, actor=access.actor),
    }.get(action)
    if run is None:
        messages.error(request, f"Unknown action {action!r}.")
    else:
        run_and_flash(request, run, f"Card payment: {action} done.")
    return redirect("banknet:node", node_id=payment.node_id)


# --- Tester activity and scenarios -----------------------------------------------------------


@tenant_page()
def scenario_list(request: TenantRequest) -> HttpResponse:
    access = request.tenant_access
    form = forms.ScenarioForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        require_writer(request)
        if form.is_valid():
            try:
                run = scenarios.scenario_run(
                    tenant=access.tenant, actor=access.actor, source=form.cleaned_data["source"]
                )
            except ApplicationError as error:
                apply_form_errors(form, error)
            else:
                return redirect("banknet:scenario", run_id=run.pk)

    context = {
        "form": form,
        "runs": ScenarioRun.objects.for_tenant(access.tenant).order_by("-created_at")[:30],
        "activity": AuditLogEntry.objects.for_tenant(access.tenant)
        .filter(Q(action__startswith="test_helper.") | Q(action="event.refired"))
        .order_by("-created_at")[:50],
    }
    return render(request, "banknet/scenarios.html", context)


@tenant_page()
def scenario_detail(request: TenantRequest, run_id: str) -> HttpResponse:
    run = ScenarioRun.objects.get_for_tenant(request.tenant_access.tenant, run_id)
    context = {
        "run": run,
        "text": scenarios.report_text(run),
        "data": scenario_data.scenario_data(run),
    }
    return render(request, "banknet/scenario.html", context)


@require_POST
@tenant_page(write=True)
def scenario_data_remove(request: TenantRequest, run_id: str) -> HttpResponse:
    """Remove one run's data, in one click; the organization's own test data stays."""
    access = request.tenant_access
    run = ScenarioRun.objects.get_for_tenant(access.tenant, run_id)
    run_and_flash(
        request,
        lambda: scenario_data.scenario_data_remove(run=run, actor=access.actor),
        "The run's data is removed; your own test data is as it was.",
    )
    return redirect("banknet:scenario", run_id=run.pk)


@require_POST
@tenant_page(write=True)
def scenario_data_remove_all(request: TenantRequest) -> HttpResponse:
    access = request.tenant_access
    run_and_flash(
        request,
        lambda: scenario_data.scenario_data_remove_all(tenant=access.tenant, actor=access.actor),
        "The data of every scenario run is removed; your own test data is as it was.",
    )
    return redirect("banknet:scenarios")


# --- Operators: bank settings ----------------------------------------------------------------


def _bank_initial(bank: Bank) -> dict[str, Any]:
    return {
        "opens_at": bank.opens_at,
        "closes_at": bank.closes_at,
        "business_days": bank.business_days,
        "maintenance_starts_at": bank.maintenance_starts_at,
        "maintenance_ends_at": bank.maintenance_ends_at,
        "processing_delay_seconds": bank.processing_delay_seconds,
        "daily_withdrawal_limit": to_decimal_string(bank.daily_withdrawal_limit, bank.currency),
        "is_online": bank.is_online,
    }


@staff_member_required(login_url="login")
def operator_banks(request: HttpRequest) -> HttpResponse:
    """Every bank in one table, each with a link to its own edit form."""
    return render(request, "banknet/operator_banks.html", {"banks": Bank.objects.order_by("code")})


@staff_member_required(login_url="login")
def operator_bank_edit(request: HttpRequest, code: str) -> HttpResponseBase:
    """One bank's settings. A refused change shows the form again with what was typed and
    why; a saved one goes back to the table, at the bank's row."""
    bank = Bank.objects.filter(pk=code).first()
    if bank is None:
        raise Http404(f"Unknown bank code {code!r}.")
    form = forms.BankSettingsForm(request.POST or None, initial=_bank_initial(bank))
    if request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        try:
            changes["daily_withdrawal_limit"] = inputs.parse_typed_amount(
                changes["daily_withdrawal_limit"], bank.currency, "daily_withdrawal_limit"
            )
            network_banks.bank_update(bank=bank, actor=actor_for(request), **changes)
        except ApplicationError as error:
            apply_form_errors(form, error)
        else:
            messages.success(request, f"{bank.name} saved.")
            return redirect(f"{reverse('banknet:operator-banks')}#bank-{bank.code}")
    return render(request, "banknet/operator_bank_edit.html", {"bank": bank, "form": form})
