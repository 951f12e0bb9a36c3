"""Shared steps of the credential tests: a verified person served by a merchant node, and
the courier's request."""

from __future__ import annotations

from typing import Any

from sandbox.identities import services as identity_services
from sandbox.identities.models import Person
from tests.factories import NodeFactory
from tests.identities.factories import PersonFactory, person_data

DELIVERY_ADDRESS = {
    "street": "테헤란로 152",
    "city": "서울특별시 강남구",
    "postal_code": "06236",
    "country": "KR",
}
COURIER_CLAIMS = ["recipient_matches_delivery_address", "order_id", "address"]


def verified_person(party, *, level: str = "real_name", **kwargs: Any) -> Person:
    merchant = kwargs.pop("node", None) or NodeFactory(tenant=party.tenant, name="Gangnam Mart")
    reference = kwargs.pop("customer_reference", "")
    person = PersonFactory(
        tenant=party.tenant,
        node=merchant,
        customer_reference=reference,
        data=person_data(**kwargs),
    )
    if level != "unverified":
        identity_services.set_verification_level(person, level, reason="test")
    return person


def post(party, path: str, body: dict | None = None):
    return party.api.post(path, body or {}, format="json")


def issue_delivery(party, person: Person, order_id: str = "ORD-1", address=None) -> dict:
    response = post(
        party,
        f"/api/v1/people/{person.pk}/credentials",
        {
            "kind": "delivery",
            "order_id": order_id,
            "delivery_address": address or DELIVERY_ADDRESS,
        },
    )
    assert response.status_code == 201, response.content
    return response.json()


def courier_request(party, courier_node, order_id: str = "ORD-1") -> dict:
    response = post(
        party,
        "/api/v1/presentation_requests",
        {
            "verifier_node": str(courier_node.pk),
            "credential_type": "delivery",
            "claims": COURIER_CLAIMS,
            "order_id": order_id,
        },
    )
    assert response.status_code == 201, response.content
    return response.json()


def present(party, credential_id: str, request: dict, claims=None) -> dict:
    response = post(
        party,
        f"/api/v1/credentials/{credential_id}/presentations",
        {
            "audience": request["audience"],
            "nonce": request["nonce"],
            "claims": claims or request["claims"],
        },
    )
    assert response.status_code == 201, response.content
    return response.json()


def verify(party, request: dict, presentation: str) -> dict:
    response = post(
        party,
        "/api/v1/presentations/verify",
        {"request": request["id"], "presentation": presentation},
    )
    assert response.status_code == 200, response.content
    return response.json()
