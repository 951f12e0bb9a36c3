"""A model serializer's answer, with its field readers resolved once per class.

DRF's ``Serializer.to_representation`` walks a serializer instance's bound fields for
every object: ``Field.get_attribute`` (a generic walk over ``source_attrs`` that checks
for mappings, callables and missing attributes), then ``to_representation``. A list
request also builds and binds a copy of every field for its serializer instance first.
For an answer that is mostly plain model columns, that bookkeeping cost more than the
values themselves.

``representation_plan`` resolves, once per serializer class, how each readable field is
read: a plain column field (one of ``PLAIN_FIELDS``, whose ``to_representation`` reads
neither its parent nor the context) reads the model instance's attribute directly and
formats it with the field's own ``to_representation``, taken from fields bound once to a
template instance of the class; a foreign key shown by its pk (a plain
``PrimaryKeyRelatedField``) reads the row's own column (``event_id``) as DRF's pk-only
optimization does, without the related object. Every other field (relations, dotted sources, method
fields, nested serializers...) goes through the serializer instance's own bound field,
exactly as DRF does. The declaration stays the one serializer class; the answer is
byte for byte DRF's (``tests/test_output_serializers.py`` compares them for every model
serializer of the API).
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django_countries import countries
from django_countries.fields import CountryField as CountryModelField
from django_countries.serializer_fields import CountryField
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject

# Field types whose ``to_representation`` depends on the value and the field's own
# settings only (not on ``parent``, ``context`` or the request), checked against DRF's
# source. Exact types: a subclass may override anything.
PLAIN_FIELDS: frozenset[type[serializers.Field]] = frozenset(
    {
        serializers.BigIntegerField,
        serializers.BooleanField,
        serializers.CharField,
        serializers.ChoiceField,
        serializers.DateField,
        serializers.DateTimeField,
        serializers.DecimalField,
        serializers.EmailField,
        serializers.FloatField,
        serializers.IntegerField,
        serializers.IPAddressField,
        serializers.JSONField,
        serializers.SlugField,
        serializers.URLField,
        serializers.UUIDField,
        CountryField,
    }
)


@dataclass(frozen=True)
class Step:
    """One readable field: ``attname``, ``read`` (what reading that attribute gives, for
    ``represent``) and ``represent`` for a plain column, or none of them (the serializer
    instance's bound field answers, as in DRF)."""

    name: str
    attname: str | None = None
    represent: Any = None
    read: Callable[[Any], Any] | None = None
    # A date-time column whose field has no time zone of its own: DRF asks for the
    # current one at every value; ``formatters`` asks once per page (or answer).
    zoned: serializers.DateTimeField | None = None


@dataclass(frozen=True)
class Plan:
    model: type[models.Model]
    steps: tuple[Step, ...]

    @property
    def columns_only(self) -> bool:
        """Whether every field is a plain column: the answer then needs no serializer
        instance (no bound field, no context), and a list's rows are read by ``rows``."""
        return all(step.represent is not None for step in self.steps)


def formatters(plan: Plan) -> tuple[Any, ...]:
    """Each step's ``represent`` for now: a date-time column's is a copy of its field with
    DRF's own choice of time zone (``default_timezone``: the current one) made once, not
    once per value (a page of webhook deliveries has four date-times a row)."""
    found = []
    for step in plan.steps:
        if step.zoned is None:
            found.append(step.represent)
            continue
        field: Any = copy.copy(step.zoned)  # (None too, without USE_TZ: DRF's choice)
        field.timezone = field.default_timezone()
        found.append(field.to_representation)
    return tuple(found)


def rows(plan: Plan, instances: list[Any]) -> list[dict[str, Any]]:
    """Each instance's answer, for a ``columns_only`` plan: ``represent`` without a
    serializer, as a ``ListSerializer`` of the class would give them."""
    found = formatters(plan)
    steps = [(s.name, s.read, f) for s, f in zip(plan.steps, found, strict=True)]
    answers = []
    for instance in instances:
        answer = {}
        for name, read, represent in steps:
            value = read(instance)  # type: ignore[misc]
            answer[name] = None if value is None else represent(value)
        answers.append(answer)
    return answers


def column_attnames(model: type[models.Model]) -> frozenset[str]:
    # Concrete columns that are not relations: their attribute is the stored value, read
    # by Django's DeferredAttribute (never a callable, never a missing attribute).
    return frozenset(
        field.attname
        for field in model._meta.concrete_fields
        if not field.is_relation and field.attname == field.name
    )


def country_code_reader(model: type[models.Model], name: str, field: Any) -> Any:
    """For a country column read by a ``CountryField`` serializer field that answers the
    code: a reader of the stored code itself, which that field turns into the same answer
    as the ``Country`` the model's descriptor would build around it (both normalize with
    the one ``countries``: ``alpha2`` of a Country stands for ``alpha2`` of its code),
    without building one per row. None where that does not hold (other countries, another
    ``str`` of a Country, names or dictionaries, several countries)."""
    model_field = model._meta.get_field(name)
    if not (
        isinstance(model_field, CountryModelField)
        and not model_field.multiple
        # Read with getattr: the stubs do not know these attributes.
        and getattr(model_field, "countries", None) is countries
        and getattr(model_field, "countries_str_attr", None) == "code"
        and field.countries is countries
        and not field.name_only
        and not field.country_dict
    ):
        return None

    def read(instance: Any) -> Any:
        code = instance.__dict__.get(name)
        if code.__class__ is str and code:
            return code
        return getattr(instance, name)  # deferred, empty or NULL: the descriptor's Country

    return read


def foreign_key_attnames(model: type[models.Model]) -> dict[str, str]:
    # A concrete foreign key's name and the column that holds the related object's pk
    # (``event`` and ``event_id``): what ``Model.serializable_value`` reads for it.
    return {
        field.name: field.attname
        for field in model._meta.concrete_fields
        if field.is_relation and field.attname != field.name
    }


def same_value(value: Any) -> Any:
    return value


def build_plan(serializer_class: type[serializers.ModelSerializer]) -> Plan:
    model = serializer_class.Meta.model
    columns = column_attnames(model)
    foreign_keys = foreign_key_attnames(model)
    template = serializer_class()  # its fields, bound once, format the plain columns
    steps = []
    for name, field in template.fields.items():
        if field.write_only:
            continue
        attrs = field.source_attrs
        if type(field) in PLAIN_FIELDS and len(attrs) == 1 and attrs[0] in columns:
            read = None
            if type(field) is CountryField:
                read = country_code_reader(model, attrs[0], field)
            read = read or operator.attrgetter(attrs[0])
            zoned = None
            if isinstance(field, serializers.DateTimeField) and not hasattr(field, "timezone"):
                zoned = field  # (exactly DRF's DateTimeField: one of PLAIN_FIELDS)
            steps.append(Step(name, attrs[0], field.to_representation, read, zoned))
        elif (
            type(field) is serializers.PrimaryKeyRelatedField
            and field.pk_field is None
            and len(attrs) == 1
            and attrs[0] in foreign_keys
        ):
            # DRF answers the related pk, read from the row's own column (its pk-only
            # optimization: ``PKOnlyObject(instance.serializable_value(name))``), as is.
            attname = foreign_keys[attrs[0]]
            steps.append(Step(name, attname, same_value, operator.attrgetter(attname)))
        else:
            steps.append(Step(name))
    return Plan(model, tuple(steps))


def represent(serializer: serializers.Serializer, plan: Plan, instance: Any) -> dict[str, Any]:
    """``Serializer.to_representation`` for an instance of ``plan.model``. The
    formatters are the serializer's own for its life (a list's one child serializer
    renders the whole page)."""
    found = serializer.__dict__.get("_formatters")
    if found is None:
        found = serializer.__dict__["_formatters"] = formatters(plan)
    answer: dict[str, Any] = {}
    for step, format_value in zip(plan.steps, found, strict=True):
        if format_value is not None:
            value = step.read(instance)  # type: ignore[misc]
            answer[step.name] = None if value is None else format_value(value)
            continue
        field = serializer.fields[step.name]  # DRF's own steps, for this field only
        try:
            attribute = field.get_attribute(instance)
        except SkipField:
            continue
        check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
        answer[step.name] = None if check_for_none is None else field.to_representation(attribute)
    return answer
