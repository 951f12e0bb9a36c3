from __future__ import annotations

from django.db import models
from django.utils import timezone


class DrillRun(models.Model):
    """One restore drill (``clearing.recovery.drill``): which backup, whether the restored
    books matched, and how long the restore took (RTO) and how old the newest restored
    transaction was (RPO)."""

    class Status(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField()
    triggered_by = models.CharField(max_length=64)
    backup_name = models.CharField(max_length=255, blank=True)
    backup_created_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices)
    restore_seconds = models.FloatField(null=True, blank=True, help_text="RTO: decrypt + restore.")
    check_seconds = models.FloatField(null=True, blank=True)
    newest_transaction_at = models.DateTimeField(null=True, blank=True)
    rpo_seconds = models.FloatField(
        null=True, blank=True, help_text="RPO: the newest restored transaction's age."
    )
    last_closed_day = models.DateField(null=True, blank=True)
    summary = models.TextField(blank=True)
    problems = models.TextField(blank=True, help_text="One mismatch a line.")

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["passed", "failed"]), name="drillrun_status_known"
            ),
            models.CheckConstraint(
                condition=models.Q(status="failed") | models.Q(problems=""),
                name="drillrun_passed_has_no_problems",
            ),
        ]

    def __str__(self) -> str:
        return f"drill {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def problem_lines(self) -> list[str]:
        return self.problems.splitlines()
