"""The dashboard: a person's and a node's credit card with the chart of the score's
history, loaded into the node page (htmx), and a "recompute now" button."""

from __future__ import annotations

import pytest

from tests.credit.test_standing import good_history
from tests.factories import MembershipFactory
from tests.helpers import web_as
from wallets.credit.models import CreditStanding

pytestmark = pytest.mark.django_db


def test_the_node_page_loads_the_credit_card(books, alice):
    page = alice.web.get(f"/nodes/{books.node.pk}/")

    assert page.status_code == 200
    assert f'hx-get="/credit/nodes/{books.node.pk}/card/"' in page.content.decode()


def test_the_person_page_loads_the_credit_card(books, alice):
    page = alice.web.get(f"/people/{books.person.pk}/")

    assert page.status_code == 200
    assert f'hx-get="/credit/people/{books.person.pk}/card/"' in page.content.decode()


def test_a_recompute_from_the_dashboard_shows_the_score_and_its_chart(books, alice):
    good_history(books)
    alice.web.post(f"/credit/people/{books.person.pk}/recompute/")
    books.day(215)
    response = alice.web.post(f"/credit/people/{books.person.pk}/recompute/", follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    latest = CreditStanding.objects.filter(person=books.person).order_by("-as_of").first()
    assert f'id="credit-score">{latest.score}<' in html
    assert "<svg" in html  # the chart of the history
    assert "regular_income" in html


def test_the_node_card_lists_the_history(books, alice):
    good_history(books)
    alice.web.post(f"/credit/nodes/{books.node.pk}/recompute/")

    card = alice.web.get(f"/credit/nodes/{books.node.pk}/card/")

    assert card.status_code == 200
    assert 'id="credit-history"' in card.content.decode()


def test_a_viewer_sees_no_recompute_button(books, alice):
    viewer = MembershipFactory(tenant=alice.tenant, role="viewer").user

    card = web_as(viewer).get(f"/credit/nodes/{books.node.pk}/card/").content.decode()

    assert "Recompute now" not in card
