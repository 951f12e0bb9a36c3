"""Typed access to the environment: the only place settings read os.environ.

Every helper fails loudly (ImproperlyConfigured) on a value it cannot parse, so a typo in
a deployment shows at start-up instead of as odd behaviour later. A variable may also be
given as ``NAME_FILE`` pointing at a file that holds the value (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path!r} cannot be read: {exc}") from exc
    return os.environ.get(name)


@overload
def env_str(name: str, default: str) -> str: ...
@overload
def env_str(name: str, default: None = None) -> str | None: ...
def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def env_required(name: str) -> str:
    value = _raw(name)
    if not value:
        raise ImproperlyConfigured(f"The environment variable {name} must be set.")
    return value


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no).")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from exc
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = _raw(name)
    if value is None or value == "":
        return default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}.")
    return value


def env_time_zone(name: str, default: str) -> str:
    """An IANA time zone name (``Asia/Seoul``), checked against the zone database."""
    value = env_str(name) or default
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(f"{name}={value!r} is not a known time zone.") from None
    return value


KEYRING_MIN_LENGTH = 32


def env_keyring(name: str) -> list[str]:
    """A comma-separated list of secret keys, newest first (empty when unset). Each key is
    at least 32 characters (e.g. ``secrets.token_urlsafe(32)``, or a long passphrase), with
    no spaces; no key twice."""
    value = _raw(name)
    if value is None or not value.strip():
        return []
    keys = [item.strip() for item in value.split(",")]
    for position, key in enumerate(keys, start=1):
        if not key:
            raise ImproperlyConfigured(f"{name}: key {position} of the list is empty.")
        if len(key) < KEYRING_MIN_LENGTH or any(ch.isspace() for ch in key):
            raise ImproperlyConfigured(
                f"{name}: key {position} must be at least {KEYRING_MIN_LENGTH} characters "
                "without spaces (generate one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))')."
            )
    if len(set(keys)) != len(keys):
        raise ImproperlyConfigured(f"{name}: the same key is listed twice.")
    return keys


_RATE_PERIODS = {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}


def env_rate(name: str, default: str | None) -> str | None:
    """A rate limit as ``<count>/<period>`` (``20/minute``; period second, minute, hour or
    day, or s, m, h, d), the form DRF's throttles read; ``off`` (or empty) for none."""
    value = _raw(name)
    if value is None:
        return default
    value = value.strip().lower()
    if value in {"", "off"}:
        return None
    count, _, period = value.partition("/")
    if not count.isascii() or not count.isdigit() or int(count) < 1 or period not in _RATE_PERIODS:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate: use <count>/<period> such as 20/minute "
            "(second, minute, hour, day), or off."
        )
    return f"{int(count)}/{period}"
