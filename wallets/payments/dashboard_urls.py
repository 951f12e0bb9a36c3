from django.urls import path

from wallets.payments import views

app_name = "payments"

urlpatterns = [
    path("", views.request_list, name="list"),
    path("pay/", views.payer_app, name="pay"),
    path("nodes/<str:node_id>/keys/", views.node_keys, name="node-keys"),
    path("<str:request_id>/", views.checkout, name="checkout"),
    path("<str:request_id>/status/", views.checkout_status, name="status"),
    path("<str:request_id>/refund/", views.refund, name="refund"),
    path("<str:request_id>/cancel/", views.cancel, name="cancel"),
]
