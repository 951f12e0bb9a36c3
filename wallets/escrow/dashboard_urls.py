from django.urls import path

from wallets.escrow import views

app_name = "escrow"

urlpatterns = [
    path("escrows/", views.escrow_list, name="escrows"),
    path("escrows/<str:escrow_id>/", views.escrow_detail, name="escrow"),
    path("escrows/<str:escrow_id>/<str:action>/", views.escrow_action, name="escrow-action"),
    path(
        "escrow-disputes/<str:dispute_id>/<str:action>/",
        views.dispute_action,
        name="dispute-action",
    ),
]
