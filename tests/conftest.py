from __future__ import annotations

import os

import pytest
from django.test.utils import override_settings
from rest_framework.test import APIClient

from tests.factories import MembershipFactory, OperatorFactory, TenantFactory, api_key_for


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests skip on SQLite for a quick local run, but CI must run them:
    there, a missing PostgreSQL is a failure, never a skip."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("CI must run against PostgreSQL: set DATABASE_URL=postgres://...")
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


# Production hashes passwords with PBKDF2 (a million rounds, ~0.3 s of CPU each); every
# fixture user would pay that. Tests use a fast hasher instead:
# tests/tenants/test_passwords.py checks that production's hasher stays a strong one.
FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher():
    with override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS):
        yield


class Party:
    """A tenant as seen from a test: its owner and a ready API client with a key."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.owner = MembershipFactory(tenant=tenant).user
        self.api_key = api_key_for(tenant)
        self.api = APIClient()
        self.api.credentials(HTTP_AUTHORIZATION=f"Bearer {self.api_key}")


@pytest.fixture
def alice(db) -> Party:
    return Party(TenantFactory(name="Alice Pay"))


@pytest.fixture
def outsider(db) -> Party:
    """Another tenant: every endpoint must answer it 404 for alice's objects."""
    return Party(TenantFactory(name="Mallory Ltd"))


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def operator(db):
    return OperatorFactory()


@pytest.fixture
def operator_api(operator) -> APIClient:
    client = APIClient()
    client.force_login(operator)
    return client


@pytest.fixture
def celery_eager():
    """Celery runs tasks in this process, at once (restored afterwards): the app."""
    from sandbox.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous
