"""The platform's own ``manage.py check --deploy`` checks (registered in
``sandbox.tenants.apps``). Deploy-only: they judge production settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

# Backends that keep messages on this machine: the console and file ones write every
# message, invitation links included, to the log or the disk; locmem keeps them in memory.
LOCAL_EMAIL_BACKENDS = frozenset(
    {
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",
    }
)


@checks.register(checks.Tags.security, deploy=True)
def check_email_backend(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DEBUG or settings.EMAIL_BACKEND not in LOCAL_EMAIL_BACKENDS:
        return []
    return [
        checks.Error(
            f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}, which does not deliver e-mail: "
            "invitation links (join credentials) would end up in the server log, on disk or "
            "nowhere.",
            hint="Set the environment variable EMAIL_BACKEND to a delivering backend, e.g. "
            "EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST, "
            "EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD and EMAIL_USE_TLS.",
            id="sandbox.E001",
        )
    ]
