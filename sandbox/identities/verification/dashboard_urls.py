from django.urls import path

from sandbox.identities.verification import views

app_name = "identity_verification"

urlpatterns = [
    path("verification-sessions/", views.session_list, name="sessions"),
    path("verification-sessions/<str:session_id>/", views.session_detail, name="session"),
    path(
        "verification-sessions/<str:session_id>/<str:action>/",
        views.session_action,
        name="session-action",
    ),
    path("social-links/", views.social_links, name="social-links"),
    path(
        "social-links/<str:link_id>/complete/",
        views.social_link_complete,
        name="social-link-complete",
    ),
]
