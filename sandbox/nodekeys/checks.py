"""System checks of the node keys (registered in ``NodeKeysConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error


def check_master_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """nodekeys.E001 (deploy): production needs its own keyring for nodes' private keys."""
    if settings.DEBUG or getattr(settings, "NODE_KEYS_MASTER_KEY", None):
        return []
    return [
        Error(
            "NODE_KEYS_MASTER_KEY is not set: nodes' private signing keys are sealed under a key "
            "derived from SECRET_KEY, and rotating SECRET_KEY would make them unreadable.",
            hint="Set NODE_KEYS_MASTER_KEY (or NODE_KEYS_MASTER_KEY_FILE) to a secret of at least "
            "32 characters, newest first in a comma-separated list, and back it up apart from "
            "the database (docs/payments.md, node keys).",
            id="nodekeys.E001",
        )
    ]
