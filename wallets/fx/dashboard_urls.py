from django.urls import path

from wallets.fx import views

app_name = "fx"

urlpatterns = [
    path("", views.rates, name="rates"),
    path("quote/", views.quote, name="quote"),
    path("convert/", views.convert, name="convert"),
    path("operator/", views.operator, name="operator"),
]
