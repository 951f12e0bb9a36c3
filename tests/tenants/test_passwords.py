"""Passwords: production stores them with a strong, slow hasher; the test session swaps in a
fast one (tests/conftest.py), and only the test session."""

from __future__ import annotations

import importlib

from django.conf import global_settings
from django.contrib.auth.hashers import get_hasher, make_password
from django.utils.module_loading import import_string

STRONG = {
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
}


def test_production_hashes_passwords_with_a_strong_slow_hasher():
    production = importlib.import_module("sandbox.settings")
    hashers = getattr(production, "PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS)
    assert hashers[0] in STRONG
    hasher = import_string(hashers[0])()
    if hasattr(hasher, "iterations"):
        assert hasher.iterations >= 600_000  # OWASP's floor for PBKDF2-SHA256
    assert "django.contrib.auth.hashers.MD5PasswordHasher" not in hashers


def test_the_test_session_uses_the_fast_hasher():
    assert get_hasher().algorithm == "md5"
    assert make_password("correct-horse-battery-staple").startswith("md5$")
