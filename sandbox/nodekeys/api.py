"""Node keys API: a node's JWKS, rotation, and registering the tenant's own public key."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox.api.views import PresenterSerializer
from sandbox.nodekeys import selectors, services
from sandbox.nodekeys.models import NodeKey
from sandbox.tenants.api import TenantScopedView
from sandbox.tenants.models import Node


class NodeKeyOutput(PresenterSerializer):
    @staticmethod
    def present(instance: NodeKey) -> dict[str, Any]:
        return selectors.key_json(instance)

    kty = serializers.CharField(help_text='"OKP"')
    crv = serializers.CharField(help_text='"Ed25519"')
    x = serializers.CharField(help_text="The public key, base64url.")
    kid = serializers.CharField(help_text="The key's RFC 7638 thumbprint.")
    alg = serializers.CharField(help_text='"EdDSA"')
    use = serializers.CharField(help_text='"sig"')
    status = serializers.ChoiceField(choices=NodeKey.Status.choices)
    origin = serializers.ChoiceField(
        choices=NodeKey.Origin.choices,
        help_text="platform: the sandbox signs for the node; tenant: the tenant signs outside.",
    )
    created_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField(allow_null=True)


class JwksOutput(serializers.Serializer):
    keys = NodeKeyOutput(many=True)


class NodeKeysApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        jwk = serializers.JSONField(
            help_text='Your Ed25519 public key as a JWK: {"kty": "OKP", "crv": "Ed25519", "x": …}.'
        )

    @extend_schema(responses=JwksOutput)
    def get(self, request: Request, node_id: str) -> Response:
        """The node's JWKS: its active key and the retired ones (which still verify what
        they signed). The same keys are public at ``/jwks/nodes/{node_id}.json``."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        return Response(selectors.node_jwks(node))

    @extend_schema(responses={201: NodeKeyOutput})
    def post(self, request: Request, node_id: str) -> Response:
        """Register your own public key as the node's active key: from now on you sign the
        node's payment requests and authorizations yourself, and the sandbox never signs
        for it (until you rotate back to a platform key)."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        values = self.validated_input()
        key = services.node_key_register(node=node, actor=self.actor, jwk=values["jwk"])
        return Response(selectors.key_json(key), status=status.HTTP_201_CREATED)


class NodeKeyRotateApi(TenantScopedView):
    @extend_schema(responses={201: NodeKeyOutput})
    def post(self, request: Request, node_id: str) -> Response:
        """Retire the active key and give the node a new one, held by the sandbox."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        key = services.node_key_rotate(node=node, actor=self.actor)
        return Response(selectors.key_json(key), status=status.HTTP_201_CREATED)
