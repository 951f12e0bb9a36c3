from django.urls import path

from sandbox.identities.credentials import views

app_name = "credentials"

urlpatterns = [
    path("", views.home, name="home"),
    path("credentials/<str:credential_id>/", views.credential, name="credential"),
    path("requests/<str:request_id>/", views.presentation_request, name="request"),
    path("people/<str:person_id>/", views.person, name="person"),
    path("presentations/<str:presentation_id>/", views.presentation, name="presentation"),
]
