"""Computing standings: one row per computation with its attestations and their evidence
windows, ``credit.standing.updated`` only when the score changes, and a qualifying
unverified person or node made ``secondary``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from sandbox.events.models import Event
from sandbox.identities import services as identities
from sandbox.identities.models import NodeIdentity
from sandbox.tenants.services import SYSTEM
from tests.credit.conftest import START
from tests.factories import AccountFactory
from tests.identities.factories import PersonFactory
from wallets.credit import presenters, services
from wallets.credit.models import CreditStanding, HistoryAttestation

pytestmark = pytest.mark.django_db


def good_history(books, *, days: int = 200) -> None:
    """Income every 30 days from day 1 to ``days``, no return."""
    books.monthly_income(days // 30 + 1)
    books.day(days)


def test_a_person_with_history_gets_three_attestations_with_their_windows(books):
    good_history(books)

    standing = services.standing_recompute(actor=SYSTEM, person=books.person)

    found = {a.kind: a for a in standing.attestations.all()}
    assert set(found) == {"account_age", "regular_income", "no_returns"}
    assert found["account_age"].value == 200
    assert found["account_age"].window_start == START
    assert found["regular_income"].window_start == books.now - timedelta(days=90)
    assert found["regular_income"].evidence["monthly_credits"] == [1, 1, 1]
    assert found["no_returns"].window_start == books.now - timedelta(days=180)
    assert all(a.window_end == books.now == a.issued_at for a in found.values())


def test_the_attestations_make_an_unverified_person_secondary(books):
    good_history(books)
    assert books.person.verification_level == "unverified"

    services.standing_recompute(actor=SYSTEM, person=books.person)

    books.person.refresh_from_db()
    assert books.person.verification_level == "secondary"
    changed = Event.objects.get(type="identity.verification_level_changed")
    assert changed.data["verification_level"] == "secondary"
    assert "history attestations" in changed.data["reason"]


def test_a_return_keeps_the_person_unverified(books):
    good_history(books)
    books.returned(books.credit())

    standing = services.standing_recompute(actor=SYSTEM, person=books.person)

    assert {a.kind for a in standing.attestations.all()} == {"account_age", "regular_income"}
    assert "recent_returns" in standing.reason_codes
    books.person.refresh_from_db()
    assert books.person.verification_level == "unverified"


def test_a_young_account_attests_nothing_of_age_or_returns(books):
    good_history(books, days=100)

    standing = services.standing_recompute(actor=SYSTEM, person=books.person)

    assert {a.kind for a in standing.attestations.all()} == {"regular_income"}
    assert "short_history" in standing.reason_codes


def test_a_real_name_person_is_never_lowered(books):
    identities.set_verification_level(books.person, "real_name", reason="test")
    good_history(books)

    standing = services.standing_recompute(actor=SYSTEM, person=books.person)

    books.person.refresh_from_db()
    assert books.person.verification_level == "real_name"
    assert standing.verification_level == "real_name"
    assert "unverified_identity" not in standing.reason_codes


def test_a_node_identity_becomes_secondary_too(books):
    identity = NodeIdentity.objects.create(
        node=books.node,
        tenant=books.tenant,
        wrapped_dek=b"x",
        kek_id="k",
        legal_name_sealed=b"x",
        registration_number_sealed=b"x",
        address_sealed=b"x",
        created_at=START,
        updated_at=START,
    )
    good_history(books)

    standing = services.standing_recompute(actor=SYSTEM, node=books.node)

    identity.refresh_from_db()
    assert identity.verification_level == "secondary"
    assert standing.node_id == books.node.pk and standing.person_id is None


def test_a_person_without_a_customer_reference_has_no_accounts(books, alice):
    loner = PersonFactory(tenant=alice.tenant, node=books.node)
    good_history(books)

    standing = services.standing_recompute(actor=SYSTEM, person=loner)

    assert standing.reason_codes[0] == "no_accounts"
    assert standing.attestations.count() == 0


def test_an_event_tells_when_the_score_changed_and_only_then(books):
    good_history(books)

    first = services.standing_recompute(actor=SYSTEM, person=books.person)
    same = services.standing_recompute(actor=SYSTEM, person=books.person)
    books.returned(books.credit())
    lower = services.standing_recompute(actor=SYSTEM, person=books.person)

    assert first.verification_level == "secondary"  # earned in this very computation
    assert same.score == first.score
    assert lower.score < first.score
    updates = Event.objects.filter(type="credit.standing.updated").order_by("created_at")
    assert [e.data["score"] for e in updates] == [lower.score]  # a first score is no change
    assert updates[0].node_id == books.node.pk
    assert updates[0].object_id == str(lower.pk)
    assert updates[0].data == presenters.standing_json(lower)
    assert CreditStanding.objects.filter(person=books.person).count() == 3


def test_the_database_refuses_a_score_outside_1_to_99(books):
    standing = services.standing_recompute(actor=SYSTEM, node=books.node)

    for bad in (0, 100):
        with pytest.raises(IntegrityError), transaction.atomic():
            CreditStanding.objects.filter(pk=standing.pk).update(score=bad)


def test_an_erased_person_is_not_recomputed(books):
    identities.erase(books.person, actor="test", reason="right to be forgotten")

    with pytest.raises(identities.PersonRedacted):
        services.standing_recompute(actor=SYSTEM, person=books.person)
    assert not HistoryAttestation.objects.exists()


def test_a_person_served_by_no_node_hears_through_the_tenants_events(books):
    walk_in = PersonFactory(tenant=books.tenant, customer_reference="walk-in")
    before = services.standing_recompute(actor=SYSTEM, person=walk_in)
    account = AccountFactory(node=books.node, customer_reference="walk-in")
    books.credit(10_000, account=account)

    after = services.standing_recompute(actor=SYSTEM, person=walk_in)

    assert before.reason_codes[0] == "no_accounts"
    assert after.score > before.score
    event = Event.objects.get(type="credit.standing.updated")
    assert event.node_id is None and event.tenant_id == books.tenant.pk
    assert event.data["subject_id"] == str(walk_in.pk)
