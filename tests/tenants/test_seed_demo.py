"""The demo data the Quick start promises: safe to load twice."""

import pytest
from django.core.management import call_command

from sandbox.tenants.models import Node, Tenant, User
from wallets.banknet.models import Deposit

pytestmark = pytest.mark.django_db


def test_seed_demo_makes_an_operator_two_startups_with_a_node_and_a_first_deposit():
    call_command("seed_demo")
    call_command("seed_demo")

    assert User.objects.get(email="operator@sandbox.test").is_staff
    tenants = Tenant.objects.order_by("name")
    assert [(t.name, t.status) for t in tenants] == [
        ("Kimchi Pay", "active"),
        ("Sakura Remit", "active"),
    ]
    assert {n.tenant.name: n.base_currency for n in Node.objects.all()} == {
        "Kimchi Pay": "KRW",
        "Sakura Remit": "JPY",
    }
    deposits = Deposit.objects.order_by("currency")
    assert [(d.currency, d.amount, d.status) for d in deposits] == [
        ("JPY", 30_000, "pending"),
        ("KRW", 250_000, "pending"),
    ]
    for user in User.objects.filter(is_staff=False):
        assert user.check_password("sandbox-demo-2026")
