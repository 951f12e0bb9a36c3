"""Public (unauthenticated) routes of node keys."""

from django.urls import path

from sandbox.nodekeys import public

urlpatterns = [
    path("platform.json", public.platform_jwks, name="platform-jwks"),
    path("nodes/<str:node_id>.json", public.node_jwks, name="node-jwks"),
]
