"""Events of people and node identities: created, erased, verification level changed,
carrying the masked representation only."""

from __future__ import annotations

import pytest

from sandbox.events.models import Event
from sandbox.identities import services
from sandbox.identities.data import Address
from sandbox.identities.models import NodeIdentity, VerificationLevel
from sandbox.identities.presenters import person_as_json
from sandbox.identities.vault import NodeIdentityData
from tests.factories import NodeFactory
from tests.identities.factories import PersonFactory, person_data

pytestmark = pytest.mark.django_db

SEOUL_OFFICE = {"street": "테헤란로 1", "city": "서울", "postal_code": "06236", "country": "KR"}
BUSINESS = NodeIdentityData(
    legal_name="주식회사 김치페이",
    registration_number="220-81-62517",
    address=Address("테헤란로 1", "서울", "06236", "KR"),
)


def test_person_created_carries_what_the_api_shows():
    node = NodeFactory()
    person = PersonFactory(tenant=node.tenant, node=node, data=person_data(legal_name="홍길동"))
    event = Event.objects.get(type="person.created")
    assert event.node_id == node.pk
    assert event.object_id == str(person.pk)
    assert event.data == person_as_json(person)
    assert "홍길동" not in str(event.data)


def test_a_level_change_is_an_event_and_the_same_level_is_not():
    person = PersonFactory()
    services.set_verification_level(person, VerificationLevel.REAL_NAME, reason="kyc passed")
    services.set_verification_level(person, VerificationLevel.REAL_NAME, reason="again")
    person.refresh_from_db()
    assert person.verification_level == "real_name"
    (event,) = Event.objects.filter(type="identity.verification_level_changed")
    assert event.data["previous_level"] == "unverified"
    assert event.data["verification_level"] == "real_name"
    assert event.data["reason"] == "kyc passed"


def test_a_node_identitys_level_changes_too():
    node = NodeFactory()
    identity = services.node_identity_set(node=node, data=BUSINESS)
    services.set_verification_level(identity, VerificationLevel.SECONDARY, reason="registry")
    assert NodeIdentity.objects.get(pk=identity.pk).verification_level == "secondary"
    event = Event.objects.get(type="identity.verification_level_changed")
    assert event.data["object"] == "node_identity" and event.node_id == node.pk


def test_an_unknown_level_is_refused():
    person = PersonFactory()
    with pytest.raises(services.ApplicationError) as refused:
        services.set_verification_level(person, "super", reason="x")
    assert refused.value.code == "invalid_verification_level"


def test_levels_rank_in_order():
    assert [VerificationLevel.rank(v) for v in ("unverified", "secondary", "real_name")] == [
        0,
        1,
        2,
    ]


def test_node_identity_api_sets_and_shows_it_masked(alice):
    node = NodeFactory(tenant=alice.tenant, country="KR")
    body = {
        "legal_name": "주식회사 김치페이",
        "registration_number": "220-81-62517",
        "address": {
            "street": "테헤란로 1",
            "city": "서울",
            "postal_code": "06236",
            "country": "KR",
        },
    }
    assert alice.api.get(f"/api/v1/nodes/{node.pk}/identity").status_code == 404
    response = alice.api.put(f"/api/v1/nodes/{node.pk}/identity", body, format="json")
    assert response.status_code == 200, response.content
    shown = alice.api.get(f"/api/v1/nodes/{node.pk}/identity").json()
    assert shown["masked"]["registration_number"] == "*******517"
    assert shown["masked"]["legal_name"] == "주*** 김***"
    assert shown["verification_level"] == "unverified"
    assert Event.objects.filter(type="node_identity.updated", node=node).exists()


def test_a_bad_business_registration_number_is_refused(alice):
    node = NodeFactory(tenant=alice.tenant, country="KR")
    body = {
        "legal_name": "주식회사 김치페이",
        "registration_number": "220-00-62517",
        "address": {
            "street": "테헤란로 1",
            "city": "서울",
            "postal_code": "06236",
            "country": "KR",
        },
    }
    response = alice.api.put(f"/api/v1/nodes/{node.pk}/identity", body, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_registration_number"
    assert not NodeIdentity.objects.exists()
