"""The daily job: beat at 05:00 Asia/Seoul for subjects on the platform clock, once a day
per subject; a test clock crossing midnights computes its nodes' days as of each one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask

from sandbox.events import clocks
from sandbox.events.models import Event
from sandbox.tenants.services import SYSTEM
from tests.credit.conftest import Books
from tests.credit.test_standing import good_history
from tests.factories import NodeFactory
from tests.identities.factories import PersonFactory
from wallets.credit import presenters, services, tasks
from wallets.credit.models import CreditStanding

pytestmark = pytest.mark.django_db
SEOUL = ZoneInfo("Asia/Seoul")


def advance(clock, to: datetime) -> None:
    """Advance the test clock and run the advance here (a worker's job)."""
    clocks.test_clock_advance(clock=clock, to=to, actor=SYSTEM)
    clocks.test_clock_run_advance(clock_id=clock.pk)


def test_the_daily_job_computes_every_subject_once_a_day(books):
    good_history(books)
    other = NodeFactory(tenant=books.tenant)
    nodeless = PersonFactory(tenant=books.tenant, customer_reference="walk-in")

    first = tasks.compute_daily_standings()
    again = tasks.compute_daily_standings()

    assert first == 4  # the two people, the node of one, the other node
    assert again == 0
    rows = CreditStanding.objects.filter(trigger="daily")
    assert {(r.person_id, r.node_id) for r in rows} == {
        (books.person.pk, None),
        (nodeless.pk, None),
        (None, books.node.pk),
        (None, other.pk),
    }
    assert {r.day for r in rows} == {books.now.astimezone(SEOUL).date()}
    books.day(201)
    assert tasks.compute_daily_standings() == 4


def test_the_daily_job_leaves_subjects_on_a_test_clock_to_their_clock(books):
    clock = clocks.test_clock_create(
        tenant=books.tenant, actor=SYSTEM, name="credit", frozen_time=books.now
    )
    clocks.test_clock_attach(clock=clock, node=books.node, actor=SYSTEM)

    assert tasks.compute_daily_standings() == 0


def test_a_test_clock_crossing_midnights_computes_each_day_as_of_its_midnight(books):
    good_history(books, days=120)  # income on days 1, 31, 61, 91; the last on day 91
    start = books.now  # day 120, 12:00 in Seoul
    clock = clocks.test_clock_create(
        tenant=books.tenant, actor=SYSTEM, name="credit", frozen_time=start
    )
    clocks.test_clock_attach(clock=clock, node=books.node, actor=SYSTEM)

    advance(clock, start + timedelta(days=3))

    rows = CreditStanding.objects.filter(node=books.node, trigger="daily").order_by("as_of")
    midnights = [r.as_of.astimezone(SEOUL) for r in rows]
    first_midnight = datetime.combine(
        start.astimezone(SEOUL).date() + timedelta(days=1), datetime.min.time(), tzinfo=SEOUL
    )
    assert midnights == [first_midnight + timedelta(days=i) for i in range(3)]
    assert [r.day for r in rows] == [m.date() for m in midnights]
    people = CreditStanding.objects.filter(person=books.person, trigger="daily")
    assert people.count() == 3


def test_on_a_test_clock_the_income_goes_irregular_as_the_months_pass(books):
    good_history(books, days=100)  # income on days 1, 31, 61, 91
    clock = clocks.test_clock_create(
        tenant=books.tenant, actor=SYSTEM, name="credit", frozen_time=books.now
    )
    clocks.test_clock_attach(clock=clock, node=books.node, actor=SYSTEM)
    before = services.standing_recompute(actor=SYSTEM, person=books.person)

    advance(clock, books.now + timedelta(days=45))

    latest = CreditStanding.objects.filter(person=books.person).order_by("-as_of").first()
    assert "irregular_income" not in before.reason_codes
    assert "irregular_income" in latest.reason_codes
    assert latest.as_of > books.now + timedelta(days=44)
    assert latest.score < before.score
    changed = (
        Event.objects.filter(type="credit.standing.updated", object_id__in=person_rows(books))
        .order_by("-occurred_at")
        .first()
    )
    told = CreditStanding.objects.get(pk=changed.object_id)
    assert told.trigger == "daily" and "irregular_income" in told.reason_codes
    assert changed.occurred_at == told.as_of  # on the clock's time
    assert changed.data == presenters.standing_json(told)


def person_rows(books) -> list[str]:
    rows = CreditStanding.objects.filter(person=books.person).values_list("pk", flat=True)
    return [str(pk) for pk in rows]


def test_the_midnights_between_two_moments():
    start = datetime(2025, 3, 10, 14, 59, tzinfo=UTC)  # 23:59 in Seoul

    found = services.midnights_between(start, start + timedelta(days=2))

    assert found == [
        datetime(2025, 3, 11, tzinfo=SEOUL),
        datetime(2025, 3, 12, tzinfo=SEOUL),
    ]
    assert services.midnights_between(start, start) == []


def test_beat_runs_the_job_daily_on_the_default_queue(db):
    task = PeriodicTask.objects.get(task="wallets.credit.tasks.compute_daily_standings")

    assert (task.crontab.hour, task.crontab.minute) == ("5", "0")
    assert str(task.crontab.timezone) == "Asia/Seoul"
    route = settings.CELERY_TASK_ROUTES["wallets.credit.tasks.compute_daily_standings"]
    assert route == {"queue": settings.CELERY_QUEUE_DEFAULT}


def queries_of_a_daily_run() -> int:
    with CaptureQueriesContext(connection) as run:
        services.standings_compute_daily()
    return len(run.captured_queries)


def test_the_daily_job_costs_the_same_queries_for_2_or_6_customers(alice):
    """Aggregate SQL per batch, not a query (or a loop over entries) per subject."""
    few = [Books(alice, reference=f"few-{i}") for i in range(2)]
    for b in few:
        b.day(1)
        b.credit()
    small = queries_of_a_daily_run()
    CreditStanding.objects.all().delete()
    more = [Books(alice, reference=f"more-{i}") for i in range(4)]
    for b in more:
        b.day(1)
        b.credit()

    large = queries_of_a_daily_run()

    assert CreditStanding.objects.count() == 12  # 6 nodes, 6 people
    assert large == small
