from django.urls import path

from sandbox.tenants import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("nodes/", views.node_list, name="nodes"),
    path("nodes/<str:node_id>/", views.node_detail, name="node"),
    path("nodes/<str:node_id>/deactivate/", views.node_deactivate, name="node-deactivate"),
    path("api-keys/", views.api_key_list, name="api-keys"),
    path("api-keys/<str:key_id>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("team/", views.team, name="team"),
    path(
        "team/invitations/<str:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path("audit-log/", views.audit_log, name="audit-log"),
]
