"""Clearing: the anchor chain (and, built on it, daily closes and settlement)."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from sandbox.currencies import CurrencyCode
from sandbox.tenants.models import Node
from sandbox.tenants.scoping import TenantQuerySet


class AnchorBlock(models.Model):
    """One block of the embedded anchor chain, in Bitcoin's own serialization.

    ``raw`` is the whole block exactly as Bitcoin Core would store or relay it; every other
    column is derived from it and kept for queries only (``clearing.chain`` rechecks them).
    Height 0 is Bitcoin's regtest genesis block, so the chain is a regtest chain from its
    first block. Rows are append-only: on PostgreSQL and SQLite a trigger refuses UPDATE
    and DELETE (migration 0002).
    """

    class Kind(models.TextChoices):
        GENESIS = "genesis", "Genesis"
        DAY = "day", "Daily close"
        TRANSACTION = "transaction", "Large inter-node transaction"
        CLOCK = "clock", "Test clock close"

    height = models.PositiveIntegerField(unique=True)
    block_hash = models.CharField(
        max_length=64, unique=True, help_text="Hex, as explorers show it."
    )
    # The previous block, by hash: a foreign key to ``block_hash`` makes every link point at a
    # stored block, and its uniqueness makes forks impossible.
    prev = models.OneToOneField(
        "self",
        to_field="block_hash",
        db_column="prev_hash",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="next_block",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    label = models.CharField(max_length=38, help_text="The day (YYYY-MM-DD) or what was anchored.")
    root = models.CharField(max_length=64, blank=True, help_text="Hex of the anchored root.")
    leaf_count = models.PositiveBigIntegerField(default=0)
    txid = models.CharField(
        max_length=64, help_text="The anchoring transaction (hex, display order)."
    )
    block_time = models.DateTimeField(help_text="The header's timestamp.")
    raw = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["height"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(height=0, prev__isnull=True, kind="genesis"))
                | (Q(height__gt=0, prev__isnull=False) & ~Q(kind="genesis")),
                name="anchorblock_only_genesis_has_no_parent",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["genesis", "day", "transaction", "clock"]),
                name="anchorblock_kind_valid",
            ),
            # One anchor per day (or per anchored transaction), whoever triggers it.
            models.UniqueConstraint(fields=["kind", "label"], name="anchorblock_one_per_label"),
        ]

    def __str__(self) -> str:
        return f"#{self.height} {self.kind} {self.label}"


# A running job reports progress at least this often; a quieter one is shown as stalled.
STALLED_AFTER = timedelta(minutes=2)


class Job(models.Model):
    """One run of a clearing job (a close, an anchoring, a settlement, a verification), as
    the dashboard shows it: queued, running with progress, done or failed, and its history.

    Every trigger makes a row, so duplicate triggers are visible; only one of them does the
    work (the others finish with a note saying who did)."""

    class Kind(models.TextChoices):
        CLOSE = "close", "Daily close"
        ANCHOR = "anchor", "Large transaction anchoring"
        SETTLEMENT = "settlement", "Settlement"
        VERIFY = "verify", "Anchor verification"
        CLOCK_CLOSE = "clock_close", "Test clock close"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    label = models.CharField(max_length=64, help_text="What the job works on, e.g. the day.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    triggered_by = models.CharField(max_length=200, blank=True)
    # Set for a tenant's own work (a test clock close): only that tenant and operators see
    # the job; platform jobs (no tenant) are shown to every tenant.
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    retry_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries"
    )
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(null=True, blank=True)
    count = models.PositiveBigIntegerField(null=True, blank=True, help_text="Transactions.")
    root = models.CharField(max_length=64, blank=True)
    block_height = models.PositiveIntegerField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="clearing_job_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["kind", "label"], name="clearing_job_kind_label")]

    def __str__(self) -> str:
        return f"{self.kind} {self.label} ({self.status})"

    @property
    def progress_unit(self) -> str:
        """What ``progress_*`` counts: a check goes day by day, a settlement window by window."""
        units: dict[str, str] = {self.Kind.VERIFY: "days", self.Kind.SETTLEMENT: "windows"}
        return units.get(self.kind, "transactions")

    @property
    def count_unit(self) -> str:
        """What ``count`` counts: a check reports the transactions it recomputed."""
        return "windows" if self.kind == self.Kind.SETTLEMENT else "transactions"

    @property
    def stalled(self) -> bool:
        """Running, but silent for longer than ``STALLED_AFTER``: its worker may be gone."""
        return (
            self.status == self.Status.RUNNING
            and self.heartbeat_at is not None
            and timezone.now() - self.heartbeat_at > STALLED_AFTER
        )

    @property
    def percent(self) -> int | None:
        """How far it is, when it knows its total."""
        if not self.progress_total:
            return None
        return int(100 * self.progress_done / self.progress_total)

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class DayClose(models.Model):
    """The close of one day (in ``CLEARING_TIME_ZONE``): exactly one row per day.

    Claimed with a conditional UPDATE (status and lease), so concurrent triggers cannot
    both work on it; a lease that runs out (a killed worker) lets the next trigger resume.
    Closed days form the close log: ``sequence`` 0, 1, 2, … in day order, and
    ``log_root`` is the RFC 9162 root of the log's first ``sequence + 1`` heads
    (``clearing.closelog.close_log_leaf``).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        CLOSED = "closed", "Closed"
        FAILED = "failed", "Failed"

    day = models.DateField(unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    leaf_count = models.PositiveBigIntegerField(default=0)
    root = models.CharField(max_length=64, blank=True)
    levels = models.PositiveSmallIntegerField(default=0)
    sequence = models.PositiveIntegerField(null=True, blank=True, unique=True)
    log_root = models.CharField(max_length=64, blank=True)
    anchor = models.OneToOneField(
        AnchorBlock, on_delete=models.PROTECT, null=True, blank=True, related_name="day_close"
    )
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "closed", "failed"]),
                name="dayclose_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="closed")
                | Q(anchor__isnull=False, sequence__isnull=False) & ~Q(root="") & ~Q(log_root=""),
                name="dayclose_closed_is_anchored",
            ),
        ]

    def __str__(self) -> str:
        return f"Close of {self.day} ({self.status})"

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.CLOSED


class TreeChunk(models.Model):
    """A slice of a closed day's Merkle tree, so proofs never rebuild it.

    ``level`` 0 holds the leaf hashes, the last level the root; level -1 holds the
    transaction ids in leaf order (8 bytes each, big-endian) to find a transaction's leaf
    index. Each chunk holds up to ``clearing.storage.CHUNK`` nodes."""

    close = models.ForeignKey(DayClose, on_delete=models.CASCADE, related_name="chunks")
    level = models.SmallIntegerField()
    index = models.PositiveIntegerField()
    first_id = models.BigIntegerField(null=True, blank=True, help_text="Level -1: first id.")
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["close", "level", "index"], name="treechunk_unique"),
        ]
        indexes = [
            models.Index(fields=["close", "level", "first_id"], name="treechunk_id_lookup"),
        ]

    def __str__(self) -> str:
        return f"{self.close_id}/{self.level}/{self.index}"


class ClockClose(models.Model):
    """The close of a test clock's day: the tenant's own simulated day, not the platform's.

    Its transactions are those of the clock's nodes that no earlier close of the clock
    holds (``ClockCloseTransaction``), chosen once, when the row is created; their tree's
    root is anchored in a block of kind ``clock``. ``day`` is the clock's day (in the
    clearing time zone) that was ending when the clock crossed midnight. ``pending`` until
    anchored; a pending close is finished by the next call for it, with the same root
    (``clearing.clock_closing``). The clock may be deleted: the anchored history stays.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CLOSED = "closed", "Closed"

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.PROTECT, related_name="clock_closes"
    )
    clock = models.ForeignKey(
        "events.TestClock",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="closes",
    )
    day = models.DateField(help_text="The clock's day, in the clearing time zone.")
    sequence = models.PositiveIntegerField(help_text="0, 1, 2, … per clock.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    leaf_count = models.PositiveIntegerField(default=0)
    root = models.CharField(max_length=64, blank=True, help_text="Hex of the tree's root.")
    anchor = models.OneToOneField(
        AnchorBlock, on_delete=models.PROTECT, null=True, blank=True, related_name="clock_close"
    )
    node_ids = models.JSONField(
        default=list, blank=True, help_text="The clock's nodes when it closed (sorted UUIDs)."
    )
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-day", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["clock", "day"], name="clockclose_one_per_day"),
            models.UniqueConstraint(fields=["clock", "sequence"], name="clockclose_sequence"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "closed"]), name="clockclose_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="closed") | Q(anchor__isnull=False) & ~Q(root=""),
                name="clockclose_closed_is_anchored",
            ),
        ]

    def __str__(self) -> str:
        return f"Test clock close {self.day} #{self.sequence} ({self.status})"

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.CLOSED

    @property
    def anchor_label(self) -> str:
        """The label of its block: fixed once the row exists, at most 38 ASCII bytes."""
        return f"{self.day.isoformat()}/{self.pk}"


class ClockCloseTransactionQuerySet(TenantQuerySet["ClockCloseTransaction"]):
    """A close's members belong to the close's tenant."""

    tenant_path = "close__tenant"


class ClockCloseTransaction(models.Model):
    """A ledger transaction in a test clock close, at ``position`` among its leaves.

    ``leaf_hash`` is what the transaction hashed to when it joined the close, so that
    ``verify_anchors`` can name a member that changed since. ``clock`` repeats the close's
    clock so the database itself keeps a transaction out of two closes of one clock."""

    close = models.ForeignKey(ClockClose, on_delete=models.CASCADE, related_name="members")
    clock = models.ForeignKey(
        "events.TestClock", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    transaction = models.ForeignKey(
        "wallets.LedgerTransaction", on_delete=models.PROTECT, related_name="clock_closes"
    )
    position = models.PositiveIntegerField()
    leaf_hash = models.CharField(max_length=64, help_text="SHA-256(0x00 || leaf), hex.")

    objects = ClockCloseTransactionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clock", "transaction"], name="clockclosetransaction_once_per_clock"
            ),
            models.UniqueConstraint(
                fields=["close", "position"], name="clockclosetransaction_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_id} at {self.position} of close {self.close_id}"


class AnchorThreshold(models.Model):
    """Operators' threshold per currency: an inter-node transaction of at least
    ``min_amount`` (minor units) is anchored within a minute, not only at day's end."""

    currency = models.CharField(max_length=3, unique=True, choices=CurrencyCode.choices)
    min_amount = models.BigIntegerField(help_text="Minor units (won, cents, yen, satoshi).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(min_amount__gt=0), name="anchorthreshold_positive"),
            models.CheckConstraint(
                condition=Q(currency__in=CurrencyCode.values), name="anchorthreshold_currency"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.currency} ≥ {self.min_amount}"


class RecordKey(models.Model):
    """A node's key (or, ``operators`` set, the operators') for reading encrypted anchored
    records, stored wrapped under a key of the clearing keyring (``clearing.keys``)."""

    node = models.OneToOneField(
        Node, on_delete=models.CASCADE, related_name="record_key", null=True, blank=True
    )
    operators = models.BooleanField(default=False)
    key_id = models.CharField(
        max_length=32, default="legacy", help_text="The keyring key it is wrapped under."
    )
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["operators"],
                condition=models.Q(operators=True),
                name="one_operators_record_key",
            ),
            models.CheckConstraint(
                condition=models.Q(operators=True, node__isnull=True)
                | models.Q(operators=False, node__isnull=False),
                name="record_key_node_or_operators",
            ),
        ]

    def __str__(self) -> str:
        return f"Record key of {self.node_id}"


class AnchoredRecord(models.Model):
    """A large inter-node transaction, encrypted for its nodes and the operators, whose
    envelope's SHA-256 is anchored in its own block."""

    transaction = models.OneToOneField(
        "wallets.LedgerTransaction", on_delete=models.PROTECT, related_name="anchored_record"
    )
    envelope = models.BinaryField()
    digest = models.CharField(max_length=64, help_text="SHA-256 of the envelope (hex).")
    nodes = models.ManyToManyField(Node, related_name="anchored_records")
    anchor = models.OneToOneField(
        AnchorBlock, on_delete=models.PROTECT, null=True, blank=True, related_name="record"
    )
    created_at = models.DateTimeField(default=timezone.now)
    anchored_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Anchored record of {self.transaction_id}"


class AnchorCursor(models.Model):
    """Where the large-transaction scan stopped: a single row (id=1)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_transaction_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="anchorcursor_singleton")]

    def __str__(self) -> str:
        return f"Scanned through {self.last_transaction_id}"


class SettlementCycle(models.TextChoices):
    DAILY = "daily", "Daily (the day after)"
    T_PLUS_1 = "t_plus_1", "T+1 (the second day after)"
    WEEKLY = "weekly", "Weekly (the Monday after)"


class SettlementContract(models.Model):
    """A node's settlement terms: its cycle. Nodes without one settle daily."""

    node = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="settlement_contract")
    cycle = models.CharField(
        max_length=10, choices=SettlementCycle.choices, default=SettlementCycle.DAILY
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(cycle__in=SettlementCycle.values), name="settlementcontract_cycle"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.node_id}: {self.cycle}"


class NetDebitCap(models.Model):
    """Mojaloop's net debit cap: how far a node's unsettled inter-node position in a
    currency may go into debit. A transfer that would breach it is refused."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="net_debit_caps")
    currency = models.CharField(max_length=3, choices=CurrencyCode.choices)
    amount = models.BigIntegerField(help_text="Minor units.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "currency"], name="netdebitcap_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="netdebitcap_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} {self.currency} cap {self.amount}"


class SettlementWindow(models.Model):
    """The inter-node transactions of some closed days, for the nodes on one cycle.

    OPEN while a covered day is open; CLOSED once every covered day has closed; SETTLED
    when its settlement is posted (or ABORTED by operators). Only a CLOSED window can be
    settled, under a row lock, in the same database transaction as its entries: never
    twice."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"
        SETTLED = "settled", "Settled"
        ABORTED = "aborted", "Aborted"

    cycle = models.CharField(max_length=10, choices=SettlementCycle.choices)
    start_day = models.DateField()
    end_day = models.DateField()
    settle_on = models.DateField(help_text="The first day the window may settle.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    transactions = models.PositiveIntegerField(default=0)
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-end_day", "cycle"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "start_day"], name="settlementwindow_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["open", "closed", "settled", "aborted"]),
                name="settlementwindow_status",
            ),
            models.CheckConstraint(
                condition=Q(end_day__gte=F("start_day"), settle_on__gt=F("end_day")),
                name="settlementwindow_days",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cycle} {self.start_day}..{self.end_day} ({self.status})"


class SettlementPosition(models.Model):
    """A node's positions in a settled window, per currency (minor units)."""

    window = models.ForeignKey(SettlementWindow, on_delete=models.PROTECT, related_name="positions")
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    gross_paid = models.BigIntegerField()
    gross_received = models.BigIntegerField()
    net = models.BigIntegerField(help_text="received - paid; positive: the node is owed.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["window", "node", "currency"], name="settlementposition_unique"
            ),
            models.CheckConstraint(
                condition=Q(net=F("gross_received") - F("gross_paid")),
                name="settlementposition_net",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} {self.currency} {self.net:+d}"


class SettlementInstruction(models.Model):
    """Who pays whom, how much, through which bank; and the ledger transaction that
    records it. Every node settles its net position with the clearing hub (a central
    counterparty, as in Mojaloop), through the bank that holds its account."""

    class Direction(models.TextChoices):
        PAY = "pay", "Node pays the hub"
        RECEIVE = "receive", "Hub pays the node"

    window = models.ForeignKey(
        SettlementWindow, on_delete=models.PROTECT, related_name="instructions"
    )
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    amount = models.BigIntegerField()
    bank_code = models.CharField(max_length=3)
    transaction = models.OneToOneField(
        "wallets.LedgerTransaction", on_delete=models.PROTECT, related_name="settlement"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["window", "node", "currency"], name="settlementinstruction_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="settlementinstruction_amount"),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} {self.direction} {self.amount} {self.currency}"


class MempoolTransaction(models.Model):
    """A signed Bitcoin transaction for the embedded chain: waiting in the mempool until the
    next block is built (``block`` empty), then mined at ``position`` in that block.

    ``raw`` is the transaction as Bitcoin serializes it; the txid is derived from it. The next
    block takes every waiting transaction, in ``id`` order (a transaction may spend an output
    of one added before it)."""

    txid = models.CharField(max_length=64, unique=True, help_text="Hex, display order.")
    raw = models.BinaryField()
    added_at = models.DateTimeField(default=timezone.now)
    block = models.ForeignKey(
        AnchorBlock,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="mempool_transactions",
    )
    position = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(block__isnull=True, position__isnull=True)
                | Q(block__isnull=False, position__gt=0),
                name="mempooltx_mined_at_a_position",
            ),
            models.UniqueConstraint(
                fields=["block", "position"], name="mempooltx_one_per_position"
            ),
        ]

    def __str__(self) -> str:
        return self.txid
