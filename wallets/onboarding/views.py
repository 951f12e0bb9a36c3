"""Sign-up with a first node, the first-run checklist's actions, and the node hub's
panels. Thin views over ``services`` and ``selectors``; an htmx request gets the part of
the page that changed, others a redirect back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.middleware import HtmxDetails

from sandbox.errors import ApplicationError
from sandbox.tenants import services as tenants
from sandbox.tenants.access import TenantRequest, client_ip
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.views import apply_form_errors, tenant_page
from sandbox.throttles import SignupThrottle, throttle_page
from wallets.banknet import bank_accounts
from wallets.onboarding import forms, selectors, services


class HtmxTenantRequest(TenantRequest):
    htmx: HtmxDetails  # set by django_htmx's middleware


@throttle_page(SignupThrottle)
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard:home")
    form = forms.SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {**form.cleaned_data, "country": form.cleaned_data.get("country") or "KR"}
        try:
            first = services.signup_with_first_node(**data, ip_address=client_ip(request))
        except ApplicationError as error:
            apply_form_errors(form, error)
        else:
            membership = first.membership
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to the sandbox, {membership.tenant.name}.")
            return redirect("dashboard:home")
    return render(request, "tenants/signup.html", {"form": form})


# --- The first-run checklist (the overview's panel) ------------------------------------------


def checklist_context(request: HttpRequest, node: Node, **extra: Any) -> dict[str, Any]:
    access = request.tenant_access  # type: ignore[attr-defined]
    writer = access.may_write
    return {
        "checklist": selectors.checklist(node),
        "writer": writer,
        # Secrets forge signatures: only people who may change things see them.
        "secret": selectors.signing_secret(node) if writer else None,
        "url_form": extra.pop("url_form", None)
        or forms.WebhookUrlForm(initial={"webhook_url": node.webhook_url}),
        **extra,
    }


def overview_panel(request: HttpRequest, tenant: Tenant) -> dict[str, Any] | None:
    node = selectors.first_node(tenant)
    if node is None:
        return {"checklist": None}
    return checklist_context(request, node)


def _node(request: HtmxTenantRequest, node_id: str) -> Node:
    return Node.objects.get_for_tenant(request.tenant_access.tenant, node_id)


def _back(request: HtmxTenantRequest, node: Node, **extra: Any) -> HttpResponse:
    """An htmx request gets the checklist again (its ticks moved); a plain form post goes
    back to the page it came from."""
    if request.htmx:
        context = {"panel": checklist_context(request, node, **extra)}
        return render(request, "onboarding/_checklist.html", context)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("dashboard:home")
    return redirect(back)


def _checklist_action(
    service: Callable[..., object], success: str
) -> Callable[[HtmxTenantRequest, str], HttpResponse]:
    """A checklist button: ``service(node=..., actor=...)`` runs, its success or refusal is
    said, and the checklist is drawn again (htmx) or the page it came from reloads."""

    @require_POST
    @tenant_page(write=True)
    def view(request: HtmxTenantRequest, node_id: str) -> HttpResponse:
        node = _node(request, node_id)
        try:
            service(node=node, actor=request.tenant_access.actor)
        except ApplicationError as error:
            result, ok = error.message, False
        else:
            result, ok = success, True
        if not request.htmx:
            messages.add_message(request, messages.SUCCESS if ok else messages.ERROR, result)
        return _back(request, node, result=result, result_ok=ok)

    return view


test_deposit = _checklist_action(
    services.test_deposit,
    "Test deposit sent: pending now, credited after the bank's short delay.",
)
test_webhook = _checklist_action(
    services.test_webhook_send, "Test webhook sent: watch for your receiver's answer below."
)
# Opens the node's simulated sender (from the deposit form, when it has none).
sender_create = _checklist_action(
    bank_accounts.node_sender_open, "A simulated customer is ready to deposit."
)


@require_POST
@tenant_page(write=True)
def webhook_url(request: HtmxTenantRequest, node_id: str) -> HttpResponse:
    node = _node(request, node_id)
    form = forms.WebhookUrlForm(request.POST)
    outcome: dict[str, Any] = {}
    if form.is_valid():
        try:
            node = tenants.node_update(
                node=node, actor=request.tenant_access.actor, **form.cleaned_data
            )
        except ApplicationError as error:
            apply_form_errors(form, error)
        else:
            outcome = {"result": "Webhook URL saved.", "result_ok": True}
            form = forms.WebhookUrlForm(initial={"webhook_url": node.webhook_url})
    if not form.is_valid() and form.is_bound:
        outcome = {"result": "The URL was not saved.", "result_ok": False}
    if request.htmx and request.POST.get("from") == "hub":
        return render(
            request,
            "onboarding/_webhook_url.html",
            {"node": node, "url_form": form, **outcome, "writer": True},
        )
    if not request.htmx and outcome.get("result_ok"):
        messages.success(request, outcome["result"])
    return _back(request, node, url_form=form, **outcome)


@tenant_page()
def checklist_status(request: HtmxTenantRequest, node_id: str) -> HttpResponse:
    """The checklist's last step, polled until the receiver has answered 2xx."""
    node = _node(request, node_id)
    context = {"panel": {"checklist": selectors.checklist(node)}}
    return render(request, "onboarding/_received.html", context)
