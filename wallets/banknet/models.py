"""The simulated bank network: banks, the bank accounts of simulated people and companies,
account verification, deposits, withdrawals and transfers, card payments, and the tester
controls that make the network misbehave on purpose.

Money only moves through the ledger's services (``wallets.services`` and
``wallets.posting``); these rows record what the network did and why, and link to the
holds and ledger transactions that moved the money.
"""

from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from sandbox.currencies import CurrencyCode
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.scoping import TenantQuerySet
from wallets.models import Account, Hold, LedgerTransaction


class Bank(models.Model):
    """A bank of the network. ``code`` is what clients send (the Korean three-digit code, a
    US routing number, a Japanese Zengin code); ``ledger_code`` names its platform
    settlement account in the ledger. Operators edit hours and maintenance windows."""

    code = models.CharField(max_length=11, primary_key=True)
    ledger_code = models.CharField(max_length=3, unique=True)
    name = models.CharField(max_length=120)
    country = models.CharField(max_length=2)
    currency = models.CharField(max_length=3, choices=CurrencyCode.choices)
    timezone = models.CharField(max_length=64)
    opens_at = models.TimeField(help_text="Local time; equal to closes_at means open all day.")
    closes_at = models.TimeField()
    business_days = models.CharField(
        max_length=7, default="0123456", help_text="Weekdays it works: 0 = Monday … 6 = Sunday."
    )
    maintenance_starts_at = models.TimeField(null=True, blank=True)
    maintenance_ends_at = models.TimeField(null=True, blank=True)
    processing_delay_seconds = models.PositiveIntegerField(default=5)
    daily_withdrawal_limit = models.BigIntegerField(
        help_text="Per account and local day, in minor units of the bank's currency."
    )
    account_number_min_length = models.PositiveSmallIntegerField(default=10)
    account_number_max_length = models.PositiveSmallIntegerField(default=14)
    is_online = models.BooleanField(default=True, help_text="Operators: the bank for everyone.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["country", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(account_number_min_length__lte=models.F("account_number_max_length")),
                name="bank_account_number_lengths",
            ),
            models.CheckConstraint(
                condition=Q(maintenance_starts_at__isnull=True, maintenance_ends_at__isnull=True)
                | Q(maintenance_starts_at__isnull=False, maintenance_ends_at__isnull=False),
                name="bank_maintenance_window_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class BankAccount(models.Model):
    """An account of a simulated person or company at a bank, outside the sandbox's
    ledger. Tenants create the ones their tests need."""

    class HolderType(models.TextChoices):
        PERSON = "person", "Person"
        COMPANY = "company", "Company"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="bank_accounts")
    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="accounts")
    account_number = models.CharField(max_length=20)
    holder_name = models.CharField(max_length=120)
    holder_type = models.CharField(max_length=8, choices=HolderType.choices, default="person")
    currency = models.CharField(max_length=3, choices=CurrencyCode.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "bank", "account_number"], name="bank_account_unique_number"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "closed"]), name="bank_account_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.holder_name} {self.bank_id}-{self.account_number}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class StatementLine(models.Model):
    """A line on a simulated bank account's statement: what its holder would see in their
    bank app (the 1 KRW verification code, payouts received, deposits sent or returned)."""

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    bank_account = models.ForeignKey(BankAccount, on_delete=models.CASCADE, related_name="lines")
    amount = models.BigIntegerField(help_text="Signed: money in > 0, money out < 0.")
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=200)
    reference = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.amount:+d} {self.currency} {self.memo}"


class AccountLink(models.Model):
    """A node links an external account, the Korean way: the bank sends 1 KRW whose memo
    holds a short code, and the account holder types the code back."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the code"
        VERIFIED = "verified", "Verified"
        LOCKED = "locked", "Locked (too many wrong codes)"
        EXPIRED = "expired", "Expired"

    MAX_ATTEMPTS = 5

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="account_links")
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="links")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    code = models.CharField(max_length=8)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    code_expires_at = models.DateTimeField(help_text="Node time.")
    verification_transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "verified", "locked", "expired"]),
                name="account_link_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(failed_attempts__lte=5), name="account_link_attempts_at_most_five"
            ),
            models.UniqueConstraint(
                fields=["node", "bank_account"],
                condition=Q(status__in=["pending", "verified"]),
                name="account_link_one_live_per_account",
            ),
        ]

    def __str__(self) -> str:
        return f"Link of {self.bank_account} to {self.node_id} ({self.status})"


class Deposit(models.Model):
    """Money sent from a simulated bank account to a virtual account number. Announced as
    incoming on the wallet (a credit hold) and credited after the bank's delay, or sent
    back when no open virtual account of that number and currency exists."""

    class Status(models.TextChoices):
        PENDING = "pending", "On its way"
        CREDITED = "credited", "Credited"
        RETURNED = "returned", "Returned to the sender"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    sender = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="deposits")
    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="+")
    account_number = models.CharField(max_length=20)
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    node = models.ForeignKey(
        Node, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    return_reason = models.CharField(max_length=40, blank=True)
    hold = models.OneToOneField(
        Hold, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    due_at = models.DateTimeField(help_text="When the bank credits it (node time).")
    triggered_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="Node time.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="deposit_amount_positive"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "credited", "returned"]),
                name="deposit_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Deposit {self.pk} ({self.status})"


class Withdrawal(models.Model):
    """Money leaving a wallet for a bank account: a *withdrawal* to the node's own verified
    account, or a *transfer* to anyone's. Held at request; posted or released when the
    bank answers; a posted one may later come back (returned)."""

    class Kind(models.TextChoices):
        WITHDRAWAL = "withdrawal", "Withdrawal"
        TRANSFER = "transfer", "Transfer"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the bank"
        SUCCEEDED = "succeeded", "Paid"
        FAILED = "failed", "Failed"
        RETURNED = "returned", "Returned"

    class FailureReason(models.TextChoices):
        INSUFFICIENT_FUNDS = "insufficient_funds", "Insufficient funds"
        ACCOUNT_CLOSED = "account_closed", "Account closed"
        ACCOUNT_NOT_FOUND = "account_not_found", "No such account at the bank"
        HOLDER_NAME_MISMATCH = "holder_name_mismatch", "Holder name does not match"
        BANK_MAINTENANCE = "bank_maintenance", "Bank in maintenance"
        DAILY_LIMIT = "daily_limit_exceeded", "Daily limit exceeded"
        BANK_UNAVAILABLE = "bank_unavailable", "The bank did not answer in time"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="withdrawals")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="+")
    account_number = models.CharField(max_length=20)
    holder_name = models.CharField(max_length=120)
    link = models.ForeignKey(
        AccountLink, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=40, blank=True)
    forced_failure = models.CharField(
        max_length=40, blank=True, help_text="Set by a tester control when it was created."
    )
    hold = models.OneToOneField(Hold, on_delete=models.PROTECT, related_name="+")
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    return_transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    return_reason = models.CharField(max_length=40, blank=True)
    due_at = models.DateTimeField(help_text="When the bank answers (node time).")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="Node time.")
    local_date = models.DateField(
        null=True, blank=True, help_text="The paying bank's local date when paid (daily limit)."
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="withdrawal_amount_positive"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed", "returned"]),
                name="withdrawal_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.status})"


class CardPayment(models.Model):
    """A card payment to a node's account on the simulated card network: authorised
    (incoming money announced with a credit hold), then captured, refunded or cancelled."""

    class Status(models.TextChoices):
        REQUIRES_CHALLENGE = "requires_challenge", "Waiting for the cardholder's challenge"
        AUTHORIZED = "authorized", "Authorised"
        CAPTURED = "captured", "Captured"
        REFUNDED = "refunded", "Refunded"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        DECLINED = "declined", "Declined"
        CANCELED = "canceled", "Cancelled"
        EXPIRED = "expired", "Authorisation expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="card_payments")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    captured_amount = models.BigIntegerField(default=0)
    refunded_amount = models.BigIntegerField(default=0)
    card_brand = models.CharField(max_length=16)
    card_last4 = models.CharField(max_length=4)
    card_outcome = models.CharField(max_length=32, help_text="What the test card does.")
    status = models.CharField(max_length=20, choices=Status.choices)
    decline_code = models.CharField(max_length=40, blank=True)
    description = models.CharField(max_length=200, blank=True)
    hold = models.OneToOneField(
        Hold, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    capture_transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    authorization_expires_at = models.DateTimeField(null=True, blank=True, help_text="Node time.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="card_payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(
                    refunded_amount__gte=0, refunded_amount__lte=models.F("captured_amount")
                ),
                name="card_payment_refund_within_capture",
            ),
        ]

    def __str__(self) -> str:
        return f"Card payment {self.pk} ({self.status})"


class CardRefund(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    payment = models.ForeignKey(CardPayment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Refund {self.pk} of {self.payment_id}"


class WithdrawalRule(models.Model):
    """A tester control: the next ``remaining`` withdrawals of a node fail with ``reason``
    or wait ``delay_seconds`` longer for the bank."""

    class Action(models.TextChoices):
        FAIL = "fail", "Fail"
        DELAY = "delay", "Delay"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=8, choices=Action.choices)
    reason = models.CharField(max_length=40, blank=True)
    delay_seconds = models.PositiveIntegerField(default=0)
    remaining = models.PositiveIntegerField()
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=["fail", "delay"]), name="withdrawal_rule_action_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} next {self.remaining} of {self.node_id}"


class BankOutage(models.Model):
    """A tester control: for this tenant the bank is offline; transfers wait until it is
    back (withdrawals fail as ``bank_unavailable`` after three days)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    bank = models.ForeignKey(Bank, on_delete=models.CASCADE, related_name="+")
    started_by = models.CharField(max_length=200)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "bank"],
                condition=Q(ended_at__isnull=True),
                name="bank_outage_one_open_per_tenant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bank_id} offline for {self.tenant_id}"


class ScenarioRun(models.Model):
    """A scenario file run from the dashboard or ``run_scenario``, with its report."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    source = models.TextField()
    report = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    passed = models.BooleanField(default=False)
    triggered_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The run's own tenant: the nodes, accounts, money, events and clock the scenario made
    # live there, never among ``tenant``'s own test data. Null for runs made before.
    sandbox = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # When the tester removed the run's data (its tenant suspended, its nodes deactivated;
    # the ledger keeps its postings: docs/scenarios/README.md, "Removing a run's data").
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Scenario {self.name} ({'passed' if self.passed else 'failed'})"


class EndOfDay(models.Model):
    """A node's closed day: at midnight of its time zone, on its clock, the day's statement
    is recorded and sent as the ``balance.end_of_day`` event (``endofday.py``).

    ``totals`` keeps, per account, the running sums at the close (credits, debits as a
    negative number, and the count of transactions), so the next day's figures are the
    differences of two running sums and always reconcile with the previous closing balance.
    """

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="end_of_days")
    date = models.DateField(help_text="The node's day that closed, in ``time_zone``.")
    time_zone = models.CharField(max_length=64)
    closed_at = models.DateTimeField(help_text="Node time: the midnight that ended the day.")
    statement = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    totals = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "end of day"
        constraints = [
            models.UniqueConstraint(fields=["node", "date"], name="end_of_day_once_per_node_day"),
        ]

    def __str__(self) -> str:
        return f"End of day {self.date} of {self.node_id}"
