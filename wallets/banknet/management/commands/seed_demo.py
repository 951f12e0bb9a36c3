"""Demo data: an operator and two startups with a node each. Safe to run twice."""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from sandbox.identities import selectors as identity_selectors
from sandbox.identities import services as identity_services
from sandbox.identities.data import Address, PersonalData
from sandbox.tenants import services
from sandbox.tenants.models import Membership, Node, Tenant, User
from wallets.banknet import bank_accounts, deposits
from wallets.banknet.models import BankAccount
from wallets.models import Account

DEMO_PASSWORD = "sandbox-demo-2026"
OPERATOR_EMAIL = "operator@sandbox.test"
DEMO_STARTUPS = [
    # organization, owner e-mail, node name, country, base currency
    ("Kimchi Pay", "owner@kimchipay.test", "Kimchi Pay Seoul", "KR", "KRW"),
    ("Sakura Remit", "owner@sakuraremit.test", "Sakura Remit Tokyo", "JP", "JPY"),
]
# A customer of each startup, at a simulated bank, who sends a first deposit: it shows as
# pending at once and is credited by the Celery worker after the bank's delay.
DEMO_CUSTOMERS = {
    "Kimchi Pay": ("004", "110234567890", "Kim Minjun", "KRW", 250_000),
    "Sakura Remit": ("0005", "1234567", "Sato Yui", "JPY", 30_000),
}

# People each startup serves, with recognizable names: their data is sealed at rest, so a
# dump of the database shows none of it (tests/identities/test_dump.py).
DEMO_PEOPLE = {
    "Kimchi Pay": [
        PersonalData(
            legal_name="박지훈",
            birth_date=datetime.date(1988, 4, 12),
            national_id="880412-1123453",
            national_id_country="KR",
            phone="+821023456789",
            email="jihoon.park@kimchipay-customer.test",
            address=Address("세종대로 110", "서울특별시 중구", "04524", "KR"),
        ),
        PersonalData(
            legal_name="이서연",
            birth_date=datetime.date(1995, 11, 3),
            national_id="951103-2234561",
            national_id_country="KR",
            phone="+821098765432",
            email="seoyeon.lee@kimchipay-customer.test",
            address=Address("해운대해변로 264", "부산광역시 해운대구", "48099", "KR"),
        ),
    ],
    "Sakura Remit": [
        PersonalData(
            legal_name="Tanaka Haruto",
            birth_date=datetime.date(1992, 7, 21),
            national_id="483729150640",
            national_id_country="JP",
            phone="+819012345678",
            email="haruto.tanaka@sakura-customer.test",
            address=Address("1-1 Marunouchi", "Chiyoda-ku, Tokyo", "100-0005", "JP"),
        ),
    ],
}


class Command(BaseCommand):
    help = "Create the demo operator and two demo startups (each with a node)."

    @transaction.atomic
    def handle(self, *args: object, **options: object) -> None:
        if not User.objects.filter(email=OPERATOR_EMAIL).exists():
            User.objects.create_superuser(OPERATOR_EMAIL, DEMO_PASSWORD, full_name="Demo Operator")
        for organization, email, node_name, country, currency in DEMO_STARTUPS:
            membership = (
                Membership.objects.filter(user__email=email).select_related("tenant").first()
            )
            if membership is None:
                membership = services.tenant_signup(
                    organization=organization, email=email, password=DEMO_PASSWORD
                )
            tenant = membership.tenant
            if tenant.status != Tenant.Status.ACTIVE:
                Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.ACTIVE)
                tenant.refresh_from_db()
            actor = services.Actor(user=membership.user)
            node = Node.objects.filter(tenant=tenant).first() or services.node_create(
                tenant=tenant, actor=actor, name=node_name, country=country, base_currency=currency
            )
            self._first_deposit(tenant=tenant, node=node, actor=actor)
            self._people(tenant=tenant, node=node)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  operator: {OPERATOR_EMAIL} / {DEMO_PASSWORD}")
        for organization, email, *_ in DEMO_STARTUPS:
            self.stdout.write(f"  {organization}: {email} / {DEMO_PASSWORD}")

    def _people(self, *, tenant: Tenant, node: Node) -> None:
        for number, data in enumerate(DEMO_PEOPLE.get(tenant.name, []), start=1):
            if identity_selectors.find_by_email(tenant, data.email) is None:
                identity_services.register_person(
                    tenant=tenant, node=node, data=data, customer_reference=f"demo-{number:04d}"
                )

    def _first_deposit(self, *, tenant: Tenant, node: Node, actor: services.Actor) -> None:
        if BankAccount.objects.filter(tenant=tenant).exists():
            return
        bank_code, number, holder, currency, amount = DEMO_CUSTOMERS[tenant.name]
        sender = bank_accounts.bank_account_create(
            tenant=tenant,
            actor=actor,
            bank_code=bank_code,
            account_number=number,
            holder_name=holder,
        )
        account = (
            Account.objects.filter(wallet__node=node, currency=currency).order_by("pk").first()
        )
        if account is None:
            raise CommandError(f"{node.name} has no {currency} account for the first deposit.")
        deposits.deposit_create(
            tenant=tenant,
            actor=actor,
            sender=sender,
            bank_code=account.bank_code,
            account_number=account.account_number,
            amount=amount,
            currency=currency,
            memo="First deposit",
        )
