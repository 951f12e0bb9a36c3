"""The public URL a dynamic QR carries: it serves the signed payment request as a compact
JWS (``application/jose``, as Pix's dynamic QR locations do). No login: whoever scans the
QR may read the request, which holds nothing the merchant did not mean to show. The id is
a random UUID, so requests cannot be listed by guessing."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from wallets.payments.models import PaymentRequest

JOSE = "application/jose"


@require_GET
def request_jws(request: HttpRequest, request_id: str) -> HttpResponse:
    try:
        pk = uuid.UUID(hex=request_id)
    except ValueError:
        raise Http404("No such payment request.") from None
    payment_request = PaymentRequest.objects.filter(pk=pk).only("jws").first()
    if payment_request is None:
        raise Http404("No such payment request.")
    response = HttpResponse(payment_request.jws, content_type=JOSE)
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "no-store"
    return response
