"""Answers rendered by model serializers build their fields once per class, not per request
(``sandbox.api.views.FieldsBuiltOnce``), and say exactly what a freshly built serializer
says."""

from __future__ import annotations

import importlib

import pytest
from rest_framework import serializers

from sandbox.api.views import OutputModelSerializer
from sandbox.tenants.api import NodeOutput
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
