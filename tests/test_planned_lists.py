"""A plain list's GET takes a path planned once per view class (``sandbox.api.views.
ListApiView``): a tenant's rows without a queryset once their shape is known, the page cut
as DRF cuts it, the rows rendered from the serializer's plan, the links built only when
there are links. Its answers are DRF's own, byte for byte, headers included."""

from __future__ import annotations

import base64
import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework.mixins import ListModelMixin
from rest_framework.pagination import CursorPagination
from rest_framework.test import APIClient

from sandbox.api import page_query
from sandbox.api.pagination import CreatedCursorPagination
from sandbox.api.views import ListApiView, page_renderer, plain_list
from sandbox.events.api import EventListApi
from sandbox.tenants.api import AuditLogOutput, MemberListApi, NodeListApi, NodeOutput
from sandbox.tenants.models import Node
from tests.factories import NodeFactory
from tests.test_page_query import events_for, paginated_list_routes, some_of_everything
from wallets.api import AccountListApi
from wallets.banknet.api import OperatorBankListApi

pytestmark = pytest.mark.django_db

__all__ = ["some_of_everything"]  # a fixture, used by name


@pytest.fixture(autouse=True)
def _no_shapes_yet():
    page_query._shapes.clear()


def answer(response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k != "X-Request-ID")
    return response.status_code, response.content, headers


def every_page(client: APIClient, route: str, limit: int) -> list[tuple]:
    """Each page of a list, forward then back from the last one, with its headers."""
    pages, url, last = [], f"{route}?limit={limit}", None
    while url:
        response = client.get(url)
        assert response.status_code == 200, (route, response.content)
        pages.append(answer(response))
        last, url = response.json(), response.json()["next"]
    url = last["previous"]
    while url:
        response = client.get(url)
        pages.append(answer(response))
        url = response.json()["previous"]
    return pages


def cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.fixture
def ties(alice):
    """Rows made at the same instant: their cursors carry offsets."""
    NodeFactory(tenant=alice.tenant, country="FR")
    instant = timezone.now() - datetime.timedelta(days=1)
    Node.objects.filter(tenant=alice.tenant, country__in=["KR", "JP", "FR"]).update(
        created_at=instant
    )


def drf_list(monkeypatch) -> None:
    """From now on, DRF's own ``list`` and ``CursorPagination.paginate_queryset``."""
    monkeypatch.setattr(ListApiView, "list", ListModelMixin.list)
    monkeypatch.delattr(CreatedCursorPagination, "base_url")
    monkeypatch.setattr(
        CreatedCursorPagination, "paginate_queryset", CursorPagination.paginate_queryset
    )


def test_every_paginated_list_answers_what_drfs_list_answers(
    alice, operator, some_of_everything, ties, monkeypatch
):
    routes = paginated_list_routes()
    member = APIClient()
    member.force_login(alice.owner)
    staff = APIClient()
    staff.force_login(operator)
    clients = {route: staff if "/operator/" in route else member for route in routes}
    forged = APIClient(raise_request_exception=False)  # forged positions: refused as in DRF
    forged.force_login(alice.owner)
    odd = [
        "/api/v1/nodes?cursor=" + cursor("p=not a time"),
        "/api/v1/nodes?cursor=" + cursor("o=1&r=1&p=2020-01-01 00:00:00+00:00"),
        "/api/v1/nodes?cursor=" + cursor("p=2020-01-01T00:00:00"),
        "/api/v1/nodes?cursor=" + cursor("o=1"),
        "/api/v1/nodes?cursor=%%%",
        "/api/v1/nodes?limit=0",
        "/api/v1/nodes?limit=1000",
    ]

    def everything() -> dict[str, list[tuple]]:
        pages = {
            f"{route} {n}": every_page(clients[route], route, n) for route in routes for n in (1, 2)
        }
        pages.update({route: [answer(clients[route].get(route))] for route in routes})
        pages.update({url: [answer(forged.get(url))] for url in odd})
        return pages

    planned = everything()
    assert any(key[0] == "scope" for key in page_query._shapes)  # no queryset for those
    drf_list(monkeypatch)
    assert everything() == planned
    assert len(planned["/api/v1/nodes 1"]) == 7  # four nodes, one at a time, and back


def test_a_tenant_scoped_list_reads_only_its_tenants_rows(alice, outsider, some_of_everything):
    for _ in range(2):  # the first request plans the shape, the second follows it
        for party in (alice, outsider):
            ids = {node["id"] for node in party.api.get("/api/v1/nodes").json()["results"]}
            own = Node.objects.filter(tenant=party.tenant).values_list("pk", flat=True)
            assert ids == {str(pk) for pk in own}


def test_a_planned_page_is_one_statement_and_no_queryset(alice, monkeypatch):
    for country in ("KR", "JP"):
        events_for(NodeFactory(tenant=alice.tenant, country=country), count=1)
    assert alice.api.get("/api/v1/nodes").status_code == 200  # plans the shape
    monkeypatch.setattr(type(Node.objects), "for_tenant", lambda *args: pytest.fail("built"))
    with CaptureQueriesContext(connection) as captured:
        response = alice.api.get("/api/v1/nodes")
    assert response.status_code == 200 and len(response.json()["results"]) == 2
    assert len([q for q in captured.captured_queries if "tenants_node" in q["sql"]]) == 1


def test_only_plain_lists_take_the_planned_path():
    assert plain_list(NodeListApi) and plain_list(EventListApi)
    assert not plain_list(OperatorBankListApi)  # not paginated

    assert page_renderer(NodeOutput) is not None  # columns only
    assert page_renderer(AuditLogOutput) is not None
    assert page_renderer(AccountListApi.serializer_class) is not None  # a presenter
    # A serializer field through a relation (``user.email``) needs DRF's bound fields.
    assert page_renderer(MemberListApi.serializer_class) is None
    assert page_renderer(EventListApi.serializer_class) is not None  # a presenter too

    class OwnAnswer(serializers.Serializer):
        def to_representation(self, instance):
            return {"id": str(instance.pk)}

    # A ``to_representation`` of its own: the serializer renders its pages.
    assert page_renderer(OwnAnswer) is None
