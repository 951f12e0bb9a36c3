"""Public routes of the simulated identity providers, under /oidc/ (namespace ``oidc``)."""

from django.urls import path

from sandbox.identities.verification import public, views

app_name = "oidc"

urlpatterns = [
    # The simulated login (the authorization endpoint): a dashboard page, for a tenant member.
    path("<str:provider>/authorize", views.social_login, name="authorize"),
    path("<str:provider>/jwks.json", public.jwks, name="jwks"),
    path("<str:provider>/.well-known/openid-configuration", public.discovery, name="discovery"),
]
