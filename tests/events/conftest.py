"""Fixtures for events, webhooks and clocks: a real HTTP receiver on 127.0.0.1 and Celery
in eager mode (tasks run in the test's process unless a test points Celery elsewhere)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandbox.events.signing import SIGNATURE_HEADER, SignatureVerificationError, verify_signature


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


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = True
    settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE = False
    settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS = 3


@pytest.fixture(autouse=True)
def _eager_celery(celery_eager):
    """Every test here runs Celery tasks in-process (``celery_eager``, tests/conftest.py)."""
    yield celery_eager
