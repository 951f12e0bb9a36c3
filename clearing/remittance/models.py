"""Remittance: the platform's bitcoin keys and coins (this module), and remittances."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from sandbox.currencies import CurrencyCode
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.scoping import TenantQuerySet
from wallets.models import Account, LedgerTransaction


class PlatformSeed(models.Model):
    """The BIP32 seed every node's bitcoin key derives from: one row (id=1), sealed at rest
    with the ``CLEARING_MASTER_KEY`` keyring under its own purpose (``sandbox.keyring``)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    key_id = models.CharField(max_length=32)
    sealed = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="platformseed_singleton")]

    def __str__(self) -> str:
        return f"Platform bitcoin seed ({self.key_id})"


class BitcoinKey(models.Model):
    """A node's bitcoin key: BIP32 path ``m/44'/1'/<index>'/0/0`` from the platform seed,
    and its regtest P2PKH address. Only the public half is stored."""

    node = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="bitcoin_key")
    index = models.PositiveIntegerField(unique=True)
    pubkey = models.CharField(max_length=66, help_text="Compressed, hex.")
    address = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.address

    @property
    def path(self) -> str:
        return f"m/44'/1'/{self.index}'/0/0"


class Coin(models.Model):
    """An output of a chain transaction paid to one of the nodes' addresses: the wallet's
    view of its unspent outputs. ``spent_by`` is the txid that spends it (mined or not)."""

    txid = models.CharField(max_length=64)
    vout = models.PositiveIntegerField()
    key = models.ForeignKey(BitcoinKey, on_delete=models.PROTECT, related_name="coins")
    amount = models.BigIntegerField(help_text="Satoshis.")
    spent_by = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["txid", "vout"], name="coin_one_per_outpoint"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="coin_amount_positive"),
        ]
        indexes = [models.Index(fields=["key", "spent_by"], name="coin_key_unspent")]

    def __str__(self) -> str:
        return f"{self.txid}:{self.vout}"


class Remittance(models.Model):
    """A node's customer sends money to a beneficiary account at a node in another country,
    over bitcoin: five legs (``RemittanceLeg``), each one ledger transaction. States follow
    Wise's transfers; ``failed_leg`` names the leg that failed when it bounced back."""

    class Status(models.TextChoices):
        INCOMING_PAYMENT_WAITING = "incoming_payment_waiting", "Incoming payment waiting"
        PROCESSING = "processing", "Processing"
        FUNDS_CONVERTED = "funds_converted", "Funds converted"
        OUTGOING_PAYMENT_SENT = "outgoing_payment_sent", "Outgoing payment sent"
        BOUNCED_BACK = "bounced_back", "Bounced back"
        FUNDS_REFUNDED = "funds_refunded", "Funds refunded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    sender_node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="+")
    sender_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    beneficiary_node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="+")
    beneficiary_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    source_currency = models.CharField(max_length=3, choices=CurrencyCode.choices)
    target_currency = models.CharField(max_length=3, choices=CurrencyCode.choices)
    source_amount = models.BigIntegerField(help_text="Minor units debited from the sender.")
    btc_amount = models.BigIntegerField(null=True, blank=True, help_text="Satoshis sent.")
    target_amount = models.BigIntegerField(
        null=True, blank=True, help_text="Minor units for the beneficiary."
    )
    memo = models.CharField(max_length=140, blank=True)
    reference = models.CharField(max_length=140, blank=True, help_text="Beneficiary reference.")
    status = models.CharField(
        max_length=24, choices=Status.choices, default=Status.INCOMING_PAYMENT_WAITING
    )
    failed_leg = models.CharField(max_length=24, blank=True)
    failure_code = models.CharField(max_length=40, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    delayed = models.BooleanField(default=False, help_text="Held in processing (magic value).")
    travel_rule_key_id = models.CharField(max_length=32)
    travel_rule_sealed = models.BinaryField(help_text="AES-GCM: originator and beneficiary.")
    bitcoin_txid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(help_text="On the sending node's clock.")
    updated_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "incoming_payment_waiting",
                        "processing",
                        "funds_converted",
                        "outgoing_payment_sent",
                        "bounced_back",
                        "funds_refunded",
                    ]
                ),
                name="remittance_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(source_amount__gt=0), name="remittance_amount_positive"
            ),
            models.CheckConstraint(
                condition=~Q(sender_node=models.F("beneficiary_node")),
                name="remittance_two_nodes",
            ),
            # A remittance bounces back exactly when a leg failed.
            models.CheckConstraint(
                condition=Q(status__in=["bounced_back", "funds_refunded"], failed_leg__gt="")
                | (~Q(status__in=["bounced_back", "funds_refunded"]) & Q(failed_leg="")),
                name="remittance_failure_names_leg",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="remit_tenant_recent")]

    def __str__(self) -> str:
        return f"Remittance {self.pk} ({self.status})"


class RemittanceLeg(models.Model):
    """One leg of a remittance: its ledger transaction, recorded in the same database
    transaction as the posting (so a crash leaves both or neither), with its amounts, rate
    and fee; ``reversal`` once a failure unwound it."""

    class Kind(models.TextChoices):
        DEBIT_SENDER = "debit_sender", "Debit the sender"
        BUY_BTC = "buy_btc", "Buy BTC"
        SEND_BTC = "send_btc", "Send BTC"
        SELL_BTC = "sell_btc", "Sell BTC"
        CREDIT_BENEFICIARY = "credit_beneficiary", "Credit the beneficiary"
        RETURN_FEE = "return_fee", "Return fee"

    remittance = models.ForeignKey(Remittance, on_delete=models.CASCADE, related_name="legs")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    position = models.PositiveSmallIntegerField()
    transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, related_name="+"
    )
    reversal = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount_in = models.BigIntegerField()
    currency_in = models.CharField(max_length=3)
    amount_out = models.BigIntegerField()
    currency_out = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    reference_rate = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    spread_bps = models.IntegerField(null=True, blank=True)
    fee = models.BigIntegerField(default=0)
    fee_currency = models.CharField(max_length=3, blank=True)
    quote_id = models.UUIDField(null=True, blank=True)
    bitcoin_txid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["remittance", "kind"], name="remitleg_once_per_kind"),
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "debit_sender",
                        "buy_btc",
                        "send_btc",
                        "sell_btc",
                        "credit_beneficiary",
                        "return_fee",
                    ]
                ),
                name="remitleg_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.remittance_id}"
