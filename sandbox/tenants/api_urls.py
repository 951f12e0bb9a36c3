"""Tenant, team, node, API key, audit log and operator routes, included under /api/v1/
(namespace ``api``)."""

from django.urls import path

from sandbox.tenants import api as tenants_api

urlpatterns = [
    path("signup", tenants_api.SignupApi.as_view(), name="signup"),
    path("tenant", tenants_api.TenantApi.as_view(), name="tenant"),
    path("nodes", tenants_api.NodeListApi.as_view(), name="nodes"),
    path("nodes/<str:node_id>", tenants_api.NodeDetailApi.as_view(), name="node"),
    path(
        "nodes/<str:node_id>/deactivate",
        tenants_api.NodeDeactivateApi.as_view(),
        name="node-deactivate",
    ),
    path("api_keys", tenants_api.ApiKeyListApi.as_view(), name="api-keys"),
    path(
        "api_keys/<str:key_id>/revoke", tenants_api.ApiKeyRevokeApi.as_view(), name="api-key-revoke"
    ),
    path("members", tenants_api.MemberListApi.as_view(), name="members"),
    path("invitations", tenants_api.InvitationListApi.as_view(), name="invitations"),
    path(
        "invitations/<str:invitation_id>/revoke",
        tenants_api.InvitationRevokeApi.as_view(),
        name="invitation-revoke",
    ),
    path(
        "invitations/<str:token>/accept",
        tenants_api.InvitationAcceptApi.as_view(),
        name="invitation-accept",
    ),
    path("audit_log", tenants_api.AuditLogApi.as_view(), name="audit-log"),
    path("operator/tenants", tenants_api.OperatorTenantListApi.as_view(), name="operator-tenants"),
    path(
        "operator/tenants/<str:tenant_id>/<str:action>",
        tenants_api.OperatorTenantActionApi.as_view(),
        name="operator-tenant-action",
    ),
    path(
        "operator/audit_log", tenants_api.OperatorAuditLogApi.as_view(), name="operator-audit-log"
    ),
    path("operator/settings", tenants_api.OperatorSettingsApi.as_view(), name="operator-settings"),
]
