"""Dashboard pages of verification sessions: the list, and a session's page with its
transitions, the phone code it "sent" (the tester's to see, never the API's) and the test
helper's buttons. Thin views over the API's services and presenter."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from sandbox.errors import ApplicationError
from sandbox.identities.models import Person
from sandbox.identities.presenters import person_masked
from sandbox.identities.selectors import get_person, people_for
from sandbox.identities.verification import magic, presenters, providers, services, social
from sandbox.identities.verification.models import (
    SessionStatus,
    SocialLink,
    VerificationSession,
)
from sandbox.tenants.access import TenantRequest
from sandbox.tenants.views import require_writer, tenant_page

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
    require_writer(request)
    actor = access.actor
    try:
        if action == "force":
            services.session_force(
                session=session, outcome=request.POST.get("outcome", ""), actor=actor
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


# --- Social links and the providers' simulated login ------------------------------------------


def _people_choices(request: TenantRequest) -> list[tuple[str, str]]:
    people = people_for(request.tenant_access.tenant).filter(status=Person.Status.ACTIVE)[:200]
    choices = []
    for person in people:
        masked = person_masked(person) or {}
        label = masked.get("legal_name", "")
        if person.customer_reference:
            label += f" ({person.customer_reference})"
        choices.append((str(person.pk), f"{label} · {str(person.pk)[:8]}"))
    return choices


@tenant_page()
def social_links(request: TenantRequest) -> HttpResponse:
    """The tenant's links to the social providers, and a form to start one."""
    tenant = request.tenant_access.tenant
    if request.method == "POST":
        require_writer(request)
        try:
            link = social.social_link_start(
                tenant=tenant,
                person=get_person(tenant, request.POST.get("person_id", "")),
                provider=request.POST.get("provider", ""),
                actor=request.tenant_access.actor,
            )
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            return redirect(_authorize_url(link))
        return redirect("identity_verification:social-links")
    context = {
        "links": [
            presenters.social_link_json(link)
            for link in SocialLink.objects.for_tenant(tenant).order_by("-created_at", "-id")[:200]
        ],
        "people": _people_choices(request),
        "providers": providers.PROVIDERS.values(),
    }
    return render(request, "identities/verification/social_links.html", context)


def _authorize_url(link: SocialLink) -> str:
    query = urlencode(
        {
            "response_type": "id_token",
            "scope": "openid",
            "client_id": providers.client_id_for(link.tenant_id),
            "nonce": link.nonce,
            "state": str(link.pk),
        }
    )
    return reverse("oidc:authorize", kwargs={"provider": link.provider}) + "?" + query


@tenant_page()
def social_login(request: TenantRequest, provider: str) -> HttpResponse:
    """The provider's simulated login (its authorization endpoint): the tester picks who
    signs in; the provider answers its id_token for the client and nonce asked for. When
    ``state`` names a pending link of the tenant, the page offers to complete it."""
    chosen = providers.PROVIDERS.get(provider)
    if chosen is None:
        raise Http404("No such identity provider.")
    tenant = request.tenant_access.tenant
    params = request.POST if request.method == "POST" else request.GET
    client_id = params.get("client_id", "")
    nonce = params.get("nonce", "")
    state = params.get("state", "")
    problem = ""
    if params.get("response_type", "id_token") != "id_token":
        problem = "Only response_type=id_token is simulated."
    elif client_id != providers.client_id_for(tenant.pk):
        problem = "Unknown client_id: use your organization's (a social link shows it)."
    elif not nonce:
        problem = "A nonce is required."
    id_token = ""
    if request.method == "POST" and not problem:
        require_writer(request)
        try:
            person = get_person(tenant, request.POST.get("person_id", ""))
            id_token = social.social_login_simulate(
                tenant=tenant, person=person, provider=chosen.name, nonce=nonce, client_id=client_id
            )
        except ApplicationError as error:
            problem = error.message
    link = None
    if _is_uuid(state):
        link = (
            SocialLink.objects.for_tenant(tenant)
            .filter(pk=state, status=SocialLink.Status.PENDING)
            .first()
        )
    context = {
        "provider": chosen,
        "client_id": client_id,
        "nonce": nonce,
        "state": state,
        "problem": problem,
        "can_login": bool(client_id == providers.client_id_for(tenant.pk) and nonce),
        "people": _people_choices(request),
        "link": link,
        "id_token": id_token,
    }
    return render(request, "identities/verification/social_login.html", context)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@tenant_page()
@require_POST
def social_link_complete(request: TenantRequest, link_id: str) -> HttpResponse:
    link = SocialLink.objects.get_for_tenant(request.tenant_access.tenant, link_id)
    require_writer(request)
    try:
        social.social_link_complete(
            link=link, id_token=request.POST.get("id_token", ""), actor=request.tenant_access.actor
        )
    except ApplicationError as error:
        messages.error(request, f"{error.code}: {error.message}")
    else:
        messages.success(request, "Linked: the id_token verified.")
    return redirect("identity_verification:social-links")
