"""Matching without disclosure: scores and bands, never the stored values."""

from __future__ import annotations

import pytest

from sandbox.identities import matching
from sandbox.identities.data import Address
from sandbox.identities.models import AccessLogEntry
from tests.identities.factories import PersonFactory, person_data

HOME = Address(street="테헤란로 152", city="서울특별시 강남구", postal_code="06236", country="KR")


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (100, "match"),
        (90, "match"),
        (89, "likely"),
        (70, "likely"),
        (69, "unlikely"),
        (40, "unlikely"),
        (39, "no_match"),
        (0, "no_match"),
    ],
)
def test_the_bands_are_the_documented_ones(score, band):
    assert matching.band(score) == band


def test_names_score_by_closeness():
    assert matching.score_name("김민수", "김민수") == 100
    assert matching.score_name("김 민수", "김민수") == 100
    assert matching.score_name("minsu KIM", "Kim Minsu") == 95
    assert 70 <= matching.score_name("김민서", "김민수") < 90
    assert matching.score_name("이영희", "김민수") < 40
    assert matching.score_name("", "김민수") == 0


def test_phones_score_exact_or_one_digit_off():
    assert matching.score_phone("010-1234-5678", "+821012345678") == 100
    assert matching.score_phone("010-1234-5679", "+821012345678") == 75
    assert matching.score_phone("010-9999-0000", "+821012345678") == 0
    assert matching.score_phone("call me", "+821012345678") == 0


def test_addresses_score_by_postal_code_city_and_street():
    assert matching.score_address(HOME, HOME) == 100
    spaced = Address("테헤란로152", "서울특별시  강남구", "06-236", "kr")
    assert matching.score_address(spaced, HOME) == 100
    other_street = Address("테헤란로 427", "서울특별시 강남구", "06236", "KR")
    assert 70 <= matching.score_address(other_street, HOME) < 100
    assert matching.score_address(Address("1 Main St", "Busan", "48099", "KR"), HOME) < 40
    assert (
        matching.score_address(Address(HOME.street, HOME.city, HOME.postal_code, "JP"), HOME) == 0
    )


@pytest.mark.django_db
def test_the_match_api_answers_scores_and_bands_only_and_logs_it(alice):
    person = PersonFactory(
        tenant=alice.tenant, data=person_data(phone="010-1234-5678", address=HOME)
    )
    response = alice.api.post(
        f"/api/v1/people/{person.pk}/match",
        {
            "name": "김민서",
            "phone": "+82 10 1234 5678",
            "address": {
                "street": "테헤란로 152",
                "city": "서울특별시 강남구",
                "postal_code": "06236",
                "country": "KR",
            },
            "purpose": "delivery check",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["phone"] == {"score": 100, "band": "match"}
    assert answer["address"] == {"score": 100, "band": "match"}
    assert answer["name"]["band"] == "likely"
    assert "김민수" not in response.content.decode()
    entry = AccessLogEntry.objects.get(person=person)
    assert entry.purpose == "delivery check"
    assert entry.fields == ["legal_name", "phone", "address"]


@pytest.mark.django_db
def test_a_match_needs_a_claim(alice):
    person = PersonFactory(tenant=alice.tenant)
    response = alice.api.post(f"/api/v1/people/{person.pk}/match", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_claims"
