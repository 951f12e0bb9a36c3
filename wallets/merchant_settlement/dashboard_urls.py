from django.urls import path

from wallets.merchant_settlement import views

app_name = "settlement"

urlpatterns = [
    path("", views.settlement_home, name="home"),
    path("nodes/<str:node_id>/run/", views.run_now, name="run"),
    path("batches/<str:batch_id>/", views.batch_detail, name="batch"),
    path("batches/<str:batch_id>/statement.csv", views.statement_download, name="statement"),
]
