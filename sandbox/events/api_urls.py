"""Event, webhook and clock routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from sandbox.events import api

urlpatterns = [
    path("events", api.EventListApi.as_view(), name="events"),
    path("events/<str:event_id>", api.EventDetailApi.as_view(), name="event"),
    path("events/<str:event_id>/resend", api.EventResendApi.as_view(), name="event-resend"),
    path("webhook_deliveries", api.DeliveryListApi.as_view(), name="webhook-deliveries"),
    path(
        "webhook_deliveries/<str:delivery_id>",
        api.DeliveryDetailApi.as_view(),
        name="webhook-delivery",
    ),
    path(
        "webhook_deliveries/<str:delivery_id>/resend",
        api.DeliveryResendApi.as_view(),
        name="webhook-delivery-resend",
    ),
    path(
        "nodes/<str:node_id>/webhook_endpoint",
        api.WebhookEndpointApi.as_view(),
        name="webhook-endpoint",
    ),
    path(
        "nodes/<str:node_id>/webhook_endpoint/enable",
        api.WebhookEndpointEnableApi.as_view(),
        name="webhook-endpoint-enable",
    ),
    path(
        "nodes/<str:node_id>/webhook_secrets",
        api.WebhookSecretListApi.as_view(),
        name="webhook-secrets",
    ),
    path(
        "nodes/<str:node_id>/webhook_secrets/rotate",
        api.WebhookSecretRotateApi.as_view(),
        name="webhook-secret-rotate",
    ),
    path("test_clocks", api.ClockListApi.as_view(), name="test-clocks"),
    path("test_clocks/<str:clock_id>", api.ClockDetailApi.as_view(), name="test-clock"),
    path(
        "test_clocks/<str:clock_id>/advance",
        api.ClockAdvanceApi.as_view(),
        name="test-clock-advance",
    ),
    path(
        "test_clocks/<str:clock_id>/attach", api.ClockAttachApi.as_view(), name="test-clock-attach"
    ),
    path(
        "test_clocks/<str:clock_id>/detach", api.ClockDetachApi.as_view(), name="test-clock-detach"
    ),
    path(
        "test_helpers/events/<str:event_id>/refire",
        api.EventRefireApi.as_view(),
        name="test-helper-event-refire",
    ),
    path("operator/events", api.OperatorEventListApi.as_view(), name="operator-events"),
    path(
        "operator/platform_clock",
        api.OperatorPlatformClockApi.as_view(),
        name="operator-platform-clock",
    ),
    path(
        "operator/platform_clock/<str:action>",
        api.OperatorPlatformClockActionApi.as_view(),
        name="operator-platform-clock-action",
    ),
]
