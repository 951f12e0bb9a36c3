"""The public JWKS of every node: anyone verifies a node's signatures with it."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from sandbox.nodekeys import platform, selectors
from sandbox.tenants.models import Node


@require_GET
def node_jwks(request: HttpRequest, node_id: str) -> JsonResponse:
    node = Node.objects.filter(pk=node_id).first() if _is_uuid(node_id) else None
    if node is None:
        raise Http404("No such node.")
    response = JsonResponse(selectors.node_jwks(node))
    response["Content-Type"] = "application/jwk-set+json"
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=60"
    return response


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@require_GET
def platform_jwks(request: HttpRequest) -> JsonResponse:
    """The platform's own keys: they sign settlement statements."""
    response = JsonResponse(platform.platform_jwks())
    response["Content-Type"] = "application/jwk-set+json"
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=60"
    return response
