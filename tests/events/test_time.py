"""One module computes the time (``sandbox.clock``); the events app only tells it how to read
the clocks' rows (registered in ``EventsConfig.ready()``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from sandbox import clock
from sandbox.events import clocks
from sandbox.events.clocks import platform_clock_advance, platform_clock_freeze
from sandbox.tenants.services import SYSTEM, Actor
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def test_it_reads_the_clocks_through_the_events_apps_readers():
    assert clock._read_platform_row is clocks.platform_clock_row
    assert clock._read_node_clock_time is clocks.node_clock_time


def test_it_refuses_to_guess_the_time_without_readers(monkeypatch):
    monkeypatch.setattr(clock, "_read_platform_row", None)
    with pytest.raises(ImproperlyConfigured):
        clock.now()


def test_a_node_on_a_test_clock_has_its_time_and_others_the_platform_clocks(alice, operator):
    on_clock, elsewhere = NodeFactory(tenant=alice.tenant), NodeFactory(tenant=alice.tenant)
    test_clock = clocks.test_clock_create(
        tenant=alice.tenant, actor=SYSTEM, name="Q1", frozen_time=START
    )
    clocks.test_clock_attach(clock=test_clock, node=on_clock, actor=SYSTEM)
    platform_clock_advance(actor=Actor(user=operator), seconds=3600)

    assert clock.now(node_id=on_clock.pk) == START
    shifted = timezone.now() + timedelta(hours=1)
    for seen in (clock.now(), clock.now(node_id=elsewhere.pk)):
        assert abs(seen - shifted) < timedelta(seconds=5)


def test_a_row_read_in_the_transaction_is_used_for_the_platform_time(alice, operator):
    on_clock, elsewhere = NodeFactory(tenant=alice.tenant), NodeFactory(tenant=alice.tenant)
    test_clock = clocks.test_clock_create(
        tenant=alice.tenant, actor=SYSTEM, name="Q1", frozen_time=START
    )
    clocks.test_clock_attach(clock=test_clock, node=on_clock, actor=SYSTEM)
    platform_clock_freeze(actor=Actor(user=operator))
    frozen = datetime(2030, 1, 1, tzinfo=UTC)

    with clock.platform_row_read(0, frozen):
        assert clock.now() == frozen
        assert clock.now(node_id=elsewhere.pk) == frozen
        assert clock.now(node_id=on_clock.pk) == START  # a test clock still wins
    assert clock.now() != frozen
