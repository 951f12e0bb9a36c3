"""Tenant, team and operator routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from sandbox.tenants import api

urlpatterns = [
    path("signup", api.SignupApi.as_view(), name="signup"),
    path("tenant", api.TenantApi.as_view(), name="tenant"),
    path("nodes", api.NodeListApi.as_view(), name="nodes"),
    path("nodes/<str:node_id>", api.NodeDetailApi.as_view(), name="node"),
    path(
        "nodes/<str:node_id>/deactivate",
        api.NodeDeactivateApi.as_view(),
        name="node-deactivate",
    ),
    path("api_keys", api.ApiKeyListApi.as_view(), name="api-keys"),
    path("api_keys/<str:key_id>/revoke", api.ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
    path("members", api.MemberListApi.as_view(), name="members"),
    path("invitations", api.InvitationListApi.as_view(), name="invitations"),
    path(
        "invitations/<str:invitation_id>/revoke",
        api.InvitationRevokeApi.as_view(),
        name="invitation-revoke",
    ),
    path(
        "invitations/<str:token>/accept",
        api.InvitationAcceptApi.as_view(),
        name="invitation-accept",
    ),
    path("audit_log", api.AuditLogApi.as_view(), name="audit-log"),
    path("operator/tenants", api.OperatorTenantListApi.as_view(), name="operator-tenants"),
    path(
        "operator/tenants/<str:tenant_id>/<str:action>",
        api.OperatorTenantActionApi.as_view(),
        name="operator-tenant-action",
    ),
    path("operator/audit_log", api.OperatorAuditLogApi.as_view(), name="operator-audit-log"),
    path("operator/settings", api.OperatorSettingsApi.as_view(), name="operator-settings"),
    path("operator/lockouts", api.OperatorLockoutListApi.as_view(), name="operator-lockouts"),
    path(
        "operator/lockouts/<int:lockout_id>/lift",
        api.OperatorLockoutLiftApi.as_view(),
        name="operator-lockout-lift",
    ),
]
