"""Events, webhook deliveries and secrets, test clocks, and the operators' platform clock."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox.api.schema import path_choices
from sandbox.api.views import ApiView, ListApiView, OutputModelSerializer, PresenterSerializer
from sandbox.clock import now as clock_now
from sandbox.events import clocks, selectors, services
from sandbox.events.models import (
    Event,
    PlatformClock,
    ScheduledAction,
    TestClock,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSecret,
)
from sandbox.events.webhooks import event_as_json
from sandbox.tenants.access import actor_for
from sandbox.tenants.api import TenantScopedListView, TenantScopedView
from sandbox.tenants.models import Node
from sandbox.tenants.permissions import IsOperator

# --- Shapes ----------------------------------------------------------------------------------


class EventOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Event) -> dict[str, Any]:
        return event_as_json(instance)

    id = serializers.UUIDField()
    object = serializers.CharField(help_text='Always "event".')
    type = serializers.CharField()
    node = serializers.UUIDField(allow_null=True)
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    # The event's payload; the name shadows ``Serializer.data``, which this class (it
    # renders through ``event_as_json``) never uses.
    data = serializers.JSONField()  # type: ignore[assignment]
    occurred_at = serializers.DateTimeField(help_text="The node's time (its test clock, if any).")
    created_at = serializers.DateTimeField(help_text="Real time of recording.")
    livemode = serializers.BooleanField()


class AttemptOutput(OutputModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "number", "attempted_at", "clock_time", "url", "ip_address", "status_code",
            "succeeded", "latency_ms", "response_excerpt", "error",
        ]  # fmt: skip


class DeliveryOutput(OutputModelSerializer):
    event_type = serializers.CharField(source="event.type")
    status = serializers.CharField(help_text="pending, succeeded or failed")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "event", "event_type", "node", "url", "status", "is_manual", "triggered_by",
            "attempt_count", "next_attempt_at", "expires_at", "last_status_code", "last_error",
            "created_at", "completed_at",
        ]  # fmt: skip


class DeliveryDetailOutput(DeliveryOutput):
    attempts = AttemptOutput(many=True)

    class Meta(DeliveryOutput.Meta):
        fields = [*DeliveryOutput.Meta.fields, "attempts"]


class SecretOutput(OutputModelSerializer):
    class Meta:
        model = WebhookSecret
        fields = ["secret", "created_at", "expires_at"]


class WebhookEndpointOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Node) -> dict[str, Any]:
        return services.endpoint_as_json(instance)

    object = serializers.CharField(help_text='Always "webhook_endpoint".')
    node = serializers.UUIDField()
    url = serializers.CharField(help_text="The node's webhook URL; empty if it has none.")
    status = serializers.CharField(
        help_text="enabled, or disabled after every attempt failed for days (docs/webhooks.md)"
    )
    failing_since = serializers.DateTimeField(
        allow_null=True, help_text="Node time of the first failure since the last success."
    )
    disabled_at = serializers.DateTimeField(allow_null=True)


class ScheduledActionOutput(OutputModelSerializer):
    status = serializers.CharField(help_text="pending, running, done, failed or cancelled")

    class Meta:
        model = ScheduledAction
        fields = ["id", "kind", "node", "due_at", "status", "payload"]


class ClockOutput(OutputModelSerializer):
    status = serializers.CharField(help_text="ready, or advancing until the advance is done")
    nodes = serializers.SerializerMethodField()

    class Meta:
        model = TestClock
        fields = [
            "id", "name", "frozen_time", "status", "advance_to", "last_error", "created_at",
            "nodes",
        ]  # fmt: skip

    def get_nodes(self, clock) -> list[str]:
        return [str(n.pk) for n in selectors.clock_nodes(clock=clock)]


class ClockDetailOutput(ClockOutput):
    upcoming = serializers.SerializerMethodField()

    class Meta(ClockOutput.Meta):
        fields = [*ClockOutput.Meta.fields, "upcoming"]

    def get_upcoming(self, clock: TestClock) -> list[dict[str, Any]]:
        return list(ScheduledActionOutput(selectors.clock_upcoming(clock=clock), many=True).data)


class PlatformClockOutput(serializers.Serializer):
    now = serializers.DateTimeField()
    real_time = serializers.DateTimeField()
    offset_seconds = serializers.IntegerField()
    frozen_time = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.CharField()


# --- Events ----------------------------------------------------------------------------------


class EventListApi(TenantScopedListView):
    """Your events, newest first."""

    serializer_class = EventOutput

    class FilterSerializer(serializers.Serializer):
        type = serializers.CharField(
            required=False, help_text='Exact type, or a prefix like "deposit.*".'
        )
        node = serializers.CharField(required=False, help_text="A node id.")
        object_id = serializers.CharField(required=False)

    def get_queryset(self):
        return selectors.event_list(tenant=self.tenant, filters=self.request.query_params)


class EventDetailApi(TenantScopedView):
    @extend_schema(responses=EventOutput)
    def get(self, request: Request, event_id: str) -> Response:
        """One event, as its webhook carried it."""
        return Response(event_as_json(Event.objects.get_for_tenant(self.tenant, event_id)))


class EventResendApi(TenantScopedView):
    """Send the event again to its node's current webhook URL (one attempt, no retries)."""

    reason = "resent"

    @extend_schema(responses={202: DeliveryOutput})
    def post(self, request: Request, event_id: str) -> Response:
        event = Event.objects.get_for_tenant(self.tenant, event_id)
        delivery = services.event_resend(event=event, actor=self.actor, reason=self.reason)
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)


class EventRefireApi(EventResendApi):
    """Test helper: fire a past event again, exactly as it was (same id and body)."""

    reason = "refired"


# --- Deliveries ------------------------------------------------------------------------------


class DeliveryListApi(TenantScopedListView):
    """Webhook deliveries, newest first."""

    serializer_class = DeliveryOutput

    class FilterSerializer(serializers.Serializer):
        event = serializers.CharField(required=False)
        node = serializers.CharField(required=False)
        status = serializers.ChoiceField(choices=WebhookDelivery.Status.values, required=False)

    def get_queryset(self):
        params = self.request.query_params
        return selectors.delivery_list(tenant=self.tenant, filters=params, with_node=False)


class DeliveryDetailApi(TenantScopedView):
    @extend_schema(responses=DeliveryDetailOutput)
    def get(self, request: Request, delivery_id: str) -> Response:
        """One webhook delivery, with each attempt."""
        delivery = WebhookDelivery.objects.get_for_tenant(self.tenant, delivery_id)
        return Response(DeliveryDetailOutput(delivery).data)


class DeliveryResendApi(TenantScopedView):
    @extend_schema(responses={202: DeliveryOutput})
    def post(self, request: Request, delivery_id: str) -> Response:
        """Send the delivery's event again to its node's current webhook URL (one attempt)."""
        delivery = WebhookDelivery.objects.get_for_tenant(self.tenant, delivery_id)
        resent = services.event_resend(event=delivery.event, actor=self.actor, reason="resent")
        return Response(DeliveryOutput(resent).data, status=status.HTTP_202_ACCEPTED)


# --- Webhook secrets -------------------------------------------------------------------------


class _SecretsView(TenantScopedView):
    def node(self, node_id) -> Node:
        # Secrets let whoever holds them forge webhooks: viewers do not get to read them.
        if not self.request.tenant_access.can_write:
            raise exceptions.PermissionDenied(
                "Viewers cannot see webhook secrets.", code="read_only_role"
            )
        return Node.objects.get_for_tenant(self.tenant, node_id)


class WebhookSecretListApi(_SecretsView):
    """The secrets deliveries are signed with now: the current one first."""

    @extend_schema(responses=SecretOutput(many=True))
    def get(self, request: Request, node_id: str) -> Response:
        node = self.node(node_id)
        return Response(SecretOutput(services.webhook_secrets_live(node=node), many=True).data)


class WebhookSecretRotateApi(_SecretsView):
    class InputSerializer(serializers.Serializer):
        overlap_seconds = serializers.IntegerField(
            required=False,
            default=24 * 3600,
            min_value=0,
            help_text=(
                "How long the old secret keeps signing, in seconds: 0 to 604800 (7 days);"
                " default one day. More answers 400 invalid_overlap."
            ),
        )

    @extend_schema(responses={201: SecretOutput(many=True)})
    def post(self, request: Request, node_id: str) -> Response:
        """Start signing with a new secret; the old one keeps signing for the overlap."""
        node = self.node(node_id)
        values = self.validated_input()
        services.webhook_secret_rotate(
            node=node,
            actor=self.actor,
            overlap=services.secret_overlap(values["overlap_seconds"]),
        )
        live = services.webhook_secrets_live(node=node)
        return Response(SecretOutput(live, many=True).data, status=status.HTTP_201_CREATED)


# --- Webhook endpoints -----------------------------------------------------------------------


class WebhookEndpointApi(TenantScopedView):
    @extend_schema(responses=WebhookEndpointOutput)
    def get(self, request: Request, node_id: str) -> Response:
        """The node's webhook endpoint: enabled, or disabled because every attempt failed for
        SANDBOX_WEBHOOK_DISABLE_AFTER_DAYS days (no deliveries until it is enabled again)."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        return Response(WebhookEndpointOutput(node).data)


class WebhookEndpointEnableApi(TenantScopedView):
    @extend_schema(responses=WebhookEndpointOutput)
    def post(self, request: Request, node_id: str) -> Response:
        """Enable a disabled webhook endpoint: its failures are forgotten and events
        recorded from now on are delivered (a webhook_endpoint.enabled event first).
        Enabling an enabled endpoint changes nothing."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        node = services.webhook_endpoint_enable(node=node, actor=self.actor)
        return Response(WebhookEndpointOutput(node).data)


# --- Test clocks -----------------------------------------------------------------------------


class ClockListApi(TenantScopedListView):
    """Your test clocks."""

    serializer_class = ClockOutput
    model = TestClock

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=80)
        frozen_time = serializers.DateTimeField(
            required=False, help_text="Where the clock starts; default: now."
        )

    @extend_schema(responses={201: ClockDetailOutput})
    def post(self, request: Request) -> Response:
        """Create a test clock, frozen at a time of your choice."""
        values = self.validated_input()
        clock = clocks.test_clock_create(tenant=self.tenant, actor=self.actor, **values)
        return Response(ClockDetailOutput(clock).data, status=status.HTTP_201_CREATED)


class ClockDetailApi(TenantScopedView):
    @extend_schema(responses=ClockDetailOutput)
    def get(self, request: Request, clock_id: str) -> Response:
        """A test clock, with its nodes and what falls due next."""
        return Response(
            ClockDetailOutput(TestClock.objects.get_for_tenant(self.tenant, clock_id)).data
        )

    @extend_schema(responses={204: None})
    def delete(self, request: Request, clock_id: str) -> Response:
        """Delete a test clock; its nodes go back to the platform clock."""
        clock = TestClock.objects.get_for_tenant(self.tenant, clock_id)
        clocks.test_clock_delete(clock=clock, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClockAdvanceApi(TenantScopedView):
    """Move the clock forward. Answers 202 with status "advancing"; poll until "ready"."""

    class InputSerializer(serializers.Serializer):
        frozen_time = serializers.DateTimeField(help_text="The new time; later than the current.")

    @extend_schema(responses={202: ClockDetailOutput})
    def post(self, request: Request, clock_id: str) -> Response:
        clock = TestClock.objects.get_for_tenant(self.tenant, clock_id)
        values = self.validated_input()
        clock = clocks.test_clock_advance(clock=clock, to=values["frozen_time"], actor=self.actor)
        clock.refresh_from_db()
        return Response(ClockDetailOutput(clock).data, status=status.HTTP_202_ACCEPTED)


class _ClockNodeApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        node = serializers.CharField()

    def clock_and_node(self, request, clock_id) -> tuple[TestClock, Node]:
        clock = TestClock.objects.get_for_tenant(self.tenant, clock_id)
        values = self.validated_input()
        return clock, Node.objects.get_for_tenant(self.tenant, values["node"])


class ClockAttachApi(_ClockNodeApi):
    @extend_schema(responses=ClockDetailOutput)
    def post(self, request: Request, clock_id: str) -> Response:
        """Put a node on this clock's time."""
        clock, node = self.clock_and_node(request, clock_id)
        clocks.test_clock_attach(clock=clock, node=node, actor=self.actor)
        return Response(ClockDetailOutput(clock).data)


class ClockDetachApi(_ClockNodeApi):
    @extend_schema(responses=ClockDetailOutput)
    def post(self, request: Request, clock_id: str) -> Response:
        """Take a node off this clock, back to the platform clock."""
        clock, node = self.clock_and_node(request, clock_id)
        clocks.test_clock_detach(clock=clock, node=node, actor=self.actor)
        return Response(ClockDetailOutput(clock).data)


# --- The platform clock (operators) ----------------------------------------------------------


def platform_clock_state() -> dict:
    row = PlatformClock.objects.filter(pk=1).first() or PlatformClock()
    return {
        "now": clock_now(),
        "real_time": timezone.now(),
        "offset_seconds": row.offset_seconds,
        "frozen_time": row.frozen_time,
        "updated_by": row.updated_by,
    }


class OperatorPlatformClockApi(ApiView):
    permission_classes = [IsOperator]

    @extend_schema(responses=PlatformClockOutput)
    def get(self, request: Request) -> Response:
        """The platform clock: its time, offset and whether it is frozen (operators)."""
        return Response(PlatformClockOutput(platform_clock_state()).data)


class OperatorPlatformClockActionApi(ApiView):
    """``advance`` (body ``{"seconds": n}`` or ``{"to": "2027-01-31T09:00:00+09:00"}``),
    ``freeze``, ``resume`` or ``reset``."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        seconds = serializers.IntegerField(required=False, min_value=1)
        to = serializers.DateTimeField(
            required=False, help_text="Advance to this date and time (with its offset)."
        )

    @extend_schema(
        parameters=[path_choices("action", ["advance", "freeze", "resume", "reset"])],
        responses=PlatformClockOutput,
    )
    def post(self, request: Request, action: str) -> Response:
        values = self.validated_input()
        actor = actor_for(request)
        if action == "advance":
            if ("seconds" in values) == ("to" in values):
                message = "Give either seconds or to."
                raise exceptions.ValidationError({"seconds": [message], "to": [message]})
            if "to" in values:
                clocks.platform_clock_advance_to(actor=actor, moment=values["to"])
            else:
                clocks.platform_clock_advance(actor=actor, seconds=values["seconds"])
        elif action == "freeze":
            clocks.platform_clock_freeze(actor=actor)
        elif action == "resume":
            clocks.platform_clock_resume(actor=actor)
        elif action == "reset":
            clocks.platform_clock_reset(actor=actor)
        else:
            raise exceptions.NotFound(f"Unknown action {action!r}.")
        return Response(PlatformClockOutput(platform_clock_state()).data)


class OperatorEventListApi(ListApiView):
    """Every tenant's events, for operators."""

    permission_classes = [IsOperator]
    serializer_class = EventOutput
    queryset = Event.objects.all()
