"""The WSGI floor of bench/ledger.py (phase (g1), bench/floor.py): an application that
answers every request with the same small JSON and does nothing else, served by the same
server command as the sandbox. What it costs per request is the web server's own share:
HTTP parsing, the worker threads, the call into Python and back."""

from __future__ import annotations

from collections.abc import Callable, Iterable

BODY = b'{"ok": true}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
