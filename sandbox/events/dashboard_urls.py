from django.urls import path

from sandbox.events import views

app_name = "events"

urlpatterns = [
    path("events/", views.event_list, name="events"),
    path("events/live/", views.event_list_live, name="events-live"),
    path("events/<str:event_id>/", views.event_detail, name="event"),
    path("events/<str:event_id>/resend/", views.event_resend, name="event-resend"),
    path("webhooks/", views.delivery_list, name="deliveries"),
    path("webhooks/live/", views.delivery_list_live, name="deliveries-live"),
    path("webhooks/deliveries/<str:delivery_id>/", views.delivery_detail, name="delivery"),
    path("webhooks/nodes/<str:node_id>/", views.node_webhooks, name="node-webhooks"),
    path(
        "webhooks/nodes/<str:node_id>/enable/",
        views.node_webhook_enable,
        name="node-webhook-enable",
    ),
    path("test-clocks/", views.clock_list, name="clocks"),
    path("test-clocks/<str:clock_id>/", views.clock_detail, name="clock"),
    path("test-clocks/<str:clock_id>/<str:action>/", views.clock_action, name="clock-action"),
    path("operator/platform-clock/", views.platform_clock, name="platform-clock"),
]
