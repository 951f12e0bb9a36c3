"""Dashboard pages of people: the list (masked, with blind-index lookups), a person's page
(masked data, a logged reveal, the access log, erasure with confirmation), a node's
identity, and the operators' key rotation jobs. Thin views over the services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sandbox.errors import ApplicationError
from sandbox.identities import forms, presenters, rotation, selectors, services
from sandbox.identities.data import Address, PersonalData
from sandbox.tenants.access import TenantRequest, actor_for
from sandbox.tenants.models import Node
from sandbox.tenants.views import apply_form_errors, require_writer, tenant_page


@tenant_page()
def person_list(request: TenantRequest) -> HttpResponseBase:
    tenant = request.tenant_access.tenant
    form = forms.PersonForm(request.POST or None)
    if request.method == "POST":
        require_writer(request)
        if form.is_valid():
            d = form.cleaned_data
            try:
                person = services.register_person(
                    tenant=tenant,
                    customer_reference=d["customer_reference"],
                    data=PersonalData(
                        legal_name=d["legal_name"],
                        birth_date=d["birth_date"],
                        national_id=d["national_id"],
                        national_id_country=d["national_id_country"],
                        phone=d["phone"],
                        email=d["email"],
                        address=Address(
                            street=d["street"],
                            city=d["city"],
                            postal_code=d["postal_code"],
                            country=d["country"],
                        ),
                    ),
                )
            except ApplicationError as error:
                _apply_person_errors(form, error)
            else:
                return redirect("people:detail", person_id=person.pk)
    lookup = forms.LookupForm(request.GET or None)
    people: Any = selectors.people_for(tenant)
    if lookup.is_valid():
        found = selectors.find_person(
            tenant, field=lookup.cleaned_data["field"], value=lookup.cleaned_data["value"]
        )
        people = [found] if found else []
    else:
        people = people[:200]
    return render(
        request,
        "identities/person_list.html",
        {
            "form": form,
            "lookup": lookup,
            "rows": [presenters.person_as_json(p) for p in people],
        },
    )


def _apply_person_errors(form: forms.PersonForm, error: ApplicationError) -> None:
    # The address's errors belong to its street field on this flat form.
    if "address" in error.fields:
        error.fields.setdefault("street", error.fields.pop("address"))
    apply_form_errors(form, error)


def _detail_context(request: TenantRequest, person_id: str) -> dict[str, Any]:
    person = selectors.get_person(request.tenant_access.tenant, person_id)
    return {
        "person": person,
        "view": presenters.person_as_json(person),
        "log": [
            presenters.access_log_entry_as_json(e) for e in selectors.access_log_for(person)[:200]
        ],
        "reveal_form": forms.RevealForm(),
        "erase_form": forms.EraseForm(),
    }


@tenant_page()
def person_detail(request: TenantRequest, person_id: str) -> HttpResponse:
    return render(request, "identities/person_detail.html", _detail_context(request, person_id))


@tenant_page(write=True)
@require_POST
def person_reveal(request: TenantRequest, person_id: str) -> HttpResponse:
    """Shows the clear values on this answer only (never stored in the page's URL)."""
    context = _detail_context(request, person_id)
    form = forms.RevealForm(request.POST)
    context["reveal_form"] = form
    if form.is_valid():
        fields = form.cleaned_data["which"] or None
        try:
            wanted = services.reveal_fields(fields)
            data = services.reveal(
                context["person"],
                actor=services.actor_label(request.tenant_access.actor),
                purpose=form.cleaned_data["purpose"],
                fields=wanted,
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            context["revealed"] = presenters.revealed_as_json(data, wanted)
            context["log"] = [
                presenters.access_log_entry_as_json(e)
                for e in selectors.access_log_for(context["person"])[:200]
            ]
    return render(request, "identities/person_detail.html", context)


@tenant_page(write=True)
@require_POST
def person_erase(request: TenantRequest, person_id: str) -> HttpResponseBase:
    context = _detail_context(request, person_id)
    form = forms.EraseForm(request.POST)
    if not form.is_valid():
        context["erase_form"] = form
        return render(request, "identities/person_detail.html", context, status=400)
    services.erase(
        context["person"],
        actor=services.actor_label(request.tenant_access.actor),
        reason=form.cleaned_data["reason"],
    )
    messages.success(request, "Erased: this person's data key is destroyed.")
    return redirect("people:detail", person_id=context["person"].pk)


@tenant_page()
def node_identity(request: TenantRequest, node_id: str) -> HttpResponse:
    node = Node.objects.get_for_tenant(request.tenant_access.tenant, node_id)
    identity = selectors.node_identity_for(node)
    return render(
        request,
        "identities/node_identity.html",
        {
            "node": node,
            "identity": presenters.node_identity_as_json(identity) if identity else None,
        },
    )


@staff_member_required(login_url="login")
def rotation_jobs(request: Any) -> HttpResponseBase:
    if request.method == "POST":
        try:
            job = rotation.rotation_request(requested_by=actor_for(request).label)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Key rotation {job.pk} queued.")
        return redirect("people:rotations")
    return render(
        request,
        "identities/rotations.html",
        {
            "jobs": [presenters.rotation_job_as_json(j) for j in selectors.rotation_jobs()[:50]],
            "pending": rotation.rotation_pending(),
        },
    )
