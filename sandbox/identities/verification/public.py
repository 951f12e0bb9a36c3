"""Public (unauthenticated) routes of the simulated identity providers: their JWKS and
OpenID Connect discovery documents, what any relying party fetches."""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from sandbox.identities.verification import providers


def _provider(name: str) -> providers.Provider:
    provider = providers.PROVIDERS.get(name)
    if provider is None:
        raise Http404("No such identity provider.")
    return provider


@require_GET
def jwks(request: HttpRequest, provider: str) -> JsonResponse:
    response = JsonResponse(providers.jwks(_provider(provider)))
    response["Content-Type"] = "application/jwk-set+json"
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
def discovery(request: HttpRequest, provider: str) -> JsonResponse:
    response = JsonResponse(providers.discovery(_provider(provider)))
    response["Cache-Control"] = "public, max-age=300"
    return response
