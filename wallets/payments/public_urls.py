"""Public (unauthenticated) routes of payments: the URL in the QR."""

from django.urls import path

from wallets.payments import public

app_name = "payments-public"

urlpatterns = [
    path("r/<str:request_id>", public.request_jws, name="request-jws"),
    path("r/<str:request_id>/qr.png", public.request_qr_png, name="request-qr-png"),
    path("r/<str:request_id>/qr.svg", public.request_qr_svg, name="request-qr-svg"),
]
