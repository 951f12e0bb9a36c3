"""System checks of the clearing app (registered in ``ClearingConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error


def check_master_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """clearing.E001 (deploy): production needs its own keyring for encrypted records."""
    if settings.DEBUG or getattr(settings, "CLEARING_MASTER_KEY", None):
        return []
    return [
        Error(
            "CLEARING_MASTER_KEY is not set: encrypted records' keys are wrapped under a key "
            "derived from SECRET_KEY, and rotating SECRET_KEY would make them unreadable.",
            hint="Set CLEARING_MASTER_KEY (or CLEARING_MASTER_KEY_FILE) to a secret of at least "
            "32 characters, back it up apart from the database, and run "
            "`python manage.py rotate_record_keys` (docs/clearing.md, key management).",
            id="clearing.E001",
        )
    ]
