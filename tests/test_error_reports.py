"""Error reports hide URLs with credentials, in the request's environ as in the settings."""

from __future__ import annotations

from django.test import RequestFactory, override_settings
from django.views.debug import get_exception_reporter_filter

SECRET_URL = "postgres://sandbox:s3cret@db.internal:5432/sandbox"


def test_a_url_with_a_password_in_the_request_environ_is_hidden():
    # As granian (and runserver) hand the process environment to every request.
    request = RequestFactory().get("/", DATABASE_URL=SECRET_URL, HOME_PAGE="https://example.com/")

    meta = get_exception_reporter_filter(request).get_safe_request_meta(request)

    assert "s3cret" not in meta["DATABASE_URL"]
    assert meta["HOME_PAGE"] == "https://example.com/"  # a URL without a user part stays


@override_settings(
    BROKER_LIKE_URL="redis://:hunter2@cache:6379/0", PLAIN_URL="redis://cache:6379/0"
)
def test_a_setting_whose_url_carries_a_password_is_hidden():
    settings = get_exception_reporter_filter(None).get_safe_settings()

    assert "hunter2" not in settings["BROKER_LIKE_URL"]
    assert settings["PLAIN_URL"] == "redis://cache:6379/0"
