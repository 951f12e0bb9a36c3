"""Demo data: an operator and two startups with a node each. Safe to run twice."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from sandbox.tenants import services
from sandbox.tenants.demo import DEMO_PASSWORD, DEMO_STARTUPS, OPERATOR_EMAIL
from sandbox.tenants.models import Membership, Node, Tenant, User
from wallets.banknet import bank_accounts, deposits
from wallets.banknet.models import BankAccount
from wallets.models import Account

# A customer of each startup, at a simulated bank, who sends a first deposit: it shows as
# pending at once and is credited by the Celery worker after the bank's delay.
DEMO_CUSTOMERS = {
    "Kimchi Pay": ("004", "110234567890", "Kim Minjun", "KRW", 250_000),
    "Sakura Remit": ("0005", "1234567", "Sato Yui", "JPY", 30_000),
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
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  operator: {OPERATOR_EMAIL} / {DEMO_PASSWORD}")
        for organization, email, *_ in DEMO_STARTUPS:
            self.stdout.write(f"  {organization}: {email} / {DEMO_PASSWORD}")

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
