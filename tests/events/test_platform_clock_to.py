"""Operators advance the platform clock to a given date and time, from the console and the API."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from sandbox import clock
from sandbox.errors import ApplicationError
from sandbox.events import clocks
from sandbox.tenants.models import AuditLogEntry
from sandbox.tenants.services import SYSTEM
from tests.helpers import error_code

pytestmark = pytest.mark.django_db


def test_a_running_clock_lands_on_the_given_time(operator_api):
    target = timezone.now() + timedelta(days=3, hours=2)

    response = operator_api.post(
        "/api/v1/operator/platform_clock/advance", {"to": target.isoformat()}, format="json"
    )

    assert response.status_code == 200
    assert abs(clock.now() - target) < timedelta(seconds=2)
    entry = AuditLogEntry.objects.get(action="platform_clock.advanced")
    assert datetime.fromisoformat(entry.data["to"]) == target


def test_a_stopped_clock_stays_stopped_at_the_given_time(operator_api):
    operator_api.post("/api/v1/operator/platform_clock/freeze")
    target = (timezone.now() + timedelta(days=1)).replace(microsecond=0)

    operator_api.post(
        "/api/v1/operator/platform_clock/advance", {"to": target.isoformat()}, format="json"
    )

    assert clock.now() == target
    assert operator_api.get("/api/v1/operator/platform_clock").json()["frozen_time"] is not None


def test_the_clock_never_moves_back(operator_api):
    operator_api.post("/api/v1/operator/platform_clock/advance", {"seconds": 7200}, format="json")
    earlier = timezone.now() + timedelta(hours=1)

    response = operator_api.post(
        "/api/v1/operator/platform_clock/advance", {"to": earlier.isoformat()}, format="json"
    )

    assert response.status_code == 400
    assert error_code(response) == "invalid_advance"
    assert clock.now() > timezone.now() + timedelta(seconds=7000)


def test_seconds_or_a_time_but_not_both(operator_api):
    target = timezone.now() + timedelta(days=1)
    both = operator_api.post(
        "/api/v1/operator/platform_clock/advance",
        {"to": target.isoformat(), "seconds": 60},
        format="json",
    )
    assert both.status_code == 400
    assert operator_api.get("/api/v1/operator/platform_clock").json()["offset_seconds"] == 0


def test_only_operators_move_it():
    with pytest.raises(ApplicationError):
        clocks.platform_clock_advance_to(actor=SYSTEM, moment=timezone.now() + timedelta(days=1))


def test_the_console_form_advances_to_a_local_date_and_time(client, operator):
    client.force_login(operator)
    target = timezone.localtime() + timedelta(days=2)

    response = client.post(
        "/operator/platform-clock/",
        {"action": "advance_to", "to": target.strftime("%Y-%m-%dT%H:%M:%S")},
        follow=True,
    )

    assert response.status_code == 200
    assert abs(clock.now() - target.replace(microsecond=0)) < timedelta(seconds=2)
    assert b"Platform clock advanced to" in response.content
