"""Dashboard pages of verification sessions: the list, and a session's page with its
transitions, the phone code it "sent" (the tester's to see, never the API's) and the test
helper's buttons. Thin views over the API's services and presenter."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sandbox.errors import ApplicationError
from sandbox.identities.verification import magic, presenters, services
from sandbox.identities.verification.models import SessionStatus, VerificationSession
from sandbox.tenants.access import TenantRequest
from sandbox.tenants.views import tenant_page

ACTIONS = ("force", "cancel", "redact")


@tenant_page()
def session_list(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant_access.tenant
    status = request.GET.get("status") or ""
    rows = VerificationSession.objects.for_tenant(tenant)
    if status in SessionStatus.values:
        rows = rows.filter(status=status)
    context = {
        "sessions": rows.order_by("-created_at", "-id")[:200],
        "statuses": SessionStatus.choices,
        "status": status,
    }
    return render(request, "identities/verification/list.html", context)


@tenant_page()
def session_detail(request: TenantRequest, session_id: str) -> HttpResponse:
    session = VerificationSession.objects.get_for_tenant(request.tenant_access.tenant, session_id)
    context = {
        "session": session,
        "shown": presenters.session_json(session),
        "transitions": session.transitions.order_by("at", "id"),
        "outcomes": sorted(magic.FORCEABLE),
        "magic_phone_code": magic.MAGIC_PHONE_CODE,
    }
    return render(request, "identities/verification/detail.html", context)


@tenant_page()
@require_POST
def session_action(request: TenantRequest, session_id: str, action: str) -> HttpResponse:
    access = request.tenant_access
    session = VerificationSession.objects.get_for_tenant(access.tenant, session_id)
    if not (access.can_write and access.tenant.is_active):
        raise PermissionDenied("Your role or your organization's status does not allow this.")
    actor = access.actor.label
    try:
        if action == "force":
            services.session_force(
                session=session,
                outcome=request.POST.get("outcome", ""),
                actor=f"test_helper:{actor}",
            )
        elif action == "cancel":
            services.session_cancel(session=session, actor=actor)
        elif action == "redact":
            services.session_redact(session=session, actor=actor)
        else:
            return HttpResponse(status=404)
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("identity_verification:session", session_id=session.pk)
