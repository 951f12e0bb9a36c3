"""Logins in the audit log, and the lockouts django-axes keeps after repeated failures.

django-axes counts wrong passwords per (account, address) in its ``AccessAttempt`` table
(``AXES_*`` settings): at ``AXES_FAILURE_LIMIT`` the pair is locked out for
``AXES_COOLOFF_TIME`` (each further try restarts the cool-off) and the login answers 429
(``lockout_response``). Operators see the locks (``lockout_list``) and lift one
(``lockout_lift``). Every login, failure and lockout is an audit entry, with the tenant
of the account when there is one (operators see the rest in their log).
"""

from __future__ import annotations

from typing import Any

from axes.models import AccessAttempt
from axes.signals import user_locked_out
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone

from sandbox.errors import NotFound
from sandbox.tenants.models import Membership, Tenant, User
from sandbox.tenants.services import Actor, audit_record
from sandbox.throttles import client_address


def cool_off_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """What a locked-out login answers (``AXES_LOCKOUT_CALLABLE``): 429 with the cool-off
    as ``Retry-After``, as any other limit of the dashboard (``sandbox.throttles``)."""
    seconds = cool_off_seconds()
    body = render_to_string(
        "429.html",
        {
            "retry_after": seconds,
            "message": "Too many wrong passwords for this account from your address: "
            "logging in is locked for a while. An operator can lift the lock sooner.",
        },
    )
    response = HttpResponse(body, status=429)
    response["Retry-After"] = str(seconds)
    response["Cache-Control"] = "no-store"
    return response


def login_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str | None:
    """The account a login attempt names, as axes counts it (``AXES_USERNAME_CALLABLE``):
    the e-mail, case and surrounding spaces folded, as the account is stored."""
    if credentials:
        raw = credentials.get(settings.AXES_USERNAME_FORM_FIELD)
    else:
        raw = request.POST.get(settings.AXES_USERNAME_FORM_FIELD) if request is not None else None
    if not raw:
        return None
    return str(raw).strip().lower()[:254]


# --- Audit ------------------------------------------------------------------------------------


def _account(username: str | None) -> tuple[User | None, Tenant | None]:
    if not username:
        return None, None
    user = User.objects.filter(email__iexact=username.strip()).first()
    if user is None:
        return None, None
    membership = Membership.objects.filter(user=user).select_related("tenant").first()
    return user, membership.tenant if membership else None


def _login_actor(request: HttpRequest | None, user: User | None) -> Actor:
    address = client_address(request) if request is not None else None
    return Actor(user=user, ip_address=None if address == "unknown" else address)


def on_logged_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    _, tenant = _account(user.email)
    audit_record(
        actor=_login_actor(request, user), action="login.succeeded", tenant=tenant, target=user
    )


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username") or "")
    user, tenant = _account(username)
    failures = getattr(request, "axes_failures_since_start", None)
    audit_record(
        actor=_login_actor(request, None),
        action="login.failed",
        tenant=tenant,
        target=user,
        data={
            "username": username[:254],
            "failures": failures,
            "locked_out": bool(getattr(request, "axes_locked_out", False)),
        },
    )


def on_locked_out(
    sender: Any,
    request: HttpRequest | None,
    username: str | None,
    ip_address: str | None,
    **kw: Any,
) -> None:
    # Axes signals on every try during a lockout; the entry marks the moment it began.
    if getattr(request, "axes_failures_since_start", None) != settings.AXES_FAILURE_LIMIT:
        return
    user, tenant = _account(username)
    audit_record(
        actor=_login_actor(request, None),
        action="login.locked_out",
        tenant=tenant,
        target=user,
        data={
            "username": (username or "")[:254],
            "ip_address": ip_address,
            "cool_off_seconds": cool_off_seconds(),
        },
    )


def connect_signals() -> None:
    """Called once from ``TenantsConfig.ready()``."""
    user_logged_in.connect(on_logged_in, dispatch_uid="sandbox.audit.login")
    user_login_failed.connect(on_login_failed, dispatch_uid="sandbox.audit.login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="sandbox.audit.locked_out")


# --- Operators --------------------------------------------------------------------------------


def lockout_list() -> QuerySet[AccessAttempt]:
    """The (account, address) pairs locked out now, newest first."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    return AccessAttempt.objects.filter(
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT, attempt_time__gt=since
    ).order_by("-attempt_time")


def locked_until(attempt: AccessAttempt) -> Any:
    return attempt.attempt_time + settings.AXES_COOLOFF_TIME


def lockout_get(lockout_id: object) -> AccessAttempt:
    try:
        return lockout_list().get(pk=int(str(lockout_id)))
    except (ValueError, AccessAttempt.DoesNotExist):
        raise NotFound("No such lockout (it may have expired or been lifted).") from None


@transaction.atomic
def lockout_lift(*, lockout: AccessAttempt, actor: Actor) -> None:
    """Forget the failures of this (account, address) pair: it may log in at once."""
    reset(ip=lockout.ip_address, username=lockout.username)
    user, tenant = _account(lockout.username)
    audit_record(
        actor=actor,
        action="login.lockout_lifted",
        tenant=tenant,
        target=user,
        data={"username": lockout.username or "", "ip_address": lockout.ip_address},
    )
