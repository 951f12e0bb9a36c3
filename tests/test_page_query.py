"""A list page's SQL comes from a cache of query shapes (``sandbox.api.page_query``): the
same rows and the same bytes as Django's own compilation, each tenant its own rows."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models import Count, signals
from django.test.utils import CaptureQueriesContext
from django.urls import URLResolver, get_resolver
from rest_framework.generics import ListAPIView
from rest_framework.test import APIClient

from sandbox.api import page_query, pagination
from sandbox.events.models import Event
from sandbox.events.services import event_record
from sandbox.rows import plain_columns, plain_init
from sandbox.tenants import services
from sandbox.tenants.models import ApiKey, AuditLogEntry, Node
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_shapes_yet():
    page_query._shapes.clear()


def paginated_list_routes() -> list[str]:
    """Every GET list of the API that pages with a cursor and takes no path parameter."""

    def walk(resolver, prefix):
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern

    return sorted(
        "/" + route
        for route, pattern in walk(get_resolver(), "")
        if "<" not in route
        and issubclass(getattr(pattern.callback, "view_class", object), ListAPIView)
        and pattern.callback.view_class.pagination_class is not None
    )


def every_page(client: APIClient, route: str) -> list[bytes]:
    """Each page of a list, two rows at a time, forward then back from the last one."""
    pages, url = [], f"{route}?limit=2"
    while url:
        response = client.get(url)
        assert response.status_code == 200, (route, response.content)
        pages.append(response.content)
        last, url = response.json(), response.json()["next"]
    url = last["previous"]
    while url:
        response = client.get(url)
        pages.append(response.content)
        url = response.json()["previous"]
    return pages


def events_for(node, count: int = 3) -> None:
    with transaction.atomic():
        for n in range(count):
            event_record(
                tenant=node.tenant,
                node=node,
                type="deposit.credited",
                data={"amount": {"amount": f"{n}.50", "currency": "KRW"}, "memo": "é"},
            )


@pytest.fixture
def some_of_everything(alice, outsider):
    for party in (alice, outsider):
        for country in ("KR", "JP", "DE"):
            events_for(NodeFactory(tenant=party.tenant, country=country))
        for name in ("ci", "backup"):
            services.api_key_create(tenant=party.tenant, name=name, actor=services.SYSTEM)


def test_every_paginated_list_answers_the_bytes_django_would(
    alice, operator, some_of_everything, monkeypatch
):
    routes = paginated_list_routes()
    assert "/api/v1/nodes" in routes and "/api/v1/events" in routes
    member = APIClient()
    member.force_login(alice.owner)  # no API key: reading a list changes nothing it lists
    staff = APIClient()
    staff.force_login(operator)
    clients = {route: staff if "/operator/" in route else member for route in routes}

    cached = {route: every_page(clients[route], route) for route in routes}
    monkeypatch.setattr(pagination, "compiled_once", lambda queryset: queryset)
    compiled = {route: every_page(clients[route], route) for route in routes}

    assert cached == compiled
    assert len(cached["/api/v1/nodes"]) == 3  # three nodes, two at a time, and back
    assert page_query._shapes  # the pages did come from the cache


def test_each_tenant_reads_its_own_rows_through_one_shape(alice, outsider, some_of_everything):
    for party in (alice, outsider):
        names = {node["id"] for node in party.api.get("/api/v1/nodes").json()["results"]}
        assert names == {
            str(pk) for pk in Node.objects.filter(tenant=party.tenant).values_list("pk", flat=True)
        }
    shapes = [key for key in page_query._shapes if key[0] is Node]
    assert shapes  # one shape served both tenants, with each request's own parameters
    for shape in page_query._shapes.values():
        assert str(alice.tenant.pk) not in shape.sql and str(outsider.tenant.pk) not in shape.sql


def fetch(queryset):
    return list(page_query.compiled_once(queryset).order_by("-created_at", "-pk")[:50])


def test_a_filter_whose_text_depends_on_its_value_is_a_shape_of_its_own(alice):
    nodes = [NodeFactory(tenant=alice.tenant) for _ in range(3)]
    scoped = Node.objects.for_tenant(alice.tenant)
    for chosen in (nodes[:1], nodes[:2], nodes, []):
        assert fetch(scoped.filter(pk__in=[n.pk for n in chosen])) == sorted(
            chosen, key=lambda n: (n.created_at, n.pk), reverse=True
        )
    assert fetch(scoped.filter(deactivated_at__isnull=False)) == []
    assert len(fetch(scoped.filter(deactivated_at__isnull=True))) == 3


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda qs: qs.select_related("tenant").defer("name"), "only or defer"),
        (lambda qs: qs.only("name"), "only or defer"),
        (lambda qs: qs.annotate(n=Count("wallet")), "annotations or extra"),
        (lambda qs: qs.values("name"), "not a queryset of model instances"),
        (lambda qs: qs.order_by("tenant"), "ordering through an expression or a relation"),
        (lambda qs: qs.order_by("tenant__name"), "ordering through an expression or a relation"),
        (lambda qs: qs.distinct(), "DISTINCT or GROUP BY"),
    ],
)
def test_anything_but_a_plain_query_is_compiled_by_django(alice, build, reason):
    NodeFactory(tenant=alice.tenant)
    queryset = build(page_query.compiled_once(Node.objects.for_tenant(alice.tenant)))
    assert page_query.plain_reason(queryset) in (reason, "not a queryset of model instances")
    assert len(list(queryset)) == 1
    assert not [key for key in page_query._shapes if key[0] is Node]


def test_a_page_with_select_related_brings_its_related_objects_from_one_shape(alice, outsider):
    for party in (alice, outsider):
        NodeFactory(tenant=party.tenant)
    pages = []
    for _ in range(2):  # Django compiles the first, the shape answers the second
        for party in (alice, outsider):
            pages.append(fetch(Node.objects.for_tenant(party.tenant).select_related("tenant")))
    assert len([key for key in page_query._shapes if key[0] is Node]) == 1
    with CaptureQueriesContext(connection) as queries:
        tenants = [node.tenant.name for page in pages for node in page]  # already there
    assert tenants == [alice.tenant.name, outsider.tenant.name] * 2
    assert len(queries) == 0
    assert pages[2][0].tenant is not pages[0][0].tenant  # each page its own objects


def test_a_page_is_one_statement_and_a_filter_nothing_matches_is_none(alice):
    scoped = ApiKey.objects.for_tenant(alice.tenant)
    with CaptureQueriesContext(connection) as queries:
        assert len(fetch(scoped)) == 1
        assert len(fetch(scoped)) == 1
        assert fetch(scoped.filter(pk__in=[])) == []
    assert len(queries) == 2


def test_rows_become_the_instances_django_makes(alice):
    events_for(NodeFactory(tenant=alice.tenant))
    for model in (Event, ApiKey, AuditLogEntry):
        scoped = model.objects.for_tenant(alice.tenant)
        assert plain_init(model)
        django_made, cached = state_of(scoped), state_of(page_query.compiled_once(scoped))
        assert cached == django_made and django_made


def state_of(queryset):
    rows = list(queryset.order_by("-created_at", "-pk")[:50])
    return [
        (type(row), list(row.__dict__), vars(row._state), [*vars(row).values()][1:]) for row in rows
    ]


def test_a_model_with_an_init_receiver_is_made_by_django(alice):
    events_for(NodeFactory(tenant=alice.tenant))
    made = []

    def receiver(sender, instance, **kwargs):
        made.append(instance.pk)

    signals.post_init.connect(receiver, sender=Event)
    try:
        rows = fetch(Event.objects.for_tenant(alice.tenant))
    finally:
        signals.post_init.disconnect(receiver, sender=Event)
    assert made == [row.pk for row in rows] and made


def test_a_node_is_made_by_django_for_its_country_descriptor():
    assert not plain_columns(Node)


def test_values_come_from_one_shape_per_query_as_django_reads_them(alice, outsider):
    # (a JSON column converted, a relation's column through its join, a filter per tenant,
    # an IN list of each length its own shape, one that matches nothing without SQL)
    page_query._value_shapes.clear()
    for party in (alice, outsider):
        events_for(NodeFactory(tenant=party.tenant))
    columns = ("id", "type", "data", "node__name", "created_at")
    for _ in range(2):
        for party in (alice, outsider):
            scoped = Event.objects.for_tenant(party.tenant).order_by("-created_at", "-id")
            for queryset in (
                scoped.values_list(*columns)[:2],
                scoped.filter(type__startswith="deposit.").values_list(*columns),
                scoped.filter(pk__in=list(scoped.values_list("pk", flat=True)[:2])).values_list(
                    "id", "data"
                ),
            ):
                assert page_query.values_rows(queryset) == list(queryset)
                assert page_query.values_reason(queryset) is None
    assert len(page_query._value_shapes) == 3  # both tenants, twice, through three shapes
    for shape in page_query._value_shapes.values():
        assert str(alice.tenant.pk) not in shape.sql
    nothing = Event.objects.for_tenant(alice.tenant).filter(pk__in=[]).values_list("id")
    with CaptureQueriesContext(connection) as queries:
        assert page_query.values_rows(nothing) == []
    assert len(queries) == 0


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda qs: qs.values("id"), "not a values_list of tuples"),
        (lambda qs: qs.values_list("id", flat=True), "not a values_list of tuples"),
        (lambda qs: qs.annotate(n=Count("wallet")).values_list("n"), "annotations or extra"),
        (lambda qs: qs.values_list("id").distinct(), "DISTINCT or GROUP BY"),
        (
            lambda qs: qs.order_by("tenant__name").values_list("id"),
            "ordering through an expression or a relation",
        ),
    ],
)
def test_values_of_anything_but_plain_columns_are_read_by_django(alice, build, reason):
    page_query._value_shapes.clear()
    NodeFactory(tenant=alice.tenant)
    queryset = build(Node.objects.for_tenant(alice.tenant))
    assert page_query.values_reason(queryset) == reason
    assert page_query.values_rows(queryset) == list(queryset)
    assert not page_query._value_shapes
