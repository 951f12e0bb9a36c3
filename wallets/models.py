"""Wallets, virtual accounts and the double-entry ledger.

Amounts are integers of minor units (``sandbox.currencies``). Balances are stored on the
account row and only ever changed by ``wallets.posting`` (the one posting primitive), in
the same database transaction as the entries that explain them; ``verify_ledger`` checks
that they still agree. On PostgreSQL the database refuses what Python must never do
(migration 0002): unbalanced transactions, edits or deletes of ledger rows.
"""

from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q

from sandbox.currencies import CurrencyCode
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.scoping import TenantQuerySet


class Wallet(models.Model):
    """A node's wallet: created with the node, in the same database transaction."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="wallets")
    node = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="wallet")
    created_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Wallet of {self.node_id}"


class Account(models.Model):
    """A ledger account: a virtual account in a wallet, or a platform-owned account.

    ``available = posted - held``. Incoming money not yet posted sits in ``pending``.
    ``lock_version`` counts the entries and holds that changed the account, so a client can
    post "only if nothing moved since I looked" (Modern Treasury's lock_version).
    """

    class Kind(models.TextChoices):
        CUSTOMER = "customer", "Virtual account"
        PLATFORM = "platform", "Platform account"

    class Purpose(models.TextChoices):
        """What a platform account is for. Platform accounts may go negative: they are the
        other side of money entering or leaving the sandbox, so every currency sums to 0."""

        NONE = "", "—"
        SETTLEMENT = "settlement", "Bank settlement"
        FEES = "fees", "Fees"
        FX = "fx", "FX position"
        SUSPENSE = "suspense", "Suspense"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="ledger_accounts"
    )
    wallet = models.ForeignKey(
        Wallet, on_delete=models.CASCADE, null=True, blank=True, related_name="accounts"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CUSTOMER)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, blank=True, default="")
    currency = models.CharField(max_length=3, choices=CurrencyCode.choices)
    name = models.CharField(max_length=120)
    customer_reference = models.CharField(
        max_length=120, blank=True, help_text="The tenant's own id for the end customer."
    )
    bank_code = models.CharField(max_length=3)
    account_number = models.CharField(max_length=20)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    allow_overdraft = models.BooleanField(default=False)
    posted_balance = models.BigIntegerField(default=0)
    pending_balance = models.BigIntegerField(default=0, help_text="Incoming, not yet posted.")
    held_balance = models.BigIntegerField(default=0, help_text="Outgoing holds not yet settled.")
    lock_version = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bank_code", "account_number"], name="account_number_unique"
            ),
            models.UniqueConstraint(
                fields=["purpose", "bank_code", "currency"],
                condition=Q(kind="platform"),
                name="platform_account_unique",
            ),
            models.CheckConstraint(
                condition=Q(allow_overdraft=True) | Q(posted_balance__gte=F("held_balance")),
                name="account_available_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(held_balance__gte=0), name="account_held_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(pending_balance__gte=0), name="account_pending_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(currency__in=CurrencyCode.values), name="account_currency_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "closed"]), name="account_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind="customer", wallet__isnull=False, tenant__isnull=False, purpose="")
                | Q(kind="platform", wallet__isnull=True, tenant__isnull=True, allow_overdraft=True)
                & ~Q(purpose=""),
                name="account_kind_consistent",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "created_at"], name="account_tenant_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency} {self.bank_code}-{self.account_number})"

    @property
    def available_balance(self) -> int:
        return self.posted_balance - self.held_balance

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def is_platform(self) -> bool:
        return self.kind == self.Kind.PLATFORM


class LedgerTransaction(models.Model):
    """An append-only ledger transaction. Its ``id`` is the ledger order (clearing builds
    its Merkle tree in that order); clients see the ``uuid``."""

    class Kind(models.TextChoices):
        # Not enforced as field choices: other modules add kinds without a migration.
        TRANSFER = "transfer", "Transfer"
        HOLD_CAPTURE = "hold_capture", "Hold capture"
        REVERSAL = "reversal", "Reversal"
        DEPOSIT = "deposit", "Deposit"
        WITHDRAWAL = "withdrawal", "Withdrawal"
        ADJUSTMENT = "adjustment", "Adjustment"

    id = models.BigAutoField(primary_key=True)
    uuid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    # The foreign keys of the ledger's rows are checked by a statement-level trigger, once
    # per INSERT, not by one check per row (migration 0010); ledgertxn_tenant_recent serves
    # the lookups by tenant.
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_transactions",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=32)
    memo = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    amount = models.BigIntegerField(help_text="Gross: the sum of the credits in `currency`.")
    currency = models.CharField(max_length=3)
    # At most one reversal per transaction: ledgertxn_reversed_once, a unique index of the
    # reversals alone (almost every transaction reverses nothing, and a one-to-one field's
    # unique index would hold an entry for each of their NULLs). It also serves the
    # look-ups of a transaction's reversal (``filter(reverses=...)``).
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversal",
        db_index=False,
    )
    is_inter_node = models.BooleanField(default=False)
    posted_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-posted_at", "-id"], name="ledgertxn_tenant_recent"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["reverses"],
                condition=models.Q(reverses__isnull=False),
                name="ledgertxn_reversed_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.uuid}"


class Entry(models.Model):
    """One leg of a transaction: a signed, non-zero amount on one account (credit > 0)."""

    id = models.BigAutoField(primary_key=True)
    # Checked once per INSERT by a statement-level trigger (migration 0010), not per row;
    # entry_account_recent serves the lookups by account.
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries", db_constraint=False
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
        db_constraint=False,
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    posted_at = models.DateTimeField(help_text="The transaction's, copied for account history.")

    class Meta:
        verbose_name_plural = "entries"
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="entry_amount_not_zero")]
        indexes = [
            models.Index(
                fields=["account", "-posted_at", "-transaction"], name="entry_account_recent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount:+d} {self.currency} on {self.account_id}"


class AccountDay(models.Model):
    """What a virtual account's entries add up to on one day (cut in ``TIME_ZONE``), for
    the charts: kept by PostgreSQL itself (migration 0011, ``wallets.account_days``), so
    a chart reads a row per account and day instead of the entries.

    Rows are only ever inserted by the ledger: each INSERT of entries adds one row per
    account, day and currency it touched, and a chart draw later folds the rows of a key
    into one (``account_days.compact``). A row is never updated in place, so posting takes
    no lock here that could wait for, or deadlock with, another posting: the accounts stay
    the only rows a posting locks (``wallets.locking``). The key's last part, the lowest
    entry among those the row adds up, keeps the rows of one key apart: an entry is
    inserted by one statement only.

    ``net`` is the sum of the entries (the change of the balance) in the account's
    currency. The ``*_moved`` and ``*_transactions`` columns count each ledger
    transaction once, in its own currency (``currency``): once per node, on the node's
    first entry in that transaction, and once per tenant, on its first entry of all."""

    pk = models.CompositePrimaryKey("account_id", "day", "currency", "first_entry_id")
    # No constraint and no index of its own: the entries' trigger has checked the account,
    # and the primary key leads with it.
    account = models.ForeignKey(
        Account,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    day = models.DateField()
    currency = models.CharField(max_length=3)
    first_entry_id = models.BigIntegerField()
    net = models.BigIntegerField(default=0)
    node_moved = models.BigIntegerField(default=0)
    node_transactions = models.BigIntegerField(default=0)
    tenant_moved = models.BigIntegerField(default=0)
    tenant_transactions = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.account_id} on {self.day}: {self.net:+d} {self.currency}"


class Hold(models.Model):
    """Money reserved but not yet moved.

    A *debit* hold reserves outgoing money on ``account`` (its held balance; card
    authorisations): capturing it pays ``counterparty``. A *credit* hold announces incoming
    money (its pending balance; a deposit on its way): capturing it takes the money from
    ``counterparty``. A capture may be partial; what is not captured is released.
    """

    class Direction(models.TextChoices):
        DEBIT = "debit", "Outgoing"
        CREDIT = "credit", "Incoming"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CAPTURED = "captured", "Captured"
        VOIDED = "voided", "Voided"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="holds"
    )
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds")
    counterparty = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.DEBIT)
    amount = models.BigIntegerField()
    captured_amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    memo = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    capture_transaction = models.OneToOneField(
        LedgerTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="captured_hold",
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(
                condition=Q(captured_amount__gte=0, captured_amount__lte=F("amount")),
                name="hold_captured_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "captured", "voided", "expired"]),
                name="hold_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="pending"), name="hold_pending_expiry"
            ),
            models.Index(fields=["tenant", "-created_at"], name="hold_tenant_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} hold {self.id} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


class IdempotencyKey(models.Model):
    """A money-moving request, remembered per tenant and key with the answer it got.

    Written in the same database transaction as the money movement (``sandbox.api.
    idempotency``), so neither exists without the other.
    """

    id = models.BigAutoField(primary_key=True)
    # No index of its own: idempotency_key_unique leads with it.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="idempotency_key_unique"),
        ]
        # The nightly purge finds expired keys by age.
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_age")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"
