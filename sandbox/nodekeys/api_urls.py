"""Node key routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from sandbox.nodekeys import api

urlpatterns = [
    path("nodes/<str:node_id>/keys", api.NodeKeysApi.as_view(), name="node-keys"),
    path("nodes/<str:node_id>/keys/rotate", api.NodeKeyRotateApi.as_view(), name="node-key-rotate"),
]
