"""The issuer's public JWKS: anyone verifies the platform's credentials offline with it."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from sandbox.identities.credentials import keys


@require_GET
def issuer_jwks(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(keys.issuer_jwks())
    response["Content-Type"] = "application/jwk-set+json"
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=60"
    return response
