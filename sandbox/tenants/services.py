"""Writes for tenants, people, API keys and nodes. Views call these; they hold the rules."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from sandbox import writebehind
from sandbox.db.postgresql.prepared import prepared
from sandbox.errors import ApplicationError, Conflict, Forbidden, NotFound
from sandbox.tenants import keycache
from sandbox.tenants.models import (
    ApiKey,
    AuditLogEntry,
    Invitation,
    Membership,
    Node,
    PlatformSettings,
    Tenant,
    User,
)
from sandbox.urlguard import validate_webhook_url

API_KEY_PREFIX = "sk_test_"
INVITATION_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a person, an API key, or the system, and from which address."""

    user: User | None = None
    api_key: ApiKey | None = None
    ip_address: str | None = None

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"API key {self.api_key.prefix}…"
        if self.user is not None:
            return self.user.email
        return "system"

    @property
    def is_operator(self) -> bool:
        return self.user is not None and self.user.is_staff


SYSTEM = Actor()


def hash_secret(secret: str) -> str:
    # Keys and tokens carry 190+ bits of randomness, so a fast hash is enough: there is
    # nothing to brute-force, and a slow hash would cost every API request.
    return hashlib.sha256(secret.encode()).hexdigest()


def audit_record(
    *,
    actor: Actor,
    action: str,
    tenant: Tenant | None,
    target: Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditLogEntry:
    return AuditLogEntry.objects.create(tenant=tenant, **_audit_values(actor, action, target, data))


def _audit_values(
    actor: Actor, action: str, target: Model | None, data: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "actor_user": actor.user,
        "actor_api_key": actor.api_key,
        "actor_label": actor.label,
        "is_operator_action": actor.is_operator,
        "action": action,
        "target_type": (target._meta.model_name or "") if target is not None else "",
        "target_id": str(target.pk) if target is not None else "",
        "target_label": str(target)[:200] if target is not None else "",
        "data": data or {},
        "ip_address": actor.ip_address,
    }


_AUDIT_SQL = prepared(
    "audit_record",
    f"""
INSERT INTO {AuditLogEntry._meta.db_table}
       (tenant_id, actor_user_id, actor_api_key_id, actor_label, is_operator_action, action,
        target_type, target_id, target_label, data, ip_address, created_at)
VALUES (%(tenant)s, %(user)s, %(api_key)s, %(actor_label)s, %(is_operator_action)s,
        %(action)s, %(target_type)s, %(target_id)s, %(target_label)s, %(data)s,
        %(ip_address)s, %(created_at)s)
""",
)


def audit_record_later(
    *,
    actor: Actor,
    action: str,
    tenant_id: Any,
    target: Model | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """``audit_record`` for a caller that does not need the entry: the same row, which on
    PostgreSQL is written with the transaction's next statement (``sandbox.writebehind``,
    inside a ledger transaction) instead of a round trip of its own."""
    values = _audit_values(actor, action, target, data)
    if connection.vendor != "postgresql":
        AuditLogEntry.objects.create(tenant_id=tenant_id, **values)
        return
    user, api_key = values.pop("actor_user"), values.pop("actor_api_key")
    values.update(
        tenant=tenant_id,
        user=user.pk if user is not None else None,
        api_key=api_key.pk if api_key is not None else None,
        data=json.dumps(values["data"], cls=DjangoJSONEncoder),
        created_at=timezone.now(),  # the model's default
    )
    writebehind.write(_AUDIT_SQL, values)


# --- Signup and people ---------------------------------------------------------------------


def _check_new_user(*, email: str, password: str) -> str:
    email = User.objects.normalize_email(email).strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(
            "An account with this e-mail already exists.",
            code="email_taken",
            fields={"email": ["An account with this e-mail already exists."]},
        )
    try:
        validate_password(password, User(email=email))
    except ValidationError as exc:
        raise ApplicationError(
            "The password is too weak.", code="weak_password", fields={"password": exc.messages}
        ) from exc
    return email


@transaction.atomic
def tenant_signup(
    *,
    organization: str,
    email: str,
    password: str,
    full_name: str = "",
    ip_address: str | None = None,
) -> Membership:
    """Create a tenant with its owner; the status follows the operators' setting."""
    organization = organization.strip()
    if not organization:
        raise ApplicationError(
            "The organization needs a name.",
            code="invalid_organization",
            fields={"organization": ["This field may not be blank."]},
        )
    email = _check_new_user(email=email, password=password)
    tenant = Tenant.objects.create(
        name=organization, status=PlatformSettings.load().new_tenant_status
    )
    user = User.objects.create_user(email=email, password=password, full_name=full_name)
    membership = Membership.objects.create(tenant=tenant, user=user, role=Membership.Role.OWNER)
    audit_record(
        actor=Actor(user=user, ip_address=ip_address),
        action="tenant.signed_up",
        tenant=tenant,
        target=tenant,
        data={"status": tenant.status},
    )
    return membership


def _operator_only(actor: Actor) -> None:
    if not actor.is_operator:
        raise Forbidden("Only operators may do this.", code="operator_only")


@dataclass(frozen=True)
class StatusTransition:
    allowed_from: frozenset[str]
    to: str
    past_tense: str


TENANT_STATUS_TRANSITIONS = {
    "approve": StatusTransition(
        frozenset({Tenant.Status.PENDING}), Tenant.Status.ACTIVE, "approved"
    ),
    "suspend": StatusTransition(
        frozenset({Tenant.Status.PENDING, Tenant.Status.ACTIVE}),
        Tenant.Status.SUSPENDED,
        "suspended",
    ),
    "reactivate": StatusTransition(
        frozenset({Tenant.Status.SUSPENDED}), Tenant.Status.ACTIVE, "reactivated"
    ),
}


@transaction.atomic
def tenant_rename(*, tenant: Tenant, name: str, actor: Actor) -> Tenant:
    """Give the organization a new name (owners; audited with the old and the new one)."""
    name = name.strip()
    if not name:
        raise ApplicationError(
            "The organization needs a name.",
            code="name_required",
            fields={"name": ["This field may not be blank."]},
        )
    previous = tenant.name
    tenant.name = name
    tenant.save(update_fields=["name"])
    keycache.forget_tenant(tenant)  # its keys' records hold the name
    audit_record(
        actor=actor,
        action="tenant.renamed",
        tenant=tenant,
        target=tenant,
        data={"from": previous, "to": name},
    )
    return tenant


@transaction.atomic
def tenant_change_status(*, tenant: Tenant, action: str, actor: Actor, reason: str = "") -> Tenant:
    """Approve, suspend or reactivate a tenant. Suspension cuts keys and sessions at once,
    because both are checked against the tenant's status on every request."""
    _operator_only(actor)
    transition = TENANT_STATUS_TRANSITIONS.get(action)
    if transition is None:
        raise ApplicationError(f"Unknown action {action!r}.", code="invalid_action")
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if tenant.status not in transition.allowed_from:
        raise Conflict(
            f"A {tenant.status} tenant cannot be {transition.past_tense}.",
            code="invalid_status_transition",
        )
    old_status = tenant.status
    tenant.status = transition.to
    tenant.status_changed_at = timezone.now()
    tenant.save(update_fields=["status", "status_changed_at"])
    keycache.forget_tenant(tenant)
    audit_record(
        actor=actor,
        action=f"tenant.{transition.past_tense}",
        tenant=tenant,
        target=tenant,
        data={"from": old_status, "to": transition.to, "reason": reason},
    )
    return tenant


@transaction.atomic
def platform_settings_update(*, actor: Actor, new_tenant_status: str) -> PlatformSettings:
    _operator_only(actor)
    if new_tenant_status not in (Tenant.Status.ACTIVE, Tenant.Status.PENDING):
        raise ApplicationError("New tenants start active or pending.", code="invalid_status")
    platform = PlatformSettings.load()
    platform.new_tenant_status = new_tenant_status
    platform.save()
    audit_record(
        actor=actor,
        action="platform.settings_changed",
        tenant=None,
        data={"new_tenant_status": new_tenant_status},
    )
    return platform


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # shown once: the link built from it is the only way to accept

    @property
    def path(self) -> str:
        return f"/invitations/{self.token}/"


@transaction.atomic
def invitation_create(*, tenant: Tenant, email: str, role: str, actor: Actor) -> IssuedInvitation:
    if role not in Membership.Role.values:
        raise ApplicationError(
            f"Unknown role {role!r}.", code="invalid_role", fields={"role": ["Unknown role."]}
        )
    email = User.objects.normalize_email(email).strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(
            "This person already has an account.",
            code="email_taken",
            fields={"email": ["This person already has an account."]},
        )
    if Invitation.objects.filter(
        tenant=tenant, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).exists():
        raise Conflict("This person is already invited.", code="already_invited")
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        tenant=tenant,
        email=email,
        role=role,
        token_hash=hash_secret(token),
        invited_by=actor.user,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    audit_record(
        actor=actor,
        action="invitation.created",
        tenant=tenant,
        target=invitation,
        data={"role": role},
    )
    issued = IssuedInvitation(invitation=invitation, token=token)
    base_url = settings.SANDBOX_BASE_URL.rstrip("/")
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {tenant.name} on the Fintech Sandbox",
            message=f"Join {tenant.name} as {role}: {base_url}{issued.path}\n"
            f"The link works for {INVITATION_LIFETIME.days} days.",
            from_email=None,
            recipient_list=[email],
        )
    )
    return issued


def invitation_get_open(*, token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("tenant").filter(token_hash=hash_secret(token)).first()
    )
    if invitation is None or not invitation.is_open:
        raise NotFound(
            "This invitation does not exist or is no longer valid.", code="invitation_invalid"
        )
    return invitation


@transaction.atomic
def invitation_accept(
    *, token: str, password: str, full_name: str = "", ip_address: str | None = None
) -> Membership:
    invitation = invitation_get_open(token=token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_open:
        raise NotFound("This invitation is no longer valid.", code="invitation_invalid")
    email = _check_new_user(email=invitation.email, password=password)
    user = User.objects.create_user(email=email, password=password, full_name=full_name)
    membership = Membership.objects.create(
        tenant=invitation.tenant, user=user, role=invitation.role
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_record(
        actor=Actor(user=user, ip_address=ip_address),
        action="invitation.accepted",
        tenant=invitation.tenant,
        target=invitation,
        data={"role": invitation.role},
    )
    return membership


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: Actor) -> Invitation:
    updated = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if updated != 1:
        raise Conflict("This invitation is already used or revoked.", code="invitation_closed")
    invitation.refresh_from_db()
    audit_record(
        actor=actor, action="invitation.revoked", tenant=invitation.tenant, target=invitation
    )
    return invitation


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Actor) -> None:
    if (
        membership.role == Membership.Role.OWNER
        and not Membership.objects.filter(tenant=membership.tenant, role=Membership.Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    ):
        raise Conflict("A tenant keeps at least one owner.", code="last_owner")
    audit_record(
        actor=actor,
        action="member.removed",
        tenant=membership.tenant,
        target=membership.user,
        data={"role": membership.role},
    )
    user = membership.user
    membership.delete()
    user.is_active = False
    user.save(update_fields=["is_active"])


# --- API keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    secret: str  # shown exactly once; only its hash is stored


@transaction.atomic
def api_key_create(*, tenant: Tenant, name: str, actor: Actor) -> IssuedApiKey:
    name = name.strip()
    if not name:
        raise ApplicationError(
            "The key needs a name.",
            code="invalid_name",
            fields={"name": ["This field may not be blank."]},
        )
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name[:80],
        prefix=secret[: len(API_KEY_PREFIX) + 6],
        secret_hash=hash_secret(secret),
        created_by=actor.user,
    )
    audit_record(actor=actor, action="api_key.created", tenant=tenant, target=api_key)
    return IssuedApiKey(api_key=api_key, secret=secret)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> ApiKey:
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated != 1:
        raise Conflict("This key is already revoked.", code="api_key_revoked")
    api_key.refresh_from_db()
    keycache.forget([api_key.secret_hash])
    audit_record(actor=actor, action="api_key.revoked", tenant=api_key.tenant, target=api_key)
    return api_key


def _api_key_with_tenant(secret_hash: str) -> ApiKey | None:
    """The key with this hash and its tenant, in one query. Every API request asks, so on
    PostgreSQL the SQL is written once rather than rebuilt by the ORM each time (which cost
    more CPU than the query itself); the rows become the same model instances."""
    if connection.vendor != "postgresql":
        return ApiKey.objects.select_related("tenant").filter(secret_hash=secret_hash).first()
    key_fields, tenant_fields = _API_KEY_FIELDS
    with connection.cursor() as cursor:
        cursor.execute(_API_KEY_SQL, [secret_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    count = len(key_fields)
    api_key = ApiKey.from_db("default", key_fields, row[:count])
    api_key._state.fields_cache["tenant"] = Tenant.from_db("default", tenant_fields, row[count:])
    return api_key


_API_KEY_FIELDS = (
    [f.attname for f in ApiKey._meta.concrete_fields],
    [f.attname for f in Tenant._meta.concrete_fields],
)
_API_KEY_SQL = (
    "SELECT {}, {} FROM {} AS k JOIN {} AS t ON t.id = k.tenant_id WHERE k.{} = %s".format(
        ", ".join(f"k.{f.column}" for f in ApiKey._meta.concrete_fields),
        ", ".join(f"t.{f.column}" for f in Tenant._meta.concrete_fields),
        ApiKey._meta.db_table,
        Tenant._meta.db_table,
        ApiKey._meta.get_field("secret_hash").column,
    )
)


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The live key for ``secret`` (with its tenant) from PostgreSQL, or None. Marks its
    last use at a coarse resolution so that a busy key does not turn every read into a
    write (``sandbox.tenants.keycache`` marks cached keys' uses in Redis instead)."""
    if not secret.startswith(API_KEY_PREFIX):
        return None
    api_key = _api_key_with_tenant(hash_secret(secret))
    if api_key is None or api_key.is_revoked:
        return None
    now = timezone.now()
    resolution = timedelta(seconds=settings.SANDBOX_API_KEY_LAST_USED_RESOLUTION)
    if api_key.last_used_at is None or now - api_key.last_used_at >= resolution:
        api_key_mark_used(api_key=api_key)
    return api_key


def api_key_mark_used(*, api_key: ApiKey) -> None:
    """Record a use of the key now (``last_used_at``)."""
    api_key.last_used_at = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=api_key.last_used_at)


# --- Nodes ---------------------------------------------------------------------------------

NODE_EDITABLE_FIELDS = ("name", "country", "webhook_url")

# Called as ``func(node=...)`` by ``node_create``, inside its transaction, right after the
# node is saved, in registration order (AppConfig.ready(), so INSTALLED_APPS order). Higher
# floors give a new node what it needs without this module importing them.
_ON_NODE_CREATED: list[Callable[..., object]] = []


def on_node_created(func: Callable[..., object]) -> Callable[..., object]:
    """Register ``func(node=...)``; register in your AppConfig.ready(). Registering twice is
    a no-op."""
    if func not in _ON_NODE_CREATED:
        _ON_NODE_CREATED.append(func)
    return func


@transaction.atomic
def node_create(
    *,
    tenant: Tenant,
    actor: Actor,
    name: str,
    country: str,
    base_currency: str,
    webhook_url: str = "",
) -> Node:
    node = Node(
        tenant=tenant,
        name=name,
        country=country,
        base_currency=base_currency,
        webhook_url=webhook_url,
    )
    _validate_model(node)
    validate_webhook_url(node.webhook_url)
    node.save()
    # Same transaction: a node never exists without its wallet (wallets registers that) nor
    # its end-of-day schedule (the bank network does).
    for func in _ON_NODE_CREATED:
        func(node=node)
    audit_record(
        actor=actor,
        action="node.created",
        tenant=tenant,
        target=node,
        data={"country": str(country), "base_currency": base_currency},
    )
    return node


@transaction.atomic
def node_update(*, node: Node, actor: Actor, **changes: Any) -> Node:
    unknown = set(changes) - set(NODE_EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError(
            f"These fields cannot be changed: {', '.join(sorted(unknown))}.", code="read_only_field"
        )
    node = Node.objects.select_for_update().get(pk=node.pk)
    if not node.is_active:
        raise Conflict("A deactivated node cannot be edited.", code="node_inactive")
    for field, value in changes.items():
        setattr(node, field, value)
    _validate_model(node)
    if "webhook_url" in changes:
        validate_webhook_url(node.webhook_url)
    node.save(update_fields=[*changes])
    audit_record(
        actor=actor,
        action="node.updated",
        tenant=node.tenant,
        target=node,
        data={k: str(v) for k, v in changes.items()},
    )
    return node


@transaction.atomic
def node_deactivate(*, node: Node, actor: Actor) -> Node:
    updated = Node.objects.filter(pk=node.pk, is_active=True).update(
        is_active=False, deactivated_at=timezone.now()
    )
    if updated != 1:
        raise Conflict("This node is already deactivated.", code="node_inactive")
    node.refresh_from_db()
    audit_record(actor=actor, action="node.deactivated", tenant=node.tenant, target=node)
    return node


def _validate_model(instance: Model) -> None:
    try:
        instance.full_clean(exclude=["tenant"])
    except ValidationError as exc:
        raise ApplicationError(
            "Some fields are not valid.", code="validation_error", fields=exc.message_dict
        ) from exc
