"""In production, e-mail (invitation links are join credentials) never goes to the log:
``check --deploy`` fails on a backend that does not deliver, and the default is not one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks

BASE_DIR = Path(__file__).resolve().parents[2]
CONSOLE = "django.core.mail.backends.console.EmailBackend"
SMTP = "django.core.mail.backends.smtp.EmailBackend"


def _sandbox_ids(*, deploy: bool) -> list[str]:
    messages = checks.run_checks(include_deployment_checks=deploy, tags=[checks.Tags.security])
    return [message.id for message in messages if message.id.startswith("sandbox.")]


@pytest.mark.parametrize(
    "backend",
    [
        CONSOLE,
        "django.core.mail.backends.filebased.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",
    ],
)
def test_the_deploy_check_refuses_a_backend_that_does_not_deliver(settings, backend):
    settings.DEBUG = False
    settings.EMAIL_BACKEND = backend
    messages = [
        m for m in checks.run_checks(include_deployment_checks=True) if m.id == "sandbox.E001"
    ]
    assert len(messages) == 1
    assert messages[0].level == checks.ERROR
    assert "EMAIL_BACKEND" in messages[0].msg and backend in messages[0].msg
    assert "EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend" in messages[0].hint


def test_the_deploy_check_passes_a_delivering_backend(settings):
    settings.DEBUG = False
    settings.EMAIL_BACKEND = SMTP
    assert _sandbox_ids(deploy=True) == []


def test_the_deploy_check_does_not_fire_in_debug(settings):
    settings.DEBUG = True
    settings.EMAIL_BACKEND = CONSOLE
    assert _sandbox_ids(deploy=True) == []


def test_it_is_a_deploy_check_only(settings):
    settings.DEBUG = False
    settings.EMAIL_BACKEND = CONSOLE
    assert _sandbox_ids(deploy=False) == []
    assert _sandbox_ids(deploy=True) == ["sandbox.E001"]


def _production(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EMAIL_", "DJANGO_SETTINGS_MODULE"))
    }
    env.update(DEBUG="false", SECRET_KEY="x" * 60, ALLOWED_HOSTS="sandbox.example.com", **extra)
    return env


def test_the_production_default_is_not_the_console_backend():
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'sandbox.settings'; "
            "django.setup(); from django.conf import settings; print(settings.EMAIL_BACKEND)",
        ],
        cwd=BASE_DIR,
        env=_production(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == SMTP


def test_manage_py_check_deploy_fails_on_the_console_backend():
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=BASE_DIR,
        env=_production(EMAIL_BACKEND=CONSOLE),
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "sandbox.E001" in run.stderr and "EMAIL_BACKEND" in run.stderr
