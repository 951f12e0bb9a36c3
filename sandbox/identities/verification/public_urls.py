"""Public routes of the simulated identity providers, under /oidc/ (namespace ``oidc``)."""

from django.urls import path

from sandbox.identities.verification import public

app_name = "oidc"

urlpatterns = [
    path("<str:provider>/jwks.json", public.jwks, name="jwks"),
    path("<str:provider>/.well-known/openid-configuration", public.discovery, name="discovery"),
]
