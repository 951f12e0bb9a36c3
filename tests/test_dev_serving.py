"""`dev.py up` serves with granian where its wheel installed, else with gunicorn; either way
the access log goes to var/log/access.log and the server's own lines to its output."""

import argparse
import importlib.util
import json
import logging
import logging.config
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
assert spec is not None and spec.loader is not None
dev = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dev)

ARGS = argparse.Namespace(web_workers=2)


@pytest.fixture
def venv_bin(tmp_path, monkeypatch):
    """An empty virtual environment's bin/ and var/log/ of dev.py's own."""
    bin_dir, logs = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    logs.mkdir()
    monkeypatch.setattr(dev, "BIN", bin_dir)
    monkeypatch.setattr(dev, "LOGS", logs)
    return bin_dir


def test_without_granian_the_web_server_is_gunicorn(venv_bin):
    command = dev.web(ARGS, 8123)

    assert command[0] == str(venv_bin / "gunicorn")
    assert command[command.index("--bind") + 1] == "127.0.0.1:8123"
    assert command[command.index("--workers") + 1] == "2"
    assert command[command.index("--access-logfile") + 1] == str(dev.LOGS / "access.log")


def test_with_granian_it_serves_the_wsgi_app_and_logs_access_to_its_file(venv_bin):
    (venv_bin / "granian").touch()

    command = dev.web(ARGS, 8123)

    assert command[0] == str(venv_bin / "granian")
    assert command[-1] == "sandbox.wsgi:application"
    assert command[command.index("--interface") + 1] == "wsgi"
    assert command[command.index("--port") + 1] == "8123"
    assert command[command.index("--workers") + 1] == "2"
    assert "--access-log" in command
    # The logging configuration granian is given: access lines to access.log only.
    config = json.loads(Path(command[command.index("--log-config") + 1]).read_text())
    try:
        logging.config.dictConfig(config)
        logging.getLogger("granian.access").info('127.0.0.1 - "GET /healthz HTTP/1.1" 200')
        logging.getLogger("granian.access").handlers[0].flush()
    finally:
        for handler in logging.getLogger("granian.access").handlers:
            handler.close()
        logging.getLogger("granian.access").handlers.clear()
        logging.getLogger("_granian").handlers.clear()
    access = (dev.LOGS / "access.log").read_text()
    assert access == '127.0.0.1 - "GET /healthz HTTP/1.1" 200\n'
