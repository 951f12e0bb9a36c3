"""``python manage.py run_scenario FILE``: play a scenario and report; exit 1 if it failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.errors import ApplicationError
from sandbox.tenants.models import Tenant, User
from sandbox.tenants.services import Actor
from wallets.banknet.scenarios import report_text, scenario_run


class Command(BaseCommand):
    help = (
        "Run a bank-network scenario (YAML or JSON) on a fresh test clock and report whether "
        "its expectations held. By default in a new tenant of its own."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The scenario file (.yaml, .yml or .json).")
        parser.add_argument("--tenant", help="Run in this tenant (its id) instead of a new one.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument(
            "--operator",
            metavar="EMAIL",
            help="Run as this staff user, so the scenario's 'banks' may change operator "
            "settings (delay, limit, maintenance, hours) for everyone.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        if options["tenant"]:
            tenant = Tenant.objects.filter(pk=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant with id {options['tenant']}.")
        else:
            tenant = Tenant.objects.create(
                name=f"Scenario {path.stem}"[:120], status=Tenant.Status.ACTIVE
            )
        actor = Actor()
        if options["operator"]:
            user = User.objects.filter(email__iexact=options["operator"], is_staff=True).first()
            if user is None:
                raise CommandError(f"No staff user with email {options['operator']}.")
            actor = Actor(user=user)
        try:
            run = scenario_run(tenant=tenant, actor=actor, source=source)
        except ApplicationError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        if options["json"]:
            self.stdout.write(
                json.dumps({"passed": run.passed, "tenant": str(tenant.pk), **run.report}, indent=2)
            )
        else:
            self.stdout.write(report_text(run))
            self.stdout.write(f"tenant {tenant.pk} · run {run.pk} · its data in {run.sandbox_id}")
        if not run.passed:
            raise CommandError("The scenario's expectations did not all hold.")
