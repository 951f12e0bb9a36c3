"""The credentials API: SD-JWT VCs issued to verified people, the courier case end to end
(the merchant's node holds a delivery credential, the courier's node asks, verifies through
the API and offline with the reference library), and every refusal changing nothing."""

from __future__ import annotations

import datetime
import json

import pytest
from django.core.management import call_command
from jwcrypto.jwk import JWK
from sd_jwt.holder import SDJWTHolder

from sandbox.events import clocks
from sandbox.events.models import Event
from sandbox.identities import services as identity_services
from sandbox.identities.credentials import keys
from sandbox.identities.credentials.models import Credential, Presentation, PresentationRequest
from sandbox.identities.models import AccessLogEntry
from sandbox.nodekeys.algorithms import ES256
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory
from tests.helpers import error_code
from tests.identities.credentials_helpers import (
    COURIER_CLAIMS,
    courier_request,
    issue_delivery,
    post,
    present,
    verified_person,
    verify,
)
from tests.identities.sdjwt_reference import reference_verify

pytestmark = pytest.mark.django_db

ADDRESS_CLAIM = {
    "street_address": "테헤란로 152",
    "locality": "서울특별시 강남구",
    "postal_code": "06236",
    "country": "KR",
}


def jwks(client) -> dict:
    response = client.get("/jwks/issuer.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwk-set+json"
    return response.json()


def state() -> tuple:
    return (
        Credential.objects.count(),
        Presentation.objects.count(),
        list(PresentationRequest.objects.values_list("id", "status", "verified_at")),
        Event.objects.count(),
    )


# --- The issuer's keys -------------------------------------------------------------------------


def test_the_issuer_publishes_its_es256_keys_and_rotation_keeps_the_old_one(anonymous):
    first = jwks(anonymous)["keys"]
    assert [k["status"] for k in first] == ["active"]
    assert first[0]["kty"] == "EC" and first[0]["crv"] == "P-256" and first[0]["alg"] == "ES256"
    assert first[0]["kid"] == ES256.thumbprint(first[0])
    assert "d" not in first[0]

    call_command("rotate_issuer_key", stdout=open("/dev/null", "w"))  # noqa: SIM115

    after = jwks(anonymous)["keys"]
    assert [k["status"] for k in after] == ["active", "retired"]
    assert after[1]["kid"] == first[0]["kid"]
    assert after[0]["kid"] != first[0]["kid"]


def test_issuer_private_keys_rest_sealed():
    key = keys.issuer_key_current()
    private = keys.issuer_private(key)
    scalar = ES256.private_bytes(private)
    assert scalar not in bytes(key.sealed_private_key)
    assert ES256.public_jwk(private.public_key()) == key.public_jwk


# --- Issuing -------------------------------------------------------------------------------------


def test_an_identity_credential_for_a_verified_person_reads_their_data_through_reveal(alice):
    person = verified_person(alice, birth_date=datetime.date(1990, 1, 15))

    response = post(alice, f"/api/v1/people/{person.pk}/credentials", {"kind": "identity"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "identity"
    assert body["vct"] == "urn:fsbx:vct:identity:1"
    assert body["holder_node"] == str(person.node_id)
    assert body["predicates"] == {"age_over_19": True, "kyc_level": "real_name"}
    assert body["sd_jwt"].endswith("~")
    assert "birthdate" in body["claims"] and "address.locality" in body["claims"]
    log = AccessLogEntry.objects.get(person=person)
    assert log.actor.startswith("api_key:")
    assert "identity credential" in log.purpose
    # The stored credential is sealed: no personal data in its row.
    row = Credential.objects.get(pk=body["id"])
    assert "김민수".encode() not in bytes(row.sealed_sd_jwt)
    assert body["sd_jwt"].encode() not in bytes(row.sealed_sd_jwt)
    assert Event.objects.filter(type="credential.issued", object_id=body["id"]).exists()
    assert alice.api.get(f"/api/v1/credentials/{body['id']}").json()["id"] == body["id"]


def test_an_identity_presentation_can_prove_age_without_the_birthdate(alice, anonymous):
    person = verified_person(alice, birth_date=datetime.date(2010, 6, 1))
    credential = post(alice, f"/api/v1/people/{person.pk}/credentials", {"kind": "identity"})
    credential = credential.json()
    bar = NodeFactory(tenant=alice.tenant, name="Hongdae bar")
    request = post(
        alice,
        "/api/v1/presentation_requests",
        {
            "verifier_node": str(bar.pk),
            "credential_type": "identity",
            "claims": ["age_over_19"],
        },
    ).json()

    made = present(alice, credential["id"], request)
    result = verify(alice, request, made["presentation"])

    assert result["result"] == "valid"
    assert result["claims"]["age_over_19"] is False
    assert "birthdate" not in result["claims"] and "name" not in result["claims"]
    offline = reference_verify(
        made["presentation"], jwks=jwks(anonymous), aud=request["audience"], nonce=request["nonce"]
    )
    assert offline["age_over_19"] is False and "birthdate" not in offline


@pytest.mark.parametrize("level", ["unverified"])
def test_an_unverified_person_gets_no_credential(alice, level):
    person = verified_person(alice, level=level)
    before = state()

    response = post(alice, f"/api/v1/people/{person.pk}/credentials", {"kind": "identity"})

    assert response.status_code == 409
    assert error_code(response) == "person_unverified"
    assert state() == before
    assert not AccessLogEntry.objects.filter(person=person).exists()


def test_a_redacted_person_gets_no_credential_and_their_credentials_are_unreadable(alice):
    person = verified_person(alice)
    credential = issue_delivery(alice, person)
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    request = courier_request(alice, courier)
    identity_services.erase(person, actor="user:test", reason="right to be forgotten")
    before = state()

    issued = post(alice, f"/api/v1/people/{person.pk}/credentials", {"kind": "identity"})
    presented = post(
        alice,
        f"/api/v1/credentials/{credential['id']}/presentations",
        {"audience": request["audience"], "nonce": request["nonce"], "claims": COURIER_CLAIMS},
    )

    assert issued.status_code == 410 and error_code(issued) == "person_redacted"
    assert presented.status_code == 410 and error_code(presented) == "person_redacted"
    assert state() == before


def test_another_tenants_person_and_node_are_not_found(alice, outsider):
    person = verified_person(alice)
    mine = verified_person(outsider)
    before = state()

    response = post(outsider, f"/api/v1/people/{person.pk}/credentials", {"kind": "identity"})
    assert response.status_code == 404 and error_code(response) == "person_not_found"

    foreign_holder = post(
        outsider,
        f"/api/v1/people/{mine.pk}/credentials",
        {"kind": "identity", "holder_node": str(person.node_id)},
    )
    assert foreign_holder.status_code == 404 and error_code(foreign_holder) == "node_not_found"
    assert state() == before


def test_a_delivery_credential_needs_an_order_and_an_address(alice):
    person = verified_person(alice)

    response = post(alice, f"/api/v1/people/{person.pk}/credentials", {"kind": "delivery"})

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) >= {"order_id", "delivery_address"}
    assert not Credential.objects.exists()


# --- The courier case -------------------------------------------------------------------------


def test_the_courier_case_end_to_end_through_the_api_and_offline(alice, outsider, anonymous):
    # given: Minsu, served by Alice's shop node; the courier company is another tenant
    person = verified_person(alice)
    courier = NodeFactory(tenant=outsider.tenant, name="Baemin courier")

    # when: the merchant's node gets a delivery credential for order ORD-1
    credential = issue_delivery(alice, person, "ORD-1")
    assert credential["predicates"]["recipient_matches_delivery_address"] is True
    assert credential["order_id"] == "ORD-1"

    # and: the courier's node asks for the proof, the address and the order id, not the name
    request = courier_request(outsider, courier, "ORD-1")
    assert request["audience"] == f"urn:fsbx:node:{courier.pk}"
    assert request["claims"] == [
        "order_id",
        "address.street_address",
        "address.locality",
        "address.postal_code",
        "address.country",
        "recipient_matches_delivery_address",
    ]

    # and: the merchant's node presents exactly that
    made = present(alice, credential["id"], request)
    assert made["disclosed_claims"] == request["claims"]
    assert made["verifier_node"] == str(courier.pk)

    # then: the courier verifies it through the API
    result = verify(outsider, request, made["presentation"])
    assert result["result"] == "valid", result
    assert result["claims"]["recipient_matches_delivery_address"] is True
    assert result["claims"]["order_id"] == "ORD-1"
    assert result["claims"]["address"] == ADDRESS_CLAIM
    assert "name" not in result["claims"] and "phone_number" not in result["claims"]
    assert "김민수" not in made["presentation"]
    assert result["request"]["status"] == "verified"
    assert result["request"]["disclosed"]["predicates"] == {
        "order_id": "ORD-1",
        "recipient_matches_delivery_address": True,
    }

    # and offline, with the reference library and the public JWKS only
    offline = reference_verify(
        made["presentation"], jwks=jwks(anonymous), aud=request["audience"], nonce=request["nonce"]
    )
    assert offline["recipient_matches_delivery_address"] is True
    assert offline["address"] == ADDRESS_CLAIM
    assert "name" not in offline

    # and: Minsu can see who learned what
    seen = alice.api.get(f"/api/v1/people/{person.pk}/presentations").json()
    assert [(p["verifier_node"], p["disclosed_claims"]) for p in seen] == [
        (str(courier.pk), request["claims"])
    ]
    assert Event.objects.filter(type="presentation.verified", tenant=outsider.tenant).count() == 1

    # and: the same presentation again is a replay; nothing changes
    before = state()
    again = verify(outsider, request, made["presentation"])
    assert (again["result"], again["reason"]) == ("invalid", "nonce_replayed")
    assert state() == before


def test_a_delivery_address_that_does_not_match_is_proven_false(alice):
    person = verified_person(alice)
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    elsewhere = {
        "street": "해운대로 570",
        "city": "부산광역시",
        "postal_code": "48095",
        "country": "KR",
    }

    credential = issue_delivery(alice, person, "ORD-9", elsewhere)
    request = courier_request(alice, courier, "ORD-9")
    result = verify(alice, request, present(alice, credential["id"], request)["presentation"])

    assert credential["predicates"]["recipient_matches_delivery_address"] is False
    assert result["result"] == "valid"
    assert result["claims"]["recipient_matches_delivery_address"] is False


def test_a_presentation_for_another_request_or_order_is_invalid_and_changes_nothing(alice):
    person = verified_person(alice)
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    credential = issue_delivery(alice, person, "ORD-1")
    first = courier_request(alice, courier, "ORD-1")
    second = courier_request(alice, courier, "ORD-1")
    other_order = courier_request(alice, courier, "ORD-2")
    made = present(alice, credential["id"], first)["presentation"]
    before = state()

    assert verify(alice, second, made)["reason"] == "wrong_nonce"
    for_other = present(alice, credential["id"], other_order)["presentation"]
    before = state()
    assert verify(alice, other_order, for_other)["reason"] == "wrong_order"
    assert state() == before


def test_a_verifier_of_another_audience_rejects_it(alice):
    person = verified_person(alice)
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    credential = issue_delivery(alice, person)
    request = courier_request(alice, courier)
    made = present(
        alice,
        credential["id"],
        {**request, "audience": "urn:fsbx:node:00000000-0000-0000-0000-000000000000"},
    )

    result = verify(alice, request, made["presentation"])

    assert (result["result"], result["reason"]) == ("invalid", "wrong_audience")


def test_tampered_forged_and_partial_presentations_are_invalid(alice):
    person = verified_person(alice)
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    credential = issue_delivery(alice, person)
    request = courier_request(alice, courier)
    made = present(alice, credential["id"], request)["presentation"]
    jwt, *disclosures, kb = made.split("~")
    header, payload, signature = jwt.split(".")
    forged_jwt = f"{header}.{payload}.{signature[:-4]}AAAA"
    partial = present(alice, credential["id"], {**request, "nonce": "x"}, claims=["order_id"])
    before = state()

    cases = {
        "bad_signature": "~".join([forged_jwt, *disclosures, kb]),
        "sd_hash_mismatch": "~".join([jwt, *disclosures[:-1], kb]),
        "malformed": "not-a-presentation",
        "key_binding_missing": "~".join([jwt, *disclosures, ""]),
    }
    for reason, presentation in cases.items():
        result = verify(alice, request, presentation)
        assert (result["result"], result["reason"]) == ("invalid", reason)
    assert verify(alice, request, partial["presentation"])["reason"] == "wrong_nonce"
    assert state() == before


def test_an_expired_credential_is_invalid_by_the_verifiers_clock(alice):
    person = verified_person(alice)
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    credential = issue_delivery(alice, person)
    request = courier_request(alice, courier)
    made = present(alice, credential["id"], request)["presentation"]
    clock = clocks.test_clock_create(
        tenant=alice.tenant,
        actor=SYSTEM,
        name="later",
        frozen_time=datetime.datetime.fromisoformat(credential["expires_at"]),
    )
    clocks.test_clock_attach(clock=clock, node=courier, actor=SYSTEM)
    PresentationRequest.objects.filter(pk=request["id"]).update(
        expires_at=datetime.datetime.fromisoformat(credential["expires_at"])
        + datetime.timedelta(hours=1)
    )

    result = verify(alice, request, made)

    assert (result["result"], result["reason"]) == ("invalid", "expired")


def test_unknown_claim_names_are_refused(alice):
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    person = verified_person(alice)
    credential = issue_delivery(alice, person)

    response = post(
        alice,
        "/api/v1/presentation_requests",
        {
            "verifier_node": str(courier.pk),
            "credential_type": "delivery",
            "claims": ["address", "national_id"],
        },
    )
    presented = post(
        alice,
        f"/api/v1/credentials/{credential['id']}/presentations",
        {"audience": "urn:x", "nonce": "n", "claims": ["birthdate"]},
    )

    assert response.status_code == 400 and error_code(response) == "unknown_claim"
    assert "national_id" in response.json()["error"]["message"]
    assert presented.status_code == 400 and error_code(presented) == "unknown_claim"
    assert not PresentationRequest.objects.exists() and not Presentation.objects.exists()


def test_another_tenants_request_cannot_be_verified_against(alice, outsider):
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    request = courier_request(alice, courier)

    response = post(
        outsider, "/api/v1/presentations/verify", {"request": request["id"], "presentation": "x~"}
    )

    assert response.status_code == 404
    assert error_code(response) == "presentationrequest_not_found"


def test_credentials_signed_by_a_retired_issuer_key_still_verify(alice, anonymous):
    person = verified_person(alice)
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    credential = issue_delivery(alice, person)
    keys.issuer_key_rotate()
    request = courier_request(alice, courier)
    made = present(alice, credential["id"], request)["presentation"]

    assert verify(alice, request, made)["result"] == "valid"
    assert reference_verify(
        made, jwks=jwks(anonymous), aud=request["audience"], nonce=request["nonce"]
    )["recipient_matches_delivery_address"]
    newer = issue_delivery(alice, person, "ORD-2")
    assert newer["issuer_kid"] != credential["issuer_kid"]


# --- A holder key the tenant registered ---------------------------------------------------------


def test_a_tenant_held_key_signs_its_own_presentations_and_submits_them(alice):
    person = verified_person(alice)
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    own = JWK.generate(kty="EC", crv="P-256")
    public = json.loads(own.export_public())
    registered = post(alice, f"/api/v1/nodes/{person.node_id}/holder_keys", {"jwk": public})
    assert registered.status_code == 201 and registered.json()["origin"] == "tenant"
    credential = issue_delivery(alice, person)
    request = courier_request(alice, courier)

    platform_signed = post(
        alice,
        f"/api/v1/credentials/{credential['id']}/presentations",
        {"audience": request["audience"], "nonce": request["nonce"], "claims": COURIER_CLAIMS},
    )
    assert platform_signed.status_code == 409
    assert error_code(platform_signed) == "node_signs_outside"

    # The tenant's wallet makes the presentation with the reference library's holder.
    holder = SDJWTHolder(credential["sd_jwt"])
    holder.create_presentation(
        {
            "order_id": True,
            "recipient_matches_delivery_address": True,
            "address": {k: True for k in ("street_address", "locality", "postal_code", "country")},
        },
        nonce=request["nonce"],
        aud=request["audience"],
        holder_key=own,
        sign_alg="ES256",
    )
    submitted = post(
        alice,
        f"/api/v1/credentials/{credential['id']}/presentations",
        {"presentation": holder.sd_jwt_presentation},
    )
    assert submitted.status_code == 201, submitted.content
    assert submitted.json()["signed_by"] == "tenant"
    assert sorted(submitted.json()["disclosed_claims"]) == sorted(request["claims"])

    result = verify(alice, request, holder.sd_jwt_presentation)
    assert result["result"] == "valid", result
    assert result["claims"]["address"] == ADDRESS_CLAIM


def test_a_submitted_presentation_of_another_credential_is_refused(alice):
    person = verified_person(alice)
    one = issue_delivery(alice, person, "ORD-1")
    two = issue_delivery(alice, person, "ORD-2")
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    made = present(alice, one["id"], courier_request(alice, courier))["presentation"]
    before = state()

    response = post(alice, f"/api/v1/credentials/{two['id']}/presentations", {"presentation": made})

    assert response.status_code == 400 and error_code(response) == "invalid_presentation"
    assert state() == before


def test_a_malformed_holder_key_is_refused(alice):
    node = NodeFactory(tenant=alice.tenant)

    response = post(
        alice, f"/api/v1/nodes/{node.pk}/holder_keys", {"jwk": {"kty": "OKP", "crv": "Ed25519"}}
    )

    assert response.status_code == 400 and error_code(response) == "invalid_jwk"
    listed = alice.api.get(f"/api/v1/nodes/{node.pk}/holder_keys").json()["keys"]
    assert [(k["origin"], k["status"]) for k in listed] == [("platform", "active")]


# --- A node's business identity -------------------------------------------------------------


def business_node(party, *, level: str = "real_name"):
    node = NodeFactory(tenant=party.tenant, name="Gangnam Mart", country="KR")
    identity = identity_services.node_identity_set(
        node=node,
        data=identity_services.NodeIdentityData(
            legal_name="주식회사 강남마트",
            registration_number="120-81-47521",
            address=identity_services.Address(
                street="테헤란로 152", city="서울특별시 강남구", postal_code="06236", country="KR"
            ),
        ),
    )
    if level != "unverified":
        identity_services.set_verification_level(identity, level, reason="test")
    return node


def test_a_node_with_a_verified_business_identity_gets_a_business_credential(alice, anonymous):
    node = business_node(alice)
    bank = NodeFactory(tenant=alice.tenant, name="Bank")

    response = post(alice, f"/api/v1/nodes/{node.pk}/credentials")

    assert response.status_code == 201, response.content
    credential = response.json()
    assert credential["kind"] == "business" and credential["subject_node"] == str(node.pk)
    assert credential["holder_node"] == str(node.pk) and credential["person"] is None
    request = post(
        alice,
        "/api/v1/presentation_requests",
        {
            "verifier_node": str(bank.pk),
            "credential_type": "business",
            "claims": ["legal_name", "kyc_level"],
        },
    ).json()
    made = present(alice, credential["id"], request)["presentation"]
    result = verify(alice, request, made)
    assert result["result"] == "valid"
    assert result["claims"]["legal_name"] == "주식회사 강남마트"
    assert "registration_number" not in result["claims"]
    offline = reference_verify(
        made, jwks=jwks(anonymous), aud=request["audience"], nonce=request["nonce"]
    )
    assert offline["kyc_level"] == "real_name" and "registration_number" not in offline
    listed = alice.api.get(f"/api/v1/nodes/{node.pk}/credentials").json()
    assert [c["id"] for c in listed] == [credential["id"]]


def test_a_node_without_a_verified_business_identity_gets_none(alice):
    bare = NodeFactory(tenant=alice.tenant)
    unverified = business_node(alice, level="unverified")
    before = state()

    missing = post(alice, f"/api/v1/nodes/{bare.pk}/credentials")
    refused = post(alice, f"/api/v1/nodes/{unverified.pk}/credentials")

    assert missing.status_code == 409 and error_code(missing) == "node_identity_missing"
    assert refused.status_code == 409 and error_code(refused) == "node_unverified"
    assert state() == before


def test_a_revoked_credential_is_no_longer_presented_nor_valid(alice):
    person = verified_person(alice)
    courier = NodeFactory(tenant=alice.tenant, name="Courier")
    credential = issue_delivery(alice, person)
    request = courier_request(alice, courier)
    made = present(alice, credential["id"], request)["presentation"]

    revoked = post(alice, f"/api/v1/credentials/{credential['id']}/revoke")

    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert Event.objects.filter(type="credential.revoked", object_id=credential["id"]).exists()
    before = state()
    result = verify(alice, request, made)
    assert (result["result"], result["reason"]) == ("invalid", "revoked")
    again = post(
        alice,
        f"/api/v1/credentials/{credential['id']}/presentations",
        {"audience": request["audience"], "nonce": "n-2", "claims": COURIER_CLAIMS},
    )
    assert again.status_code == 409 and error_code(again) == "credential_revoked"
    assert state() == before
