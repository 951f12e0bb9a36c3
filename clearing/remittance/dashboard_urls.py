from django.urls import path

from clearing.remittance import views

app_name = "remittance"

urlpatterns = [
    path("", views.remittance_list, name="list"),
    path("<str:remittance_id>/", views.remittance_detail, name="detail"),
    path("<str:remittance_id>/legs/", views.remittance_legs, name="legs"),
]
