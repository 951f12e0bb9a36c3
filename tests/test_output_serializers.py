"""Answers rendered by model serializers build their fields once per class, not per request
(``sandbox.api.views.FieldsBuiltOnce``), and say exactly what a freshly built serializer
says."""

from __future__ import annotations

import datetime
import importlib
import uuid
from typing import Any

import pytest
from django.db import models
from django.urls import get_resolver
from django.utils import timezone
from django_countries.fields import CountryField
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from sandbox.api import representation
from sandbox.api.views import OutputModelSerializer
from sandbox.events.api import DeliveryOutput
from sandbox.tenants import services
from sandbox.tenants.api import NodeOutput, TenantOutput
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


API_MODULES = (
    "sandbox.tenants.api",
    "sandbox.events.api",
    "clearing.api.jobs",
    "clearing.api.days",
    "clearing.api.clock_closes",
)


def test_every_model_serializer_of_the_api_builds_its_fields_once():
    model_serializers = {
        cls
        for module in API_MODULES
        for cls in vars(importlib.import_module(module)).values()
        if isinstance(cls, type)
        and issubclass(cls, serializers.ModelSerializer)
        and cls is not OutputModelSerializer
    }
    assert NodeOutput in model_serializers
    assert [c for c in model_serializers if not issubclass(c, OutputModelSerializer)] == []


def test_a_node_list_builds_no_field_after_the_first_request(alice, monkeypatch):
    NodeFactory(tenant=alice.tenant, country="KR")
    assert alice.api.get("/api/v1/nodes").status_code == 200  # may build them once
    built = []
    original = serializers.ModelSerializer.build_field
    monkeypatch.setattr(
        serializers.ModelSerializer,
        "build_field",
        lambda self, *args: built.append(args[0]) or original(self, *args),
    )

    for _ in range(2):
        response = alice.api.get("/api/v1/nodes")
        assert response.status_code == 200
        assert response.json()["results"][0]["country"] == "KR"

    assert built == []


def test_each_serializer_gets_fields_of_its_own_that_say_what_fresh_ones_say(alice):
    node = NodeFactory(tenant=alice.tenant, country="JP", webhook_url="https://example.com/h")

    class Fresh(serializers.ModelSerializer):  # the same declaration, built the usual way
        country = NodeOutput._declared_fields["country"].__class__()

        class Meta(NodeOutput.Meta):
            pass

    first, second = NodeOutput(node), NodeOutput([node, node], many=True)
    assert first.data == Fresh(node).data
    assert second.data == [Fresh(node).data] * 2
    assert first.fields["country"] is not second.child.fields["country"]
    assert first.fields["country"].parent is first


# --- Readers resolved once per class (sandbox.api.representation) -----------------------------


def every_output_model_serializer() -> list[type[OutputModelSerializer]]:
    assert get_resolver().url_patterns  # imports every API module
    found, todo = set(), [OutputModelSerializer]
    while todo:
        for cls in todo.pop().__subclasses__():
            found.add(cls)
            todo.append(cls)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def a_value(field: models.Field, *, sparse: bool) -> Any:
    """A value for a model column, as the database would give it back; with ``sparse``,
    what an empty row holds (None where the column allows it, else blank or zero)."""
    if field.is_relation:
        target = field.target_field
        return uuid.uuid4() if isinstance(target, models.UUIDField) else 10**9 + 7
    if sparse and field.null:
        return None
    if field.choices:
        return field.choices[-1][0] if not sparse else field.choices[0][0]
    kind = field.get_internal_type()
    values = {
        "BooleanField": not sparse,
        "DateField": datetime.date(2026, 12, 7),
        "DateTimeField": datetime.datetime(2026, 12, 7, 9, 5, 3, 120004, tzinfo=datetime.UTC),
        "GenericIPAddressField": "2001:db8::1" if sparse else "192.0.2.7",
        "JSONField": {} if sparse else {"amount": "12.50", "legs": [1, None, "é"], "ok": True},
        "UUIDField": uuid.UUID(int=0) if sparse else uuid.uuid4(),
    }
    if kind in values:
        return values[kind]
    if kind.endswith(("IntegerField", "AutoField")):
        return 0 if sparse else 2**40 + 3
    if isinstance(field, CountryField):
        return "" if sparse else "KR"
    return "" if sparse else f'{field.name} ünïcode € 한 <b>&</b> "quoted"'


def sample_rows(model: type[models.Model]) -> list[models.Model]:
    return [
        model(**{f.attname: a_value(f, sparse=sparse) for f in model._meta.concrete_fields})
        for sparse in (False, True)
    ]


def outcome(render) -> tuple[str, Any]:
    # What a client would get: the JSON bytes, or the error DRF raises (the same type
    # either way: a field the sample row cannot fill fails the same in both paths).
    try:
        return "json", JSONRenderer().render(render())
    except Exception as error:  # compared below, not swallowed
        return "error", type(error)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Seoul"])
@pytest.mark.parametrize(
    "serializer_class", every_output_model_serializer(), ids=lambda cls: cls.__qualname__
)
def test_every_model_serializer_answers_byte_for_byte_what_drf_answers(serializer_class, zone):
    rows = sample_rows(serializer_class.Meta.model)
    with timezone.override(zone):
        for row in rows:
            stock = outcome(
                lambda row=row: serializers.Serializer.to_representation(serializer_class(), row)
            )
            assert outcome(lambda row=row: serializer_class(row).data) == stock
        many = outcome(lambda: serializer_class(rows, many=True).data)
        assert many == outcome(
            lambda: [serializers.Serializer.to_representation(serializer_class(), r) for r in rows]
        )
    assert serializer_class._plan is not None  # this class's own plan, not a base's
    assert [step.name for step in serializer_class._plan.steps] == [
        name for name, field in serializer_class().fields.items() if not field.write_only
    ]


def test_the_sample_rows_are_answered_not_refused():
    # The comparison above means something: most serializers render the samples.
    rendered = [
        cls
        for cls in every_output_model_serializer()
        if outcome(lambda cls=cls: cls(sample_rows(cls.Meta.model)[0]).data)[0] == "json"
    ]
    assert NodeOutput in rendered
    assert len(rendered) >= len(every_output_model_serializer()) - 4


def test_plain_columns_are_read_directly_and_the_rest_by_their_bound_field():
    steps = {step.name: step for step in every_plan_step(NodeOutput)}
    assert steps["country"].attname == "country"  # a CountryField reads its column
    delivery = {step.name: step for step in every_plan_step(DeliveryOutput)}
    assert delivery["event"].attname == "event_id"  # a related pk: the row's own column
    assert delivery["node"].attname == "node_id"
    assert delivery["event_type"].represent is None  # a dotted source too


def every_plan_step(serializer_class):
    return representation.build_plan(serializer_class).steps


def test_a_node_list_answers_the_same_bytes_as_drf(alice, monkeypatch):
    NodeFactory(tenant=alice.tenant, country="JP", webhook_url="https://example.com/h")
    node = NodeFactory(tenant=alice.tenant, country="KR")
    services.node_deactivate(node=node, actor=services.SYSTEM)
    fast = alice.api.get("/api/v1/nodes")
    monkeypatch.setattr(
        OutputModelSerializer, "to_representation", serializers.Serializer.to_representation
    )
    stock = alice.api.get("/api/v1/nodes")
    assert fast.status_code == stock.status_code == 200
    assert fast.content == stock.content
    assert len(fast.json()["results"]) == 2


def test_a_row_of_another_model_is_answered_by_drf():
    # A plan reads columns of its own model; anything else takes DRF's own path.
    class Loose:
        id = uuid.uuid4()
        name = "Not a model"
        status = "active"
        created_at = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)

    assert TenantOutput(Loose()).data["name"] == "Not a model"


@pytest.mark.parametrize("zone", ["UTC", "Asia/Seoul", "America/St_Johns"])
def test_a_page_shows_its_date_times_in_the_current_time_zone_as_drf(zone, monkeypatch):
    # The plan asks for the current time zone once per page (``representation.formatters``),
    # DRF at every value: the same answer in whatever zone is current, for both paths (a
    # columns-only page and a serializer's own answers).
    for serializer_class in (NodeOutput, DeliveryOutput):
        rows = sample_rows(serializer_class.Meta.model)
        plan = serializer_class.representation_plan()
        with timezone.override(zone):
            stock = [serializers.Serializer.to_representation(serializer_class(), r) for r in rows]
            if plan.columns_only:
                assert representation.rows(plan, rows) == stock
            assert list(serializer_class(rows, many=True).data) == stock
            assert any(step.zoned is not None for step in plan.steps)
