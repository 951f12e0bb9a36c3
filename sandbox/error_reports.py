"""Error reports (Django's debug page, an admin's error mail) without the credentials in
connection URLs.

Django hides settings and request headers whose *name* looks secret (KEY, TOKEN,
PASS...), but ``DATABASE_URL``, ``REDIS_URL`` and ``CELERY_BROKER_URL`` carry their
password inside the value. Web servers that copy the process environment into every
request's environ (granian, as Django's runserver does) would put them in
``request.META``, and from there into a report. Any value that is a URL with a user part
(``scheme://user:password@host``) is hidden wherever it appears.
"""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

_URL_WITH_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]+@", re.IGNORECASE)


class CredentialHidingFilter(SafeExceptionReporterFilter):
    def cleanse_setting(self, key: Any, value: Any) -> Any:
        if isinstance(value, str) and _URL_WITH_CREDENTIALS.match(value):
            return self.cleansed_substitute
        return super().cleanse_setting(key, value)
