"""Dashboard pages of credentials: who learned what about each person, what a presentation
disclosed, and the courier flow (a merchant node gets a delivery credential for an order,
presents it to a courier node, which verifies it). Thin views over the same services,
selectors and presenters as the API."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render

from sandbox.errors import ApplicationError
from sandbox.identities import selectors as identity_selectors
from sandbox.identities.credentials import forms, presenters, selectors, services
from sandbox.identities.credentials.claims import ADDRESS_PATHS, VCT_DELIVERY
from sandbox.identities.credentials.models import Credential, Presentation, PresentationRequest
from sandbox.identities.models import Person
from sandbox.identities.services import Address
from sandbox.tenants.access import TenantRequest
from sandbox.tenants.models import Node
from sandbox.tenants.views import apply_form_errors, tenant_page

DELIVERY_CLAIMS = ["recipient_matches_delivery_address", "order_id", "address"]


def _label(person: Person) -> str:
    return person.customer_reference or f"person {str(person.pk)[:8]}"


def _writer(request: TenantRequest) -> bool:
    access = request.tenant_access
    return access.can_write and access.tenant.is_active


@tenant_page()
def home(request: TenantRequest) -> HttpResponseBase:
    """The courier flow's first two steps, and the tenant's credentials and requests."""
    tenant = request.tenant_access.tenant
    nodes = Node.objects.for_tenant(tenant).filter(is_active=True).order_by("name")
    people = identity_selectors.people_for(tenant).order_by("-created_at")[:200]
    issue_form = forms.DeliveryCredentialForm(
        request.POST if request.POST.get("step") == "issue" else None,
        nodes=nodes,
        people=[(p, _label(p)) for p in people],
    )
    ask_form = forms.DeliveryRequestForm(
        request.POST if request.POST.get("step") == "ask" else None, nodes=nodes
    )
    if request.method == "POST":
        if not _writer(request):
            return HttpResponse(status=403)
        if request.POST.get("step") == "issue" and issue_form.is_valid():
            data = issue_form.cleaned_data
            try:
                issued = services.credential_issue_delivery(
                    person=identity_selectors.get_person(tenant, data["person"]),
                    actor=request.tenant_access.actor,
                    holder_node=Node.objects.get_for_tenant(tenant, data["holder_node"]),
                    order_id=data["order_id"],
                    delivery_address=Address(
                        street=data["street"],
                        city=data["city"],
                        postal_code=data["postal_code"],
                        country=data["country"].upper(),
                    ),
                )
            except ApplicationError as error:
                apply_form_errors(issue_form, error)
            else:
                return redirect("credentials:credential", credential_id=issued.credential.pk)
        if request.POST.get("step") == "ask" and ask_form.is_valid():
            data = ask_form.cleaned_data
            try:
                made = services.presentation_request_create(
                    verifier_node=Node.objects.get_for_tenant(tenant, data["verifier_node"]),
                    credential_type="delivery",
                    claims=DELIVERY_CLAIMS,
                    order_id=data["order_id"],
                )
            except ApplicationError as error:
                apply_form_errors(ask_form, error)
            else:
                return redirect("credentials:request", request_id=made.pk)
    credentials = Credential.objects.for_tenant(tenant).select_related("person", "holder_node")
    return render(
        request,
        "credentials/home.html",
        {
            "issue_form": issue_form,
            "ask_form": ask_form,
            "people": [(p, _label(p)) for p in people],
            "credentials": credentials.order_by("-issued_at")[:50],
            "requests": selectors.requests_of(tenant)[:50],
        },
    )


@tenant_page()
def credential(request: TenantRequest, credential_id: str) -> HttpResponse:
    tenant = request.tenant_access.tenant
    found = Credential.objects.select_related("person", "holder_node").get_for_tenant(
        tenant, credential_id
    )
    return render(
        request,
        "credentials/credential.html",
        {
            "credential": found,
            "row": presenters.credential_json(found),
            "presentations": found.presentations.select_related("verifier_node").order_by(
                "-created_at"
            ),
        },
    )


@tenant_page()
def presentation_request(request: TenantRequest, request_id: str) -> HttpResponseBase:
    """The courier node's request: the merchant node presents a credential to it (the
    platform signs the key binding), and the courier node verifies what it received."""
    tenant = request.tenant_access.tenant
    asked = PresentationRequest.objects.select_related("verifier_node").get_for_tenant(
        tenant, request_id
    )
    credentials = Credential.objects.for_tenant(tenant).filter(
        vct=asked.vct, status=Credential.Status.ACTIVE
    )
    if asked.order_id:
        credentials = credentials.filter(order_id=asked.order_id)
    present_form = forms.PresentForm(
        request.POST if request.POST.get("step") == "present" else None,
        credentials=credentials.order_by("-issued_at")[:50],
    )
    verify_form = forms.VerifyForm(request.POST if request.POST.get("step") == "verify" else None)
    context: dict[str, Any] = {}
    if request.method == "POST":
        if not _writer(request):
            return HttpResponse(status=403)
        if request.POST.get("step") == "present" and present_form.is_valid():
            try:
                made = services.credential_present(
                    credential=Credential.objects.select_related(
                        "person", "holder_node"
                    ).get_for_tenant(tenant, present_form.cleaned_data["credential"]),
                    audience=asked.audience,
                    nonce=asked.nonce,
                    claims=list(asked.claims),
                )
            except ApplicationError as error:
                apply_form_errors(present_form, error)
            else:
                context["made"] = made.presentation
                verify_form = forms.VerifyForm(initial={"presentation": made.text})
        if request.POST.get("step") == "verify" and verify_form.is_valid():
            context["result"] = services.presentation_verify(
                request=asked, presentation=verify_form.cleaned_data["presentation"]
            )
            asked.refresh_from_db()
    return render(
        request,
        "credentials/request.html",
        {
            "asked": asked,
            "row": presenters.request_json(asked),
            "present_form": present_form,
            "verify_form": verify_form,
            **context,
        },
    )


@tenant_page()
def person(request: TenantRequest, person_id: str) -> HttpResponse:
    """Who learned what about the person: credentials issued, presentations made."""
    found = identity_selectors.get_person(request.tenant_access.tenant, person_id)
    return render(
        request,
        "credentials/person.html",
        {
            "person": found,
            "label": _label(found),
            "credentials": selectors.credentials_of(found),
            "presentations": selectors.presentations_of(found),
        },
    )


@tenant_page()
def presentation(request: TenantRequest, presentation_id: str) -> HttpResponse:
    """What one presentation disclosed, and to whom."""
    found = Presentation.objects.select_related(
        "credential", "person", "verifier_node"
    ).get_for_tenant(request.tenant_access.tenant, presentation_id)
    disclosed = set(found.disclosed_claims)
    claims = [(path, path in disclosed) for path in found.credential.claim_paths]
    return render(
        request,
        "credentials/presentation.html",
        {
            "presentation": found,
            "claims": claims,
            "address_paths": ADDRESS_PATHS,
            "delivery": found.credential.vct == VCT_DELIVERY,
        },
    )
