from django.urls import path

from sandbox.tenants import operator_views

app_name = "operator"

urlpatterns = [
    path("", operator_views.tenant_list, name="tenants"),
    path(
        "tenants/<str:tenant_id>/<str:action>/", operator_views.tenant_action, name="tenant-action"
    ),
    path("settings/", operator_views.platform_settings, name="settings"),
    path("audit-log/", operator_views.audit_log, name="audit-log"),
    path("audit-log/export.csv", operator_views.audit_log_export, name="audit-log-export"),
    path("lockouts/", operator_views.lockout_list, name="lockouts"),
    path("lockouts/<int:lockout_id>/lift/", operator_views.lockout_lift, name="lockout-lift"),
]
