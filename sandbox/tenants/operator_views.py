"""The operator console: who is in the sandbox, and the power to let them in or out."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from sandbox.errors import ApplicationError
from sandbox.tenants import audit_export, forms, lockouts, services
from sandbox.tenants.access import actor_for
from sandbox.tenants.models import PlatformSettings, Tenant
from sandbox.tenants.selectors import (
    AuditFilters,
    audit_log_page,
    audit_log_search,
    operator_tenant_get,
    operator_tenant_list,
)


@staff_member_required(login_url="login")
def tenant_list(request):
    tenants = operator_tenant_list().order_by("-created_at")
    status_filter = request.GET.get("status", "")
    if status_filter in Tenant.Status.values:
        tenants = tenants.filter(status=status_filter)
    settings_form = forms.PlatformSettingsForm(
        initial={"new_tenant_status": PlatformSettings.load().new_tenant_status}
    )
    context = {
        "tenants": tenants,
        "status_filter": status_filter,
        "statuses": Tenant.Status.choices,
        "settings_form": settings_form,
    }
    return render(request, "operator/tenants.html", context)


@require_POST
@staff_member_required(login_url="login")
def tenant_action(request, tenant_id, action):
    """Approve, suspend or reactivate. A suspension needs a reason (the suspended page shows
    it to the organization). The outcome is shown in the tenant's row: swapped in place with
    htmx, or after a redirect back to that row."""
    tenant = operator_tenant_get(tenant_id)
    reason = request.POST.get("reason", "").strip()
    ok = False
    if action == "suspend" and not reason:
        note = "Say why: the organization sees the reason."
    else:
        try:
            services.tenant_change_status(
                tenant=tenant, action=action, actor=actor_for(request), reason=reason[:500]
            )
        except ApplicationError as error:
            note = error.message
        else:
            ok = True
            note = f"{tenant.name}: {services.TENANT_STATUS_TRANSITIONS[action].past_tense}."
    if request.htmx:
        context = {"tenant": operator_tenant_get(tenant_id), "note": note, "note_ok": ok}
        # 200 either way: htmx swaps in only successful responses, and the row says what failed.
        return render(request, "operator/_tenant_row.html", context)
    (messages.success if ok else messages.error)(request, note)
    return redirect(f"{reverse('operator:tenants')}#tenant-{tenant.pk}")


@require_POST
@staff_member_required(login_url="login")
def platform_settings(request):
    form = forms.PlatformSettingsForm(request.POST)
    if form.is_valid():
        services.platform_settings_update(actor=actor_for(request), **form.cleaned_data)
        messages.success(request, "Platform settings saved.")
    return redirect("operator:tenants")


def _audit_filters(request) -> tuple[forms.AuditLogFilterForm, AuditFilters]:
    form = forms.AuditLogFilterForm(request.GET or None)
    if not form.is_valid():
        return form, AuditFilters()
    data = form.cleaned_data
    tenant = operator_tenant_get(data["tenant"].strip()) if data["tenant"].strip() else None
    filters = AuditFilters(
        tenant=tenant,
        actor=data["actor"].strip(),
        action=data["action"].strip(),
        since=data["since"],
        until=data["until"],
    )
    return form, filters


@staff_member_required(login_url="login")
def audit_log(request):
    """The whole audit log, newest first, 50 entries a page, filtered by tenant, actor,
    action and dates; the same filters export it as CSV."""
    form, filters = _audit_filters(request)
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        before = None
    page = audit_log_page(audit_log_search(filters), before=before)
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "form": form,
        "page": page,
        "entries": page.rows,
        "tenant": filters.tenant,
        "query": query.urlencode(),
    }
    return render(request, "operator/audit_log.html", context)


@staff_member_required(login_url="login")
def audit_log_export(request):
    form, filters = _audit_filters(request)
    if form.is_bound and not form.is_valid():
        messages.error(request, "Fix the filters before exporting.")
        return redirect(f"{reverse('operator:audit-log')}?{request.GET.urlencode()}")
    return audit_export.csv_response(filters)


@staff_member_required(login_url="login")
def lockout_list(request):
    """Logins locked out after repeated wrong passwords, each with its lift button."""
    rows = [(lockout, lockouts.locked_until(lockout)) for lockout in lockouts.lockout_list()[:500]]
    context = {"rows": rows, "failure_limit": settings.AXES_FAILURE_LIMIT}
    return render(request, "operator/lockouts.html", context)


@require_POST
@staff_member_required(login_url="login")
def lockout_lift(request, lockout_id):
    try:
        lockout = lockouts.lockout_get(lockout_id)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        lockouts.lockout_lift(lockout=lockout, actor=actor_for(request))
        messages.success(request, f"{lockout.username} may log in again from {lockout.ip_address}.")
    return redirect("operator:lockouts")
