"""Remittance: the platform's bitcoin keys and coins (this module), and remittances."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from sandbox.tenants.models import Node


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
