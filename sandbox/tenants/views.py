"""Dashboard pages for tenants: thin views over the same services the API uses."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sandbox.errors import ApplicationError
from sandbox.tenants import forms, services
from sandbox.tenants.access import client_ip
from sandbox.tenants.demo import DEMO_LOGINS, DEMO_PASSWORD
from sandbox.tenants.models import ApiKey, AuditLogEntry, Invitation, Membership, Node
from sandbox.tenants.panels import page_panels
from sandbox.throttles import InvitationAcceptThrottle, throttle_page


def tenant_page(*, write: bool = False):
    """Dashboard pages need a tenant member; writes need an active tenant and a writer."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect(f"/login/?next={request.path}")
            access = request.tenant_access
            if access is None:
                if request.user.is_staff:
                    return redirect("operator:tenants")
                raise PermissionDenied("This account belongs to no organization.")
            if write:
                require_writer(request)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def require_writer(request) -> None:
    """403 unless the member may change things: a writer's role in an active tenant (for the
    pages everyone reads whose form only writers post)."""
    if not request.tenant_access.may_write:
        raise PermissionDenied("Your role or your organization's status does not allow this.")


def run_and_flash(request, action, success: str, *, with_code: bool = False) -> bool:
    """Run a page's ``action`` and say ``success`` or the refusal (``with_code``: for pages
    whose readers look the codes up in the docs); returns whether it was done."""
    try:
        action()
    except ApplicationError as error:
        messages.error(request, f"{error.message} ({error.code})" if with_code else error.message)
        return False
    messages.success(request, success)
    return True


def apply_form_errors(form, error: ApplicationError) -> None:
    """Show a service's refusal on the form that caused it."""
    placed = False
    for field, problems in error.fields.items():
        if field in form.fields:
            for problem in problems if isinstance(problems, list) else [problems]:
                form.add_error(field, problem)
            placed = True
    if not placed:
        form.add_error(None, error.message)


@throttle_page(InvitationAcceptThrottle)
def invitation_accept(request, token: str):
    try:
        invitation = services.invitation_get_open(token=token)
    except ApplicationError as error:
        return render(request, "tenants/invitation_invalid.html", {"error": error}, status=404)
    form = forms.InvitationAcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.invitation_accept(
                token=token, **form.cleaned_data, ip_address=client_ip(request)
            )
        except ApplicationError as error:
            apply_form_errors(form, error)
        else:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"You joined {membership.tenant.name} as {membership.role}.")
            return redirect("dashboard:home")
    return render(
        request, "tenants/invitation_accept.html", {"form": form, "invitation": invitation}
    )


def home(request):
    """The overview for members; for everyone else, what the sandbox is (the landing)."""
    if not request.user.is_authenticated:
        logins = DEMO_LOGINS if settings.DEBUG else []
        context = {"demo_logins": logins, "demo_password": DEMO_PASSWORD}
        return render(request, "tenants/landing.html", context)
    return overview(request)


@tenant_page()
def overview(request):
    tenant = request.tenant_access.tenant
    context = {
        "panels": page_panels("overview", request, tenant),
        "node_count": Node.objects.for_tenant(tenant).filter(is_active=True).count(),
        "key_count": ApiKey.objects.for_tenant(tenant).filter(revoked_at__isnull=True).count(),
        "member_count": Membership.objects.for_tenant(tenant).count(),
        "recent_activity": AuditLogEntry.objects.for_tenant(tenant).order_by("-created_at")[:8],
    }
    return render(request, "tenants/home.html", context)


# --- Nodes -----------------------------------------------------------------------------------


@tenant_page()
def node_list(request):
    access = request.tenant_access
    form = forms.NodeForm(request.POST or None)
    if request.method == "POST":
        require_writer(request)
        if form.is_valid():
            try:
                node = services.node_create(
                    tenant=access.tenant, actor=access.actor, **form.cleaned_data
                )
            except ApplicationError as error:
                apply_form_errors(form, error)
            else:
                messages.success(request, f"Node “{node.name}” registered.")
                return redirect("dashboard:nodes")
    nodes = Node.objects.for_tenant(access.tenant).order_by("-is_active", "-created_at")
    return render(request, "tenants/nodes.html", {"nodes": nodes, "form": form})


@tenant_page()
def node_detail(request, node_id):
    access = request.tenant_access
    node = Node.objects.get_for_tenant(access.tenant, node_id)
    initial = {"name": node.name, "country": node.country.code, "webhook_url": node.webhook_url}
    form = forms.NodeEditForm(request.POST or None, initial=initial)
    if request.method == "POST":
        require_writer(request)
        if form.is_valid():
            try:
                services.node_update(node=node, actor=access.actor, **form.cleaned_data)
            except ApplicationError as error:
                apply_form_errors(form, error)
            else:
                messages.success(request, "Node saved.")
                return redirect("dashboard:node", node_id=node.pk)
    context = {"node": node, "form": form, "panels": page_panels("node", request, node)}
    return render(request, "tenants/node_detail.html", context)


@require_POST
@tenant_page(write=True)
def node_deactivate(request, node_id):
    access = request.tenant_access
    node = Node.objects.get_for_tenant(access.tenant, node_id)
    run_and_flash(
        request,
        lambda: services.node_deactivate(node=node, actor=access.actor),
        "Node deactivated.",
    )
    return redirect("dashboard:nodes")


# --- API keys --------------------------------------------------------------------------------


NEW_SECRET_SESSION_KEY = "sandbox.new_api_key_secret"


@tenant_page()
def api_key_list(request):
    access = request.tenant_access
    form = forms.ApiKeyForm(request.POST or None)
    if request.method == "POST":
        require_writer(request)
        if form.is_valid():
            try:
                issued = services.api_key_create(
                    tenant=access.tenant, actor=access.actor, **form.cleaned_data
                )
            except ApplicationError as error:
                apply_form_errors(form, error)
            else:
                # Post/redirect/get, so a reload cannot mint a second key; the secret rides
                # in the session for exactly one page view and is popped there.
                request.session[NEW_SECRET_SESSION_KEY] = {
                    "name": issued.api_key.name,
                    "secret": issued.secret,
                }
                return redirect("dashboard:api-keys")
    keys = (
        ApiKey.objects.for_tenant(access.tenant)
        .select_related("created_by")
        .order_by("-created_at")
    )
    issued = request.session.pop(NEW_SECRET_SESSION_KEY, None)
    response = render(
        request, "tenants/api_keys.html", {"keys": keys, "form": form, "issued": issued}
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@tenant_page(write=True)
def api_key_revoke(request, key_id):
    access = request.tenant_access
    api_key = ApiKey.objects.get_for_tenant(access.tenant, key_id)
    run_and_flash(
        request,
        lambda: services.api_key_revoke(api_key=api_key, actor=access.actor),
        "Key revoked.",
    )
    return redirect("dashboard:api-keys")


# --- Team ------------------------------------------------------------------------------------


@tenant_page()
def team(request):
    access = request.tenant_access
    if request.method == "POST" and "rename" in request.POST:
        return _rename(request, access)
    form = forms.InvitationForm(request.POST or None)
    issued = None
    if request.method == "POST":
        if not (access.is_owner and access.tenant.is_active):
            raise PermissionDenied
        if form.is_valid():
            try:
                issued = services.invitation_create(
                    tenant=access.tenant, actor=access.actor, **form.cleaned_data
                )
            except ApplicationError as error:
                apply_form_errors(form, error)
            else:
                form = forms.InvitationForm()
    context = {
        "members": Membership.objects.for_tenant(access.tenant)
        .select_related("user")
        .order_by("created_at"),
        "invitations": Invitation.objects.for_tenant(access.tenant)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True)
        .order_by("-created_at"),
        "form": form,
        "rename_form": forms.RenameForm(initial={"name": access.tenant.name}),
        "issued_link": request.build_absolute_uri(issued.path) if issued else None,
    }
    return render(request, "tenants/team.html", context)


def _rename(request, access):
    if not (access.is_owner and access.tenant.is_active):
        raise PermissionDenied
    form = forms.RenameForm(request.POST)
    if form.is_valid():
        try:
            services.tenant_rename(
                tenant=access.tenant, name=form.cleaned_data["name"], actor=access.actor
            )
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "The organization is renamed.")
    else:
        messages.error(request, "The organization needs a name of at most 120 characters.")
    return redirect("dashboard:team")


@require_POST
@tenant_page(write=True)
def invitation_revoke(request, invitation_id):
    access = request.tenant_access
    if not access.is_owner:
        raise PermissionDenied
    invitation = Invitation.objects.get_for_tenant(access.tenant, invitation_id)
    run_and_flash(
        request,
        lambda: services.invitation_revoke(invitation=invitation, actor=access.actor),
        "Invitation revoked.",
    )
    return redirect("dashboard:team")


@tenant_page()
def audit_log(request):
    entries = AuditLogEntry.objects.for_tenant(request.tenant_access.tenant).order_by(
        "-created_at"
    )[:200]
    return render(request, "tenants/audit_log.html", {"entries": entries})
