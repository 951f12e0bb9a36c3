"""Fixtures every folder uses: tenants as parties (alice, an outsider), operators, Celery in
eager mode, a webhook receiver, a broker that is down, a real worker, the migrated banks.
A folder's conftest.py keeps only what is its own."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import override_settings
from rest_framework.test import APIClient

from sandbox.celery import app as celery_app
from sandbox.events.signing import SIGNATURE_HEADER, SignatureVerificationError, verify_signature
from tests.factories import MembershipFactory, OperatorFactory, TenantFactory, api_key_for
from tests.helpers import web_as
from tests.worker import (
    UNREACHABLE_BROKER,
    WorkerProcess,
    broker_url_or_skip,
    new_prefix,
    point_celery_at,
    use_key_prefix,
)
from wallets.banknet.network_banks import seed_banks


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests skip on SQLite for a quick local run, but CI must run them:
    there, a missing PostgreSQL is a failure, never a skip.

    With pytest-xdist (``--dist loadgroup``), the browser tests share one worker (one
    chromium) and each real-worker module stays on one xdist worker (its Celery worker
    may be module-scoped)."""
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.xdist_group("browser"))
        elif "celery_worker" in item.keywords:
            item.add_marker(pytest.mark.xdist_group(f"celery_worker:{item.module.__name__}"))
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


# Abuse limits (sandbox.throttles): the suite sends thousands of requests from 127.0.0.1
# with few keys, so every scope is relaxed here, still counted; tests of the limits
# themselves tighten one with the ``throttle_rates`` fixture (tests/tenants/test_abuse_limits.py).
RELAXED_THROTTLE_RATES = dict.fromkeys(
    ["address", "api_key", "signup", "login", "invitation_accept", "key_failure"],
    "100000/second",
)


@pytest.fixture(scope="session", autouse=True)
def _relaxed_throttles():
    with override_settings(SANDBOX_THROTTLE_RATES=RELAXED_THROTTLE_RATES):
        yield


# --- Parties and operators -------------------------------------------------------------------


class Party:
    """A tenant as seen from a test: its owner, a ready API client with a key, and
    (``web``) a dashboard client logged in as the owner."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.owner = MembershipFactory(tenant=tenant).user
        self.api_key = api_key_for(tenant)
        self.api = APIClient()
        self.api.credentials(HTTP_AUTHORIZATION=f"Bearer {self.api_key}")

    @cached_property
    def web(self) -> Client:
        return web_as(self.owner)


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
def operator_web(operator) -> Client:
    """The operator's console (the dashboard, logged in as staff)."""
    return web_as(operator)


# --- Celery and the broker -------------------------------------------------------------------


@pytest.fixture
def celery_eager():
    """Celery runs tasks in this process, at once (restored afterwards): the app."""
    app = celery_app
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


@pytest.fixture
def broker_down(celery_eager):
    """Celery publishes (not eagerly) to a broker nobody answers; calling the fixture's
    value, ``back_up()``, brings back the broker and eager mode. Restored afterwards."""
    app = celery_eager
    saved = (app.conf.broker_url, app.conf.task_always_eager)
    point_celery_at(app, UNREACHABLE_BROKER, eager=False)

    def back_up():
        point_celery_at(app, saved[0], eager=True)

    yield back_up
    point_celery_at(app, saved[0], eager=saved[1])


@pytest.fixture
def start_worker(tmp_path, celery_eager):
    """``start_worker(beat=False)`` starts a worker on the real broker and points this
    process's Celery there too (not eager); everything is restored afterwards."""
    app = celery_eager
    broker = broker_url_or_skip()
    saved = (app.conf.broker_url, app.conf.task_always_eager)
    prefix = new_prefix()
    use_key_prefix(app, prefix)
    point_celery_at(app, broker, eager=False)
    workers: list[WorkerProcess] = []

    def start(*, beat: bool = False, **options) -> WorkerProcess:
        # options: queues=[...], pool="threads", concurrency=n, env={...} (tests/worker.py)
        worker = WorkerProcess(broker, beat=beat, tmp_path=tmp_path, prefix=prefix, **options)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()
    use_key_prefix(app, None)
    point_celery_at(app, saved[0], eager=saved[1])


# --- Webhooks --------------------------------------------------------------------------------


@pytest.fixture
def webhook_settings(settings):
    """Webhooks may go to 127.0.0.1 (the receiver), not to private networks, and give up
    after 3 s."""
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = True
    settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE = False
    settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS = 3
    return settings


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    verified: bool
    verify_error: str = ""

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook endpoint: answers with the scripted status codes (then ``default``),
    checks each request's signature against ``secrets`` and keeps everything it saw."""

    url: str = ""
    secrets: list[str] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    default: int = 200
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def check(self, body: bytes, header: str) -> tuple[bool, str]:
        errors = []
        for secret in self.secrets:
            try:
                verify_signature(body, header, secret)
                return True, ""
            except SignatureVerificationError as exc:
                errors.append(str(exc))
        return False, "; ".join(errors) or "no secret to check with"

    @property
    def event_ids(self) -> list[str]:
        return [r.json["id"] for r in self.requests]


@pytest.fixture
def receiver():
    """A real HTTP webhook receiver on 127.0.0.1."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            verified, error = state.check(body, self.headers.get(SIGNATURE_HEADER, ""))
            code = state.answer()
            with state.lock:
                state.requests.append(
                    Received(dict(self.headers), body, time.time(), verified, error)
                )
            payload = json.dumps({"received": True, "status": code}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield state
    server.shutdown()
    server.server_close()


# --- The bank network ------------------------------------------------------------------------


@pytest.fixture
def banks(django_db_blocker):
    """The migrated banks, again if a transactional test elsewhere flushed them."""
    with django_db_blocker.unblock():
        seed_banks()
