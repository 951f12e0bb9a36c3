"""What clearing adds to a test clock's page (``/test-clocks/<clock>/``, drawn by the events
app): the "End the day" button and the clock's closed days. The page includes them as panels
registered in ``ClearingConfig.ready()``; the button posts to ``clock_end_day`` below."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from clearing import clock_closing, selectors
from sandbox.errors import ApplicationError
from sandbox.events.models import TestClock
from sandbox.events.panels import ClockPagePanel
from sandbox.tenants.views import tenant_page


def _end_day_context(request: HttpRequest, clock: TestClock) -> dict[str, Any]:
    day_ends_at = clock_closing.next_midnight(clock.frozen_time)
    return {"day_ends_at": day_ends_at.strftime("%Y-%m-%d %H:%M %Z")}


def _closes_context(request: HttpRequest, clock: TestClock) -> dict[str, Any]:
    tenant = request.tenant_access.tenant  # type: ignore[attr-defined]
    return {"closes": selectors.clock_closes_for_page(tenant=tenant, clock=clock)}


END_DAY_PANEL = ClockPagePanel(
    slot="actions", template="clearing/_clock_end_day.html", context=_end_day_context
)
CLOSES_PANEL = ClockPagePanel(
    slot="after", template="clearing/_clock_closes.html", context=_closes_context
)


@require_POST
@tenant_page(write=True)
def clock_end_day(request: HttpRequest, clock_id: str) -> HttpResponse:
    access = request.tenant_access  # type: ignore[attr-defined]
    clock = TestClock.objects.get_for_tenant(access.tenant, clock_id)
    try:
        clock_closing.clock_end_day(clock=clock, actor=access.actor)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            "Ending the day: what falls due runs now, then the day closes and is anchored.",
        )
    return redirect("events:clock", clock_id=clock.pk)
