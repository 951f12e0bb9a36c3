"""System checks of the identities (registered in ``IdentitiesConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error


def check_master_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """identities.E001 (deploy): production needs its own keyring for personal data."""
    if settings.DEBUG or getattr(settings, "IDENTITIES_MASTER_KEY", None):
        return []
    return [
        Error(
            "IDENTITIES_MASTER_KEY is not set: people's data keys are wrapped under a key "
            "derived from SECRET_KEY, and rotating SECRET_KEY would make their personal data "
            "unreadable.",
            hint="Set IDENTITIES_MASTER_KEY (or IDENTITIES_MASTER_KEY_FILE) to a secret of at "
            "least 32 characters, newest first in a comma-separated list, back it up apart "
            "from the database, and re-wrap with `manage.py rotate_identity_keys` after adding "
            "a key (docs/identities.md, personal data at rest).",
            id="identities.E001",
        )
    ]
