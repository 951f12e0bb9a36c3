"""Tenant API: the tenant itself, nodes, API keys, team and audit log."""

from __future__ import annotations

from typing import Any

from django.db import models
from django_countries.serializer_fields import CountryField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox.api.page_query import Scope
from sandbox.api.schema import path_choices
from sandbox.api.views import ApiView, ListApiView, OutputModelSerializer
from sandbox.currencies import CurrencyCode
from sandbox.tenants import lockouts, selectors, services
from sandbox.tenants.access import TenantApiRequest, actor_for, client_ip
from sandbox.tenants.forms import EMAIL_MAX_LENGTH
from sandbox.tenants.models import (
    ApiKey,
    AuditLogEntry,
    Invitation,
    Membership,
    Node,
    PlatformSettings,
    Tenant,
)
from sandbox.tenants.permissions import IsActiveTenantMember, IsOperator, IsOwner
from sandbox.throttles import AddressThrottle, InvitationAcceptThrottle, SignupThrottle

# Longer addresses pass the e-mail validator but could never be stored: a clear 400 instead.


class TenantOutput(OutputModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "status", "created_at"]


class NodeOutput(OutputModelSerializer):
    country = CountryField()

    class Meta:
        model = Node
        fields = [
            "id",
            "name",
            "country",
            "base_currency",
            "webhook_url",
            "is_active",
            "created_at",
            "deactivated_at",
        ]


class ApiKeyOutput(OutputModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]


class AuditLogOutput(OutputModelSerializer):
    class Meta:
        model = AuditLogEntry
        fields = [
            "id",
            "created_at",
            "actor_label",
            "is_operator_action",
            "action",
            "target_type",
            "target_id",
            "target_label",
            "data",
            "ip_address",
        ]


class TenantScopedView(ApiView):
    """Base for tenant endpoints (see ``sandbox.api.views``): ``self.tenant`` and
    ``self.actor`` come from the one place that resolves access (the permission class)."""

    permission_classes = [IsActiveTenantMember]
    request: TenantApiRequest  # the permission class sets ``tenant_access`` before handlers

    @property
    def tenant(self) -> Tenant:
        return self.request.tenant_access.tenant

    @property
    def actor(self) -> services.Actor:
        return self.request.tenant_access.actor


class TenantScopedListView(TenantScopedView, ListApiView):
    """A paginated list of the tenant's ``model`` rows (or of ``get_queryset``)."""

    model: type[models.Model] | None = None  # a model whose manager is a TenantQuerySet's

    def get_queryset(self):
        return self.model.objects.for_tenant(self.tenant)

    def planned_scope(self) -> Scope | None:
        # A list of the tenant's rows of ``model`` as they are (``get_queryset`` as
        # written here) differs from another tenant's only by the tenant's id.
        if type(self).get_queryset is not TenantScopedListView.get_queryset:
            return None
        assert self.model is not None, f"{type(self).__name__} names no model"
        return Scope(self.model, "for_tenant", (self.tenant.pk,), self.get_queryset)


# --- Signup ----------------------------------------------------------------------------------


class SignupApi(ApiView):
    """Create a tenant and its owner. Active tenants get a first API key in the answer."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [AddressThrottle, SignupThrottle]

    class InputSerializer(serializers.Serializer):
        organization = serializers.CharField(max_length=120)
        email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH)
        password = serializers.CharField(write_only=True)
        full_name = serializers.CharField(max_length=150, required=False, default="")

    @extend_schema(
        responses={
            201: inline_serializer(
                "Signup", {"tenant": TenantOutput(), "api_key": serializers.CharField()}
            )
        },
    )
    def post(self, request: Request) -> Response:
        values = self.validated_input()
        membership = services.tenant_signup(**values, ip_address=client_ip(request))
        body: dict[str, Any] = {"tenant": TenantOutput(membership.tenant).data, "api_key": None}
        if membership.tenant.is_active:
            issued = services.api_key_create(
                tenant=membership.tenant,
                name="First key",
                actor=services.Actor(user=membership.user, ip_address=client_ip(request)),
            )
            body["api_key"] = issued.secret
        return Response(body, status=status.HTTP_201_CREATED)


class TenantApi(TenantScopedView):
    """Your organization; owners rename it with PATCH (audited)."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120)

    def get_permissions(self):
        return [IsOwner()] if self.request.method == "PATCH" else super().get_permissions()

    @extend_schema(responses=TenantOutput)
    def get(self, request: Request) -> Response:
        return Response(TenantOutput(self.tenant).data)

    @extend_schema(responses=TenantOutput)
    def patch(self, request: Request) -> Response:
        values = self.validated_input()
        tenant = services.tenant_rename(tenant=self.tenant, name=values["name"], actor=self.actor)
        return Response(TenantOutput(tenant).data)


# --- Nodes -----------------------------------------------------------------------------------


class NodeListApi(TenantScopedListView):
    """Your nodes: the branches, apps or entities that hold wallets."""

    model = Node
    serializer_class = NodeOutput

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120)
        country = CountryField()
        base_currency = serializers.ChoiceField(choices=CurrencyCode.choices)
        webhook_url = serializers.URLField(
            required=False, allow_blank=True, default="", max_length=500
        )

    @extend_schema(responses={201: NodeOutput})
    def post(self, request: Request) -> Response:
        """Create a node, with its wallet and a first account in its base currency."""
        values = self.validated_input()
        node = services.node_create(tenant=self.tenant, actor=self.actor, **values)
        return Response(NodeOutput(node).data, status=status.HTTP_201_CREATED)


class NodeDetailApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120, required=False)
        country = CountryField(required=False)
        webhook_url = serializers.URLField(required=False, allow_blank=True, max_length=500)

    @extend_schema(responses=NodeOutput)
    def get(self, request: Request, node_id: str) -> Response:
        """One of your nodes."""
        return Response(NodeOutput(Node.objects.get_for_tenant(self.tenant, node_id)).data)

    @extend_schema(responses=NodeOutput)
    def patch(self, request: Request, node_id: str) -> Response:
        """Rename a node, or change its country or webhook URL."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        values = self.validated_input(partial=True)
        node = services.node_update(node=node, actor=self.actor, **values)
        return Response(NodeOutput(node).data)


class NodeDeactivateApi(TenantScopedView):
    @extend_schema(responses=NodeOutput)
    def post(self, request: Request, node_id: str) -> Response:
        """Deactivate a node; it keeps its history (audited)."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        node = services.node_deactivate(node=node, actor=self.actor)
        return Response(NodeOutput(node).data)


# --- API keys --------------------------------------------------------------------------------


class ApiKeyListApi(TenantScopedListView):
    """Your organization's API keys (never their secrets)."""

    model = ApiKey
    serializer_class = ApiKeyOutput

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=80)

    @extend_schema(
        responses={
            201: inline_serializer(
                "ApiKeyCreated", {"api_key": ApiKeyOutput(), "secret": serializers.CharField()}
            )
        },
    )
    def post(self, request: Request) -> Response:
        """Create an API key; its secret is in this answer only."""
        values = self.validated_input()
        issued = services.api_key_create(tenant=self.tenant, actor=self.actor, **values)
        body = {"api_key": ApiKeyOutput(issued.api_key).data, "secret": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(TenantScopedView):
    @extend_schema(responses=ApiKeyOutput)
    def post(self, request: Request, key_id: str) -> Response:
        """Revoke an API key, at once."""
        api_key = ApiKey.objects.get_for_tenant(self.tenant, key_id)
        api_key = services.api_key_revoke(api_key=api_key, actor=self.actor)
        return Response(ApiKeyOutput(api_key).data)


# --- Team ------------------------------------------------------------------------------------


class MemberOutput(OutputModelSerializer):
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["id", "email", "role", "created_at"]


class InvitationOutput(OutputModelSerializer):
    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]


class MemberListApi(TenantScopedListView):
    """Your organization's members and their roles."""

    model = Membership
    serializer_class = MemberOutput

    def get_queryset(self):
        return super().get_queryset().select_related("user")


class InvitationListApi(TenantScopedListView):
    """Invitations to join your organization."""

    model = Invitation
    serializer_class = InvitationOutput

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH)
        role = serializers.ChoiceField(choices=Membership.Role.choices)

    def get_permissions(self):
        return [IsOwner()] if self.request.method == "POST" else super().get_permissions()

    @extend_schema(
        responses={
            201: inline_serializer(
                "InvitationCreated",
                {"invitation": InvitationOutput(), "link": serializers.CharField()},
            )
        },
    )
    def post(self, request: Request) -> Response:
        """Invite someone by e-mail (owners only); the answer holds the invitation link."""
        values = self.validated_input()
        issued = services.invitation_create(tenant=self.tenant, actor=self.actor, **values)
        link = request.build_absolute_uri(issued.path)
        return Response(
            {"invitation": InvitationOutput(issued.invitation).data, "link": link},
            status=status.HTTP_201_CREATED,
        )


class InvitationRevokeApi(TenantScopedView):
    permission_classes = [IsOwner]

    @extend_schema(responses=InvitationOutput)
    def post(self, request: Request, invitation_id: str) -> Response:
        """Revoke an invitation that was not accepted yet (owners only)."""
        invitation = Invitation.objects.get_for_tenant(self.tenant, invitation_id)
        invitation = services.invitation_revoke(invitation=invitation, actor=self.actor)
        return Response(InvitationOutput(invitation).data)


class InvitationAcceptApi(ApiView):
    """Join a tenant with an invitation's token: the account is created for the invited
    e-mail, exactly as the invitation link in the browser does. The token is the only
    credential, so no key or session is needed. No API key is issued: keys act as
    developers, and the new member may be a viewer; log in to the dashboard to get one."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [AddressThrottle, InvitationAcceptThrottle]

    class InputSerializer(serializers.Serializer):
        password = serializers.CharField(write_only=True)
        full_name = serializers.CharField(max_length=150, required=False, default="")

    @extend_schema(
        responses={
            201: inline_serializer(
                "InvitationAccepted", {"tenant": TenantOutput(), "member": MemberOutput()}
            )
        },
    )
    def post(self, request: Request, token: str) -> Response:
        values = self.validated_input()
        membership = services.invitation_accept(
            token=token, **values, ip_address=client_ip(request)
        )
        body = {
            "tenant": TenantOutput(membership.tenant).data,
            "member": MemberOutput(membership).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class AuditLogApi(TenantScopedListView):
    """Your organization's audit log, newest first."""

    model = AuditLogEntry
    serializer_class = AuditLogOutput


# --- Operators -------------------------------------------------------------------------------


class OperatorTenantOutput(OutputModelSerializer):
    node_count = serializers.IntegerField()
    last_activity_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        model = Tenant
        fields = [
            "id",
            "name",
            "status",
            "created_at",
            "status_changed_at",
            "node_count",
            "last_activity_at",
        ]


class OperatorTenantListApi(ListApiView):
    """Every tenant, with its node count and last activity (operators)."""

    permission_classes = [IsOperator]
    serializer_class = OperatorTenantOutput

    class FilterSerializer(serializers.Serializer):
        status = serializers.CharField(required=False, help_text="Only tenants in this status.")

    def get_queryset(self):
        queryset = selectors.operator_tenant_list()
        if status_filter := self.request.query_params.get("status"):
            queryset = queryset.filter(status=status_filter)
        return queryset


class OperatorTenantActionApi(ApiView):
    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    @extend_schema(
        parameters=[path_choices("action", services.TENANT_STATUS_TRANSITIONS)],
        responses=OperatorTenantOutput,
    )
    def post(self, request: Request, tenant_id: str, action: str) -> Response:
        """Approve, suspend or reactivate a tenant (operators; audited)."""
        tenant = selectors.operator_tenant_get(tenant_id)
        values = self.validated_input()
        services.tenant_change_status(
            tenant=tenant,
            action=action,
            actor=actor_for(request),
            reason=values["reason"],
        )
        return Response(OperatorTenantOutput(selectors.operator_tenant_get(tenant.pk)).data)


class OperatorAuditLogApi(ListApiView):
    """Every tenant's audit log entries, newest first (operators)."""

    permission_classes = [IsOperator]
    serializer_class = AuditLogOutput

    class FilterSerializer(serializers.Serializer):
        tenant = serializers.UUIDField(
            required=False,
            help_text="Only this tenant's entries (400 if malformed, 404 if unknown).",
        )

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        entries = AuditLogEntry.objects.all()
        if tenant_id := filters.validated_data.get("tenant"):
            entries = entries.filter(tenant=selectors.operator_tenant_get(tenant_id))
        return entries


class PlatformSettingsOutput(OutputModelSerializer):
    class Meta:
        model = PlatformSettings
        fields = ["new_tenant_status", "updated_at"]


class OperatorSettingsApi(ApiView):
    """The operators' settings: whether new tenants start active or pending approval."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        new_tenant_status = serializers.ChoiceField(
            choices=list(PlatformSettings._meta.get_field("new_tenant_status").choices or [])
        )

    @extend_schema(responses=PlatformSettingsOutput)
    def get(self, request: Request) -> Response:
        return Response(PlatformSettingsOutput(PlatformSettings.load()).data)

    @extend_schema(responses=PlatformSettingsOutput)
    def put(self, request: Request) -> Response:
        values = self.validated_input()
        platform = services.platform_settings_update(actor=actor_for(request), **values)
        return Response(PlatformSettingsOutput(platform).data)


class LockoutOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField(allow_null=True, help_text="The account tried.")
    ip_address = serializers.IPAddressField(allow_null=True, help_text="From this address.")
    failures = serializers.IntegerField(source="failures_since_start")
    last_attempt_at = serializers.DateTimeField(source="attempt_time")
    locked_until = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_locked_until(self, attempt) -> Any:
        return serializers.DateTimeField().to_representation(lockouts.locked_until(attempt))


class OperatorLockoutListApi(ApiView):
    """Logins locked out now after repeated wrong passwords: one account from one address
    (operators). Each lifts by itself after the cool-off, or at once with ``lift``."""

    permission_classes = [IsOperator]

    @extend_schema(responses=LockoutOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(LockoutOutput(lockouts.lockout_list()[:500], many=True).data)


class OperatorLockoutLiftApi(ApiView):
    permission_classes = [IsOperator]

    @extend_schema(responses={204: None})
    def post(self, request: Request, lockout_id: int) -> Response:
        """Lift a lockout: the account may log in from that address at once (audited)."""
        lockout = lockouts.lockout_get(lockout_id)
        lockouts.lockout_lift(lockout=lockout, actor=actor_for(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
