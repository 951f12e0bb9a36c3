"""The public URL a dynamic QR carries: it serves the signed payment request as a compact
JWS (``application/jose``, as Pix's dynamic QR locations do). No login: whoever scans the
QR may read the request, which holds nothing the merchant did not mean to show. The id is
a random UUID, so requests cannot be listed by guessing."""

from __future__ import annotations

import io
import uuid

import segno
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from wallets.payments.models import PaymentRequest

JOSE = "application/jose"


def _get(request_id: str) -> PaymentRequest:
    try:
        pk = uuid.UUID(hex=request_id)
    except ValueError:
        raise Http404("No such payment request.") from None
    payment_request = PaymentRequest.objects.filter(pk=pk).only("jws", "qr_payload").first()
    if payment_request is None:
        raise Http404("No such payment request.")
    return payment_request


def qr_image(payload: str, kind: str) -> bytes:
    """The QR of ``payload`` (error correction M, as EMVCo recommends at least), PNG or SVG."""
    out = io.BytesIO()
    segno.make_qr(payload, error="m").save(out, kind=kind, scale=6, border=4)
    return out.getvalue()


def qr_svg_inline(payload: str) -> str:
    """The same QR as an SVG element for an HTML page (no XML declaration)."""
    return str(segno.make_qr(payload, error="m").svg_inline(scale=6, border=4))


@require_GET
def request_jws(request: HttpRequest, request_id: str) -> HttpResponse:
    payment_request = _get(request_id)
    response = HttpResponse(payment_request.jws, content_type=JOSE)
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def request_qr_png(request: HttpRequest, request_id: str) -> HttpResponse:
    return HttpResponse(qr_image(_get(request_id).qr_payload, "png"), content_type="image/png")


@require_GET
def request_qr_svg(request: HttpRequest, request_id: str) -> HttpResponse:
    svg = qr_image(_get(request_id).qr_payload, "svg")
    return HttpResponse(svg, content_type="image/svg+xml")
