"""Clearing's actions on a test clock's page, included under /test-clocks/ ahead of the
events app's routes (whose ``<clock>/<action>/`` would take them otherwise)."""

from django.urls import path

from clearing import clock_views

app_name = "clearing_clocks"

urlpatterns = [
    path("<str:clock_id>/end_day/", clock_views.clock_end_day, name="end-day"),
]
