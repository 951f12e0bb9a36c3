"""The Content-Security-Policy header, built once per process rather than per response.

django-csp's middleware rebuilds the header from ``CONTENT_SECURITY_POLICY`` for every
response (its ~35 directives copied, checked and joined, twice: the enforced policy and the
report-only one): a tenth of an API request's CPU (``bench/request_profile.py --profile``).
Yet a response's header differs from the settings' only when its view changed the policy
(``csp_update`` and friends: the API docs' pages) or the page used a nonce. Every other
response gets the headers built from the settings, kept here until a setting changes (tests
with ``override_settings``); those few go through django-csp as before.
"""

from __future__ import annotations

import functools
import http.client
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponseBase

# What a view's decorators leave on its response to change the policy for that response.
_OVERRIDES = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
_DEBUG_PAGES = (http.client.INTERNAL_SERVER_ERROR, http.client.NOT_FOUND)


@functools.cache
def settings_policies() -> tuple[str, str]:
    """The enforced and the report-only header of the settings ('' for none), as django-csp
    builds them for a response that changes nothing."""
    return build_policy(), build_policy(report_only=True)


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        settings_policies.cache_clear()


setting_changed.connect(_settings_changed, dispatch_uid="sandbox.contentpolicy")


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's ``CSPMiddleware``, with the settings' headers built once (see above)."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in _OVERRIDES
        ):
            return super().process_response(request, response)
        if response.status_code in _DEBUG_PAGES and settings.DEBUG:
            return response  # Django's debug pages, as django-csp leaves them
        enforced, report_only = settings_policies()
        _set(request, response, HEADER, enforced, "_csp_exempt", "CONTENT_SECURITY_POLICY")
        _set(
            request,
            response,
            HEADER_REPORT_ONLY,
            report_only,
            "_csp_exempt_ro",
            "CONTENT_SECURITY_POLICY_REPORT_ONLY",
        )
        # As django-csp does: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response


def _set(
    request: HttpRequest,
    response: HttpResponseBase,
    header: str,
    value: str,
    exempt: str,
    setting: str,
) -> None:
    # django-csp's conditions: a policy, no header yet, not exempted, not an excluded path.
    if not value or header in response or getattr(response, exempt, False) is not False:
        return
    prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
    if not request.path_info.startswith(tuple(prefixes)):
        response[header] = value
