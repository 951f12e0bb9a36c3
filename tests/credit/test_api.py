"""The credit standing API: current standing and history, recompute on demand, the
attestations; another tenant's person or node is a 404 that changes nothing."""

from __future__ import annotations

import pytest

from sandbox.identities import services as identities
from tests.credit.test_standing import good_history
from tests.helpers import error_code
from wallets.credit.models import CreditStanding

pytestmark = pytest.mark.django_db


def test_before_any_computation_there_is_no_current_standing(books, alice):
    response = alice.api.get(f"/api/v1/people/{books.person.pk}/credit_standing")

    assert response.status_code == 200
    assert response.json() == {"current": None, "history": []}


def test_a_recompute_answers_the_new_standing_and_joins_the_history(books, alice):
    good_history(books)
    base = f"/api/v1/people/{books.person.pk}/credit_standing"

    created = alice.api.post(f"{base}/recompute")
    books.day(230)
    again = alice.api.post(f"{base}/recompute")
    shown = alice.api.get(base).json()

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["subject_type"] == "person" and body["subject_id"] == str(books.person.pk)
    assert 1 <= body["score"] <= 99
    assert body["trigger"] == "on_demand"
    assert body["as_of"] == "2025-07-25T03:00:00+00:00"  # the platform clock of the books
    assert shown["current"] == again.json()
    assert [s["id"] for s in shown["history"]] == [again.json()["id"], body["id"]]


def test_the_attestations_of_the_latest_computation(books, alice):
    good_history(books)
    alice.api.post(f"/api/v1/people/{books.person.pk}/credit_standing/recompute")

    response = alice.api.get(f"/api/v1/people/{books.person.pk}/attestations")

    assert response.status_code == 200
    kinds = [a["kind"] for a in response.json()["results"]]
    assert kinds == ["account_age", "no_returns", "regular_income"]
    first = response.json()["results"][0]
    assert first["window_start"] == "2025-01-06T03:00:00+00:00"
    assert first["subject_type"] == "person"


def test_a_node_has_its_own_standing(books, alice):
    good_history(books)
    base = f"/api/v1/nodes/{books.node.pk}/credit_standing"

    created = alice.api.post(f"{base}/recompute").json()
    shown = alice.api.get(base).json()
    attested = alice.api.get(f"/api/v1/nodes/{books.node.pk}/attestations").json()

    assert created["subject_type"] == "node"
    assert shown["current"]["id"] == created["id"]
    assert {a["kind"] for a in attested["results"]} == {
        "account_age",
        "regular_income",
        "no_returns",
    }


def test_another_tenants_person_and_node_are_not_found(books, outsider):
    for path, code in [
        (f"/api/v1/people/{books.person.pk}/credit_standing", "person_not_found"),
        (f"/api/v1/people/{books.person.pk}/attestations", "person_not_found"),
        (f"/api/v1/nodes/{books.node.pk}/credit_standing", "node_not_found"),
        (f"/api/v1/nodes/{books.node.pk}/attestations", "node_not_found"),
    ]:
        response = outsider.api.get(path)
        assert response.status_code == 404, path
        assert error_code(response) == code
    for path in (
        f"/api/v1/people/{books.person.pk}/credit_standing/recompute",
        f"/api/v1/nodes/{books.node.pk}/credit_standing/recompute",
    ):
        assert outsider.api.post(path).status_code == 404
    assert not CreditStanding.objects.exists()


def test_a_malformed_id_is_not_found(alice):
    response = alice.api.get("/api/v1/people/not-a-uuid/credit_standing")

    assert response.status_code == 404


def test_an_erased_person_cannot_be_recomputed(books, alice):
    identities.erase(books.person, actor="test", reason="asked to")

    response = alice.api.post(f"/api/v1/people/{books.person.pk}/credit_standing/recompute")

    assert response.status_code in (409, 410)
    assert error_code(response) == "person_redacted"
    assert not CreditStanding.objects.exists()
