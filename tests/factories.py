"""factory_boy factories: tests build exactly the data they talk about."""

from __future__ import annotations

import factory

from sandbox.tenants import services
from sandbox.tenants.models import Membership, Node, Tenant, User
from wallets import services as wallet_services
from wallets.locking import retrying
from wallets.posting import Leg, Posting, post_one

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Startup {n}")
    status = Tenant.Status.ACTIVE


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OperatorFactory(UserFactory):
    email = factory.Sequence(lambda n: f"operator{n}@sandbox.test")
    is_staff = True
    is_superuser = True


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.OWNER


class NodeFactory(factory.django.DjangoModelFactory):
    """Nodes are made through the service, so whatever a node owns (its wallet) exists."""

    class Meta:
        model = Node

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Node {n}")
    country = "KR"
    base_currency = "KRW"
    webhook_url = ""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.node_create(actor=services.SYSTEM, **kwargs)


def api_key_for(tenant: Tenant) -> str:
    """A live API key secret for ``tenant``."""
    return services.api_key_create(tenant=tenant, name="test", actor=services.SYSTEM).secret


# --- Wallets and ledger ----------------------------------------------------------------------


class AccountFactory(factory.django.DjangoModelFactory):
    """A virtual account in a node's wallet (a new node unless ``node`` is given)."""

    class Meta:
        model = "wallets.Account"

    node = factory.SubFactory(NodeFactory)
    currency = "KRW"
    name = factory.Sequence(lambda n: f"Account {n}")
    customer_reference = ""

    @classmethod
    def _create(cls, model_class, *args, node, **kwargs):
        return wallet_services.account_create(wallet=node.wallet, actor=services.SYSTEM, **kwargs)


def fund(account, amount: int):
    """Put ``amount`` minor units on ``account`` from its bank's settlement account, the way
    a bank deposit arrives: the platform side goes negative, the books stay at zero."""
    settlement = wallet_services.platform_account(
        purpose="settlement", currency=account.currency, bank_code=account.bank_code
    )
    posting = Posting(
        kind="deposit",
        legs=[
            Leg(settlement.pk, -amount, account.currency),
            Leg(account.pk, amount, account.currency),
        ],
        tenant_id=account.tenant_id,
    )
    return retrying(post_one)(posting).transaction
