from django.urls import path

from wallets import views

app_name = "wallets"

urlpatterns = [
    path("", views.wallet_list, name="index"),
    path("nodes/<str:node_id>/", views.wallet_detail, name="wallet"),
    path("nodes/<str:node_id>/transfer/", views.transfer_create, name="transfer"),
    path("transactions/", views.transaction_list, name="transactions"),
    path("transactions/export.csv", views.transaction_export, name="transactions-export"),
    path("transactions/<str:transaction_id>/", views.transaction_detail, name="transaction"),
    path(
        "transactions/<str:transaction_id>/reverse/",
        views.transaction_reverse,
        name="transaction-reverse",
    ),
]
