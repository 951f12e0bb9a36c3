"""Rotate the platform's credential-signing key: a new ES256 key signs from now on, and the
retired one stays in /jwks/issuer.json, so credentials it signed keep verifying."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sandbox.identities.credentials import keys


class Command(BaseCommand):
    help = "Retire the active credential issuer key and make a new one (both stay published)."

    def handle(self, *args: Any, **options: Any) -> None:
        key = keys.issuer_key_rotate()
        self.stdout.write(f"New active issuer key {key.kid}; the old one is retired.")
