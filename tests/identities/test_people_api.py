"""The people API: register (sealed), masked reads, a reveal that needs a purpose and is
logged, lookups by blind index, erasure, and bad input that changes nothing."""

from __future__ import annotations

import pytest

from sandbox.events.models import Event
from sandbox.identities.models import AccessLogEntry, Person
from tests.factories import NodeFactory
from tests.helpers import error_code
from tests.identities.factories import PersonFactory, make_rrn, person_data

pytestmark = pytest.mark.django_db

BIRTH = "1990-01-15"


def body(**overrides) -> dict:
    from datetime import date

    values = {
        "legal_name": "김민수",
        "birth_date": BIRTH,
        "national_id": make_rrn(date(1990, 1, 15)),
        "phone": "010-1234-5678",
        "email": "Minsu.Kim@Example.com",
        "address": {
            "street": "테헤란로 152",
            "city": "서울특별시 강남구",
            "postal_code": "06236",
            "country": "KR",
        },
    }
    values.update(overrides)
    return values


def test_it_registers_a_person_and_shows_only_masked_values(alice):
    node = NodeFactory(tenant=alice.tenant)
    response = alice.api.post(
        "/api/v1/people",
        body(node_id=str(node.pk), customer_reference="cust-1"),
        format="json",
    )
    assert response.status_code == 201, response.content
    person = response.json()
    assert person["masked"]["legal_name"] == "김*수"
    assert person["masked"]["phone"] == "+82 10-****-5678"
    assert person["masked"]["email"] == "m********@example.com"
    assert person["masked"]["national_id"].startswith("900115-1")
    assert person["masked"]["birth_date"] == "1990-**-**"
    assert person["verification_level"] == "unverified"
    assert person["node"] == str(node.pk)
    detail = alice.api.get(f"/api/v1/people/{person['id']}").json()
    assert detail == person
    assert "김민수" not in str(detail) and "12345678" not in str(detail)
    assert Event.objects.filter(type="person.created", object_id=person["id"]).exists()


def test_the_list_finds_people_by_phone_email_and_national_id_exactly(alice):
    rrn = make_rrn(__import__("datetime").date(1990, 1, 15))
    mine = PersonFactory(
        tenant=alice.tenant,
        data=person_data(phone="010-2222-3333", email="a@b.example", national_id=rrn),
    )
    PersonFactory(tenant=alice.tenant)
    for query in (
        "phone=%2B821022223333",
        "phone=010-2222-3333",
        "email=A@B.example",
        f"national_id={rrn.replace('-', '')}",
    ):
        found = alice.api.get(f"/api/v1/people?{query}").json()["results"]
        assert [p["id"] for p in found] == [str(mine.pk)], query
    assert alice.api.get("/api/v1/people?phone=010-9999-9999").json()["results"] == []
    assert len(alice.api.get("/api/v1/people").json()["results"]) == 2


def test_a_reveal_needs_a_purpose_and_is_recorded(alice):
    person = PersonFactory(tenant=alice.tenant, data=person_data(phone="010-1234-5678"))
    refused = alice.api.post(f"/api/v1/people/{person.pk}/reveal", {}, format="json")
    assert refused.status_code == 400
    assert AccessLogEntry.objects.count() == 0

    response = alice.api.post(
        f"/api/v1/people/{person.pk}/reveal",
        {"purpose": "call about a failed payment", "fields": ["phone", "legal_name"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"phone": "+821012345678", "legal_name": "김민수"}

    log = alice.api.get(f"/api/v1/people/{person.pk}/access_log").json()["results"]
    assert len(log) == 1
    assert log[0]["actor"].startswith("api_key:sk_test_")
    assert log[0]["fields"] == ["phone", "legal_name"]
    assert log[0]["purpose"] == "call about a failed payment"


def test_a_reveal_of_unknown_fields_is_refused(alice):
    person = PersonFactory(tenant=alice.tenant)
    response = alice.api.post(
        f"/api/v1/people/{person.pk}/reveal",
        {"purpose": "x", "fields": ["salary"]},
        format="json",
    )
    assert response.status_code == 400
    assert error_code(response) == "unknown_field"
    assert AccessLogEntry.objects.count() == 0


def test_an_erased_person_is_redacted_and_cannot_be_revealed(alice):
    person = PersonFactory(tenant=alice.tenant)
    response = alice.api.post(
        f"/api/v1/people/{person.pk}/erase", {"reason": "customer asked"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "redacted"
    assert response.json()["masked"] is None
    reveal = alice.api.post(
        f"/api/v1/people/{person.pk}/reveal", {"purpose": "curious"}, format="json"
    )
    assert reveal.status_code == 410
    assert error_code(reveal) == "person_redacted"
    match = alice.api.post(f"/api/v1/people/{person.pk}/match", {"name": "김민수"}, format="json")
    assert match.status_code == 410
    assert Event.objects.filter(type="person.erased", object_id=str(person.pk)).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"national_id": "900115-1234568"}, "national_id", "invalid_national_id"),
        ({"national_id": "12345"}, "national_id", "invalid_national_id"),
        ({"birth_date": "1990-02-30"}, "birth_date", "invalid_birth_date"),
        ({"birth_date": "2999-01-01"}, "birth_date", "invalid_birth_date"),
        ({"birth_date": "1850-01-01"}, "birth_date", "invalid_birth_date"),
        ({"phone": "010-12"}, "phone", "invalid_phone"),
        ({"phone": "not a phone"}, "phone", "invalid_phone"),
        ({"email": "nobody@"}, "email", "invalid_email"),
        ({"national_id_country": "XX"}, "national_id_country", "invalid_country"),
        (
            {"national_id_country": "US", "national_id": "000-12-3456"},
            "national_id",
            "invalid_national_id",
        ),
    ],
)
def test_bad_personal_data_is_refused_with_a_code_and_nothing_stored(alice, overrides, field, code):
    events = Event.objects.count()
    response = alice.api.post("/api/v1/people", body(**overrides), format="json")
    assert response.status_code == 422, response.content
    assert error_code(response) == code
    assert field in response.json()["error"]["fields"]
    assert Person.objects.count() == 0
    assert Event.objects.count() == events


def test_a_national_id_must_encode_the_birth_date(alice):
    response = alice.api.post("/api/v1/people", body(birth_date="1990-01-16"), format="json")
    assert response.status_code == 422
    assert error_code(response) == "national_id_birth_date_mismatch"


def test_a_customer_reference_is_unique_per_tenant(alice, outsider):
    first = alice.api.post("/api/v1/people", body(customer_reference="c-1"), format="json")
    assert first.status_code == 201
    again = alice.api.post("/api/v1/people", body(customer_reference="c-1"), format="json")
    assert again.status_code == 409
    assert error_code(again) == "customer_reference_taken"
    elsewhere = outsider.api.post("/api/v1/people", body(customer_reference="c-1"), format="json")
    assert elsewhere.status_code == 201


def test_another_tenants_node_cannot_serve_a_person(alice, outsider):
    node = NodeFactory(tenant=outsider.tenant)
    response = alice.api.post("/api/v1/people", body(node_id=str(node.pk)), format="json")
    assert response.status_code == 404
    assert Person.objects.count() == 0


def test_lookups_do_not_cross_tenants(alice, outsider):
    PersonFactory(tenant=alice.tenant, data=person_data(phone="010-5555-6666"))
    assert outsider.api.get("/api/v1/people?phone=010-5555-6666").json()["results"] == []


def test_a_foreign_national_id_is_found_with_its_country(alice):
    mine = PersonFactory(
        tenant=alice.tenant, data=person_data(national_id="536-90-4399", national_id_country="US")
    )
    found = alice.api.get("/api/v1/people?national_id=536904399&national_id_country=US")
    assert [p["id"] for p in found.json()["results"]] == [str(mine.pk)]
    assert alice.api.get("/api/v1/people?national_id=536904399").json()["results"] == []
