"""``python manage.py rotate_identity_keys``: re-wrap every data key under the primary KEK."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.identities import rotation
from sandbox.identities.models import KeyRotationJob


class Command(BaseCommand):
    help = (
        "Re-wrap every person's and node identity's data key (and the tenants' blind-index "
        "keys) under the first key of IDENTITIES_MASTER_KEY, in batches. Resumes the open "
        "job if there is one (a killed rotation), else starts a new one. Run it after putting "
        "a new key first; remove the old key only once it completed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument(
            "--status", action="store_true", help="Show the keys left to re-wrap and stop."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["status"]:
            job = KeyRotationJob.objects.order_by("-created_at").first()
            self.stdout.write(f"{rotation.rotation_pending()} key(s) to re-wrap.")
            if job is not None:
                self.stdout.write(
                    f"Last job {job.pk}: {job.status}, {job.processed}/{job.total} ({job.phase})."
                )
            return
        job = rotation.open_job()
        if job is None:
            job = rotation.rotation_start(
                requested_by="command:rotate_identity_keys", batch_size=options["batch_size"]
            )
            self.stdout.write(f"Started key rotation {job.pk}: {job.total} key(s).")
        else:
            self.stdout.write(
                f"Resuming key rotation {job.pk} at {job.processed}/{job.total} ({job.phase})."
            )
        job = rotation.rotation_run(
            job.pk,
            take_over=True,
            progress=lambda j: self.stdout.write(f"  {j.processed}/{j.total} ({j.phase})"),
        )
        if job.status != KeyRotationJob.Status.COMPLETED:
            raise CommandError(f"Key rotation {job.pk} {job.status}: {job.last_error}")
        self.stdout.write(
            self.style.SUCCESS(f"Key rotation {job.pk} completed: {job.processed} key(s).")
        )
