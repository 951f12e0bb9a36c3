"""Dashboard pages for clearing: closes and live jobs, the anchor chain, a proof's path."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from clearing import chart_data, jobs, selectors, settlement
from clearing.caps import parse_caps
from clearing.encoding import today
from clearing.merkle import node_hash
from clearing.models import Job, SettlementCycle
from sandbox.currencies import CurrencyCode
from sandbox.errors import ApplicationError
from sandbox.tenants.access import TenantAccess, actor_for
from sandbox.tenants.models import Tenant
from sandbox.tenants.views import tenant_page


class DashboardRequest(HttpRequest):
    """A dashboard request: the tenant middleware sets ``tenant_access`` on every one
    (None for operators and strangers)."""

    tenant_access: TenantAccess | None


View = Callable[..., HttpResponseBase]


def member_or_operator(view: View) -> View:
    @wraps(view)
    def wrapper(request: DashboardRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect(f"/login/?next={request.path}")
        if not request.user.is_staff and request.tenant_access is None:
            raise PermissionDenied("This account belongs to no organization.")
        return view(request, *args, **kwargs)

    return wrapper


def operator_only(view: View) -> View:
    @wraps(view)
    def wrapper(request: DashboardRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated or not request.user.is_staff:
            raise PermissionDenied("Operators only.")
        return view(request, *args, **kwargs)

    return wrapper


def _tenant(request: DashboardRequest) -> Tenant | None:
    """The tenant whose rows the page shows; None for operators, who see every tenant's."""
    access = request.tenant_access
    return None if request.user.is_staff or access is None else access.tenant


def _member_tenant(request: DashboardRequest) -> Tenant:
    """The tenant of a ``tenant_page`` (which lets no request without one through)."""
    assert request.tenant_access is not None
    return request.tenant_access.tenant


def _jobs_context(request: DashboardRequest) -> dict[str, Any]:
    access = request.tenant_access
    shown = selectors.jobs_visible(
        tenant=access.tenant if access else None, operator=request.user.is_staff, limit=30
    )
    active = any(j.status in (Job.Status.QUEUED, Job.Status.RUNNING) for j in shown)
    return {"jobs": shown, "is_operator": request.user.is_staff, "active": active}


@member_or_operator
def overview(request: DashboardRequest) -> HttpResponse:
    context = {
        "closes": selectors.day_closes(limit=30),
        "windows": selectors.windows_recent(limit=20),
        "contracts": selectors.contracts_visible(tenant=_tenant(request)),
        "cycles": SettlementCycle.choices,
        "currencies": CurrencyCode.values,
        "last_check": selectors.last_check(),
        "yesterday": today() - timedelta(days=1),
        "log": selectors.close_log_head(),
        **_jobs_context(request),
        "clock_closes": selectors.clock_closes_recent(
            tenant=_tenant(request), operator=request.user.is_staff
        ),
        "charts": chart_data.job_charts(tenant=_tenant(request), operator=request.user.is_staff),
    }
    return render(request, "clearing/overview.html", context)


@member_or_operator
def jobs_partial(request: DashboardRequest) -> HttpResponse:
    """The jobs table, polled while a job is pending; 286 tells htmx to stop polling once
    none is (the table in that answer is still swapped in)."""
    context = _jobs_context(request)
    return render(request, "clearing/_jobs.html", context, status=200 if context["active"] else 286)


@require_POST
@operator_only
def close_now(request: DashboardRequest) -> HttpResponseBase:
    given = request.POST.get("date")
    try:
        day = date.fromisoformat(given) if given else None
    except ValueError:
        messages.error(request, "Give the day as YYYY-MM-DD.")
        return redirect("clearing:overview")
    day = day or today() - timedelta(days=1)
    if day >= today():
        messages.error(request, f"{day} has not ended yet on the platform clock.")
        return redirect("clearing:overview")
    jobs.job_submit(kind=Job.Kind.CLOSE, label=day.isoformat(), actor=actor_for(request))
    messages.success(request, f"The close of {day} is queued.")
    return redirect("clearing:overview")


@require_POST
@operator_only
def verify_now(request: DashboardRequest) -> HttpResponseBase:
    jobs.job_submit(kind=Job.Kind.VERIFY, label="all days", actor=actor_for(request))
    messages.success(request, "The anchor check is queued.")
    return redirect("clearing:overview")


@require_POST
@operator_only
def job_retry(request: DashboardRequest, job_id: str) -> HttpResponseBase:
    try:
        job = selectors.job_get(job_id)
    except ApplicationError:
        messages.error(request, "No such job.")
        return redirect("clearing:overview")
    try:
        jobs.job_retry(job=job, actor=actor_for(request))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Retry of {job.get_kind_display().lower()} {job.label} queued.")
    return redirect("clearing:overview")


@member_or_operator
def chain(request: DashboardRequest) -> HttpResponse:
    blocks = list(reversed(selectors.chain_summary()[-40:]))
    return render(request, "clearing/chain.html", {"blocks": blocks})


def proof_steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The audit path as a picture needs it: at each level, which side the sibling is on
    and the hash the two make (RFC 9162 §2.1.3.2, the same walk as the verifier)."""
    index, size = doc["leaf_index"], doc["tree_size"]
    fn, sn = index, size - 1
    current = bytes.fromhex(doc["leaf_hash"])
    steps: list[dict[str, Any]] = []
    for level, sibling_hex in enumerate(doc["audit_path"]):
        sibling = bytes.fromhex(sibling_hex)
        if fn & 1 or fn == sn:
            current, side = node_hash(sibling, current), "left"
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            current, side = node_hash(current, sibling), "right"
        fn >>= 1
        sn >>= 1
        steps.append(
            {"level": level + 1, "sibling": sibling_hex, "side": side, "hash": current.hex()}
        )
    return steps


@tenant_page()
def proof(request: DashboardRequest, transaction_id: str) -> HttpResponseBase:
    try:
        # Wherever its day closed: its test clock's close, or the platform's day.
        doc = selectors.receipt_proof(tenant=_member_tenant(request), transaction_id=transaction_id)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("clearing:overview")
    block = selectors.block_get(doc["anchor"]["height"])
    context = {
        "doc": doc,
        "steps": proof_steps(doc),
        "block": block,
        "doc_json": json.dumps(doc, indent=2),
    }
    return render(request, "clearing/proof.html", context)


@tenant_page()
def proof_lookup(request: DashboardRequest) -> HttpResponseBase:
    transaction_id = (request.GET.get("transaction") or "").strip()
    if not transaction_id:
        return redirect("clearing:overview")
    return redirect("clearing:proof", transaction_id=transaction_id)


@member_or_operator
def settlement_window(request: DashboardRequest, window_id: str) -> HttpResponseBase:
    try:
        window = selectors.window_get(window_id)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("clearing:overview")
    tenant = _tenant(request)
    return render(
        request,
        "clearing/window.html",
        {"w": selectors.window_document(window, tenant=tenant), "window": window},
    )


@require_POST
@operator_only
def contract_set(request: DashboardRequest, node_id: str) -> HttpResponseBase:
    """An operator sets a node's cycle and caps (a blank cap: none), as the API's PUT."""
    try:
        node = selectors.node_get(node_id)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("clearing:overview")
    cycle = request.POST.get("cycle", "")
    caps = {
        c: request.POST[f"cap_{c}"].strip()
        for c in CurrencyCode.values
        if request.POST.get(f"cap_{c}", "").strip()
    }
    try:
        if cycle not in SettlementCycle.values:
            raise ApplicationError(f"Unknown settlement cycle {cycle!r}.", code="invalid_cycle")
        settlement.contract_set(
            node=node, cycle=cycle, caps=parse_caps(caps), actor=actor_for(request)
        )
    except ApplicationError as error:
        messages.error(request, f"{node.name}: {error.message}")
    else:
        messages.success(request, f"{node.name}: settlement contract saved.")
    return redirect("clearing:overview")


@require_POST
@operator_only
def settle_now(request: DashboardRequest) -> HttpResponseBase:
    jobs.job_submit(kind=Job.Kind.SETTLEMENT, label="due windows", actor=actor_for(request))
    messages.success(request, "Settlement of due windows is queued.")
    return redirect("clearing:overview")
