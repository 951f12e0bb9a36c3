"""Factories of people: valid Korean personal data unless a test says otherwise."""

from __future__ import annotations

import datetime
import itertools
from dataclasses import replace
from typing import Any

import factory
from stdnum.kr import rrn

from sandbox.identities import services
from sandbox.identities.data import Address, PersonalData
from sandbox.identities.models import Person
from tests.factories import TenantFactory

_serial = itertools.count(1)


def make_rrn(birth_date: datetime.date, *, male: bool = True, serial: int | None = None) -> str:
    """A resident registration number with a correct (old-style) check digit."""
    century = 1 if birth_date.year < 2000 else 3
    gender = century if male else century + 1
    body = (
        f"{birth_date:%y%m%d}{gender}{(serial or next(_serial)) % 96:02d}{next(_serial) % 1000:03d}"
    )
    return f"{body[:6]}-{body[6:]}{rrn.calc_check_digit(body)}"


def person_data(**overrides: Any) -> PersonalData:
    n = next(_serial)
    birth_date = overrides.pop("birth_date", datetime.date(1990, 1, 15))
    data = PersonalData(
        legal_name="김민수",
        birth_date=birth_date,
        national_id=make_rrn(birth_date),
        national_id_country="KR",
        phone=f"010-{1000 + n % 9000:04d}-5678",
        email=f"minsu{n}@example.com",
        address=Address(
            street="테헤란로 152", city="서울특별시 강남구", postal_code="06236", country="KR"
        ),
    )
    return replace(data, **overrides)


class PersonFactory(factory.django.DjangoModelFactory):
    """A person registered through the service (sealed like any other)."""

    class Meta:
        model = Person

    tenant = factory.SubFactory(TenantFactory)
    node = None
    customer_reference = ""
    data = factory.LazyFunction(person_data)

    @classmethod
    def _create(cls, model_class, *args, tenant, data, node=None, customer_reference="", **kw):
        return services.register_person(
            tenant=tenant, data=data, node=node, customer_reference=customer_reference
        )
