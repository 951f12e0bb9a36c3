"""Dashboard pages for events, webhooks and test clocks, and the operators' platform clock:
thin views over the same selectors and services as the API."""

from __future__ import annotations

import json
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.serializers.json import DjangoJSONEncoder
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sandbox.errors import ApplicationError
from sandbox.events import chart_data, clocks, forms, selectors, services, webhooks
from sandbox.events.api import platform_clock_state
from sandbox.events.models import ClockAttachment, Event, TestClock, WebhookDelivery
from sandbox.events.panels import clock_page_panels
from sandbox.tenants import services as tenant_services
from sandbox.tenants.access import actor_for
from sandbox.tenants.models import Node
from sandbox.tenants.views import apply_form_errors, require_writer, run_and_flash, tenant_page

# --- Events ----------------------------------------------------------------------------------


def _event_page(request):
    tenant = request.tenant_access.tenant
    events = selectors.event_list(tenant=tenant, filters=request.GET).select_related("node")
    return selectors.keyset_page(events, cursor=request.GET.get("cursor"))


@tenant_page()
def event_list(request):
    tenant = request.tenant_access.tenant
    context = {
        "page": _event_page(request),
        "types": selectors.event_types(tenant=tenant),
        "nodes": Node.objects.for_tenant(tenant).order_by("name"),
        "type_filter": request.GET.get("type", ""),
        "node_filter": request.GET.get("node", ""),
    }
    return render(request, "events/event_list.html", context)


@tenant_page()
def event_list_live(request):
    """The events table alone, with the page's filters: the page polls it (htmx)."""
    return render(request, "events/_event_table.html", {"page": _event_page(request)})


@tenant_page()
def event_detail(request, event_id):
    tenant = request.tenant_access.tenant
    event = Event.objects.get_for_tenant(tenant, event_id)
    deliveries = (
        WebhookDelivery.objects.for_tenant(tenant)
        .filter(event=event)
        .prefetch_related("attempts")
        .order_by("-created_at")
    )
    context = {
        "event": event,
        "data": json.dumps(event.data, indent=2, cls=DjangoJSONEncoder, ensure_ascii=False),
        "deliveries": deliveries,
    }
    return render(request, "events/event_detail.html", context)


@require_POST
@tenant_page(write=True)
def event_resend(request, event_id):
    access = request.tenant_access
    event = Event.objects.get_for_tenant(access.tenant, event_id)
    reason = "refired" if request.POST.get("reason") == "refired" else "resent"
    run_and_flash(
        request,
        lambda: services.event_resend(event=event, actor=access.actor, reason=reason),
        "Sent again: the attempt shows below in a moment.",
    )
    return redirect("events:event", event_id=event.pk)


# --- Deliveries ------------------------------------------------------------------------------


def _delivery_page(request):
    tenant = request.tenant_access.tenant
    deliveries = selectors.delivery_list(tenant=tenant, filters=request.GET)
    return selectors.keyset_page(deliveries, cursor=request.GET.get("cursor"))


@tenant_page()
def delivery_list(request):
    context = {
        "page": _delivery_page(request),
        "statuses": WebhookDelivery.Status.choices,
        "status_filter": request.GET.get("status", ""),
        "charts": chart_data.webhook_charts(tenant=request.tenant_access.tenant),
    }
    return render(request, "events/delivery_list.html", context)


@tenant_page()
def delivery_list_live(request):
    """The deliveries table alone, with the page's filter: the page polls it (htmx)."""
    return render(request, "events/_delivery_table.html", {"page": _delivery_page(request)})


@tenant_page()
def delivery_detail(request, delivery_id):
    tenant = request.tenant_access.tenant
    delivery = WebhookDelivery.objects.get_for_tenant(tenant, delivery_id)
    attempts = list(delivery.attempts.order_by("number"))
    # What each attempt sent: the same body every time (the event as the API shows it), and
    # its headers; the signature's timestamp is the attempt's second, its v1 values are not
    # kept (they would sign anything with the secret at hand).
    body = webhooks.event_body(delivery.event).decode()
    for attempt in attempts:
        stamp = int(attempt.attempted_at.timestamp())
        attempt.request_headers = webhooks.request_headers(
            delivery=delivery, number=attempt.number, signature=f"t={stamp},v1=… (not stored)"
        )
    context = {"delivery": delivery, "attempts": attempts, "request_body": body}
    return render(request, "events/delivery_detail.html", context)


# --- A node's webhook settings ---------------------------------------------------------------


@tenant_page()
def node_webhooks(request, node_id):
    access = request.tenant_access
    node = Node.objects.get_for_tenant(access.tenant, node_id)
    posted_url = request.method == "POST" and "webhook_url" in request.POST
    url_form = forms.WebhookUrlForm(
        request.POST if posted_url else None, initial={"webhook_url": node.webhook_url}
    )
    form = forms.RotateSecretForm(
        request.POST if request.method == "POST" and not posted_url else None
    )
    if posted_url:
        require_writer(request)
        if url_form.is_valid():
            try:
                tenant_services.node_update(node=node, actor=access.actor, **url_form.cleaned_data)
            except ApplicationError as error:
                apply_form_errors(url_form, error)
            else:
                messages.success(request, "Webhook URL saved.")
                return redirect("events:node-webhooks", node_id=node.pk)
    elif request.method == "POST":
        require_writer(request)
        if form.is_valid():
            overlap = timedelta(seconds=form.cleaned_data["overlap_seconds"])
            if run_and_flash(
                request,
                lambda: services.webhook_secret_rotate(
                    node=node, actor=access.actor, overlap=overlap
                ),
                "New secret issued.",
            ):
                return redirect("events:node-webhooks", node_id=node.pk)
    context = {
        "node": node,
        "form": form,
        "url_form": url_form,
        # Secrets forge signatures: only people who may change things see them.
        "secrets": services.webhook_secrets_live(node=node) if access.can_write else None,
        "deliveries": WebhookDelivery.objects.for_tenant(access.tenant)
        .filter(node=node)
        .select_related("event")
        .order_by("-created_at")[:30],
        "attachment": ClockAttachment.objects.filter(node=node).select_related("clock").first(),
        "endpoint": services.endpoint_as_json(node),
        "disable_after_days": settings.SANDBOX_WEBHOOK_DISABLE_AFTER_DAYS,
    }
    return render(request, "events/node_webhooks.html", context)


@require_POST
@tenant_page(write=True)
def node_webhook_enable(request, node_id):
    access = request.tenant_access
    node = Node.objects.get_for_tenant(access.tenant, node_id)
    run_and_flash(
        request,
        lambda: services.webhook_endpoint_enable(node=node, actor=access.actor),
        "Webhook endpoint enabled: new events are delivered again.",
    )
    return redirect("events:node-webhooks", node_id=node.pk)


# --- Test clocks -----------------------------------------------------------------------------


@tenant_page()
def clock_list(request):
    access = request.tenant_access
    form = forms.ClockForm(request.POST or None)
    if request.method == "POST":
        require_writer(request)
        if form.is_valid():
            try:
                clock = clocks.test_clock_create(
                    tenant=access.tenant,
                    actor=access.actor,
                    name=form.cleaned_data["name"],
                    frozen_time=form.cleaned_data["frozen_time"],
                )
            except ApplicationError as error:
                apply_form_errors(form, error)
            else:
                messages.success(request, f"Clock “{clock.name}” created.")
                return redirect("events:clock", clock_id=clock.pk)
    test_clocks = TestClock.objects.for_tenant(access.tenant).order_by("-created_at")
    return render(request, "events/clock_list.html", {"clocks": test_clocks, "form": form})


@tenant_page()
def clock_detail(request, clock_id):
    tenant = request.tenant_access.tenant
    clock = TestClock.objects.get_for_tenant(tenant, clock_id)
    attached = selectors.clock_nodes(clock=clock)
    free_nodes = (
        Node.objects.for_tenant(tenant)
        .filter(is_active=True, clock_attachment__isnull=True)
        .order_by("name")
    )
    context = {
        "clock": clock,
        "nodes": attached,
        "attach_form": forms.AttachForm(nodes=free_nodes),
        "advance_form": forms.AdvanceForm(),
        "upcoming": selectors.clock_upcoming(clock=clock),
        "panels": clock_page_panels(request, clock),  # drawn by apps above this one
    }
    return render(request, "events/clock_detail.html", context)


@require_POST
@tenant_page(write=True)
def clock_action(request, clock_id, action):
    access = request.tenant_access
    clock = TestClock.objects.get_for_tenant(access.tenant, clock_id)
    if action in ("attach", "detach"):
        node = Node.objects.get_for_tenant(access.tenant, request.POST.get("node", ""))
        service = clocks.test_clock_attach if action == "attach" else clocks.test_clock_detach
        run_and_flash(
            request,
            lambda: service(clock=clock, node=node, actor=access.actor),
            f"{node.name}: {action}ed.",
        )
    elif action == "advance":
        form = forms.AdvanceForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        else:
            to = form.cleaned_data["frozen_time"]
            if form.cleaned_data["preset"]:
                to = clock.frozen_time + timedelta(seconds=int(form.cleaned_data["preset"]))
            run_and_flash(
                request,
                lambda: clocks.test_clock_advance(clock=clock, to=to, actor=access.actor),
                "Advancing: whatever falls due runs now, in order.",
            )
    elif action == "delete":
        if run_and_flash(
            request,
            lambda: clocks.test_clock_delete(clock=clock, actor=access.actor),
            "Clock deleted.",
        ):
            return redirect("events:clocks")
    else:
        messages.error(request, f"Unknown action {action!r}.")
    return redirect("events:clock", clock_id=clock.pk)


# --- The platform clock (operators) ----------------------------------------------------------


@staff_member_required(login_url="login")
def platform_clock(request):
    posted = request.POST.get("action")
    form = forms.PlatformAdvanceForm(request.POST if posted == "advance" else None)
    to_form = forms.PlatformAdvanceToForm(request.POST if posted == "advance_to" else None)
    if request.method == "POST":
        actor = actor_for(request)
        action = request.POST.get("action")
        services_by_action = {
            "freeze": lambda: clocks.platform_clock_freeze(actor=actor),
            "resume": lambda: clocks.platform_clock_resume(actor=actor),
            "reset": lambda: clocks.platform_clock_reset(actor=actor),
        }
        if action == "advance":
            if form.is_valid():
                seconds = form.cleaned_data["seconds"]
                run_and_flash(
                    request,
                    lambda: clocks.platform_clock_advance(actor=actor, seconds=seconds),
                    f"Platform clock advanced by {seconds} s.",
                )
                return redirect("events:platform-clock")
        elif action == "advance_to":
            if to_form.is_valid():
                moment = to_form.cleaned_data["to"]
                run_and_flash(
                    request,
                    lambda: clocks.platform_clock_advance_to(actor=actor, moment=moment),
                    f"Platform clock advanced to {moment:%Y-%m-%d %H:%M:%S}.",
                )
                return redirect("events:platform-clock")
        elif action in services_by_action:
            run_and_flash(request, services_by_action[action], f"Platform clock: {action}.")
            return redirect("events:platform-clock")
    return render(
        request,
        "events/platform_clock.html",
        {"state": platform_clock_state(), "form": form, "to_form": to_form},
    )
