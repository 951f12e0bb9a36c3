"""Public (unauthenticated) routes of credentials."""

from django.urls import path

from sandbox.identities.credentials import public

urlpatterns = [path("issuer.json", public.issuer_jwks, name="issuer-jwks")]
