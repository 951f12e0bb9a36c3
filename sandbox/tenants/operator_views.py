"""The operator console: who is in the sandbox, and the power to let them in or out."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sandbox.errors import ApplicationError
from sandbox.tenants import forms, lockouts, services
from sandbox.tenants.access import actor_for
from sandbox.tenants.models import AuditLogEntry, PlatformSettings, Tenant
from sandbox.tenants.selectors import operator_tenant_get, operator_tenant_list


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
    tenant = operator_tenant_get(tenant_id)
    try:
        services.tenant_change_status(
            tenant=tenant,
            action=action,
            actor=actor_for(request),
            reason=request.POST.get("reason", ""),
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"{tenant.name}: {services.TENANT_STATUS_TRANSITIONS[action].past_tense}."
        )
    if request.htmx:
        return render(
            request, "operator/_tenant_row.html", {"tenant": operator_tenant_get(tenant_id)}
        )
    return redirect("operator:tenants")


@require_POST
@staff_member_required(login_url="login")
def platform_settings(request):
    form = forms.PlatformSettingsForm(request.POST)
    if form.is_valid():
        services.platform_settings_update(actor=actor_for(request), **form.cleaned_data)
        messages.success(request, "Platform settings saved.")
    return redirect("operator:tenants")


@staff_member_required(login_url="login")
def audit_log(request):
    entries = AuditLogEntry.objects.select_related("tenant").order_by("-created_at")
    tenant = None
    if tenant_id := request.GET.get("tenant"):
        tenant = operator_tenant_get(tenant_id)  # a malformed or unknown id is a 404
        entries = entries.filter(tenant=tenant)
    return render(request, "operator/audit_log.html", {"entries": entries[:300], "tenant": tenant})


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
