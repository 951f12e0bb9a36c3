#!/usr/bin/env python
"""CPU per webhook send (``sandbox.events.webhooks.send``). A script, never a test.

    DEBUG=true python bench/webhook_send.py [--sends N]

Starts a plain HTTP receiver in a child process on 127.0.0.1 (loopback is allowed when
DEBUG is on), sends N webhooks to it after a few warm-up sends, and prints the CPU time
(``time.process_time``: this process only, the receiver excluded) and the wall time per
send. No TLS handshake happens, so the figure is the client's own cost: building the
client (including its TLS context) and the request.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

RECEIVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=300)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request
    from sandbox.events.webhooks import send

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        url = f"http://127.0.0.1:{port}/hook"
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        for _ in range(5):
            assert send(url=url, body=b"{}", headers={}).succeeded
        cpu, wall = [], []
        for _ in range(args.sends):
            c0, w0 = time.process_time(), time.perf_counter()
            outcome = send(url=url, body=b"{}", headers={})
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            assert outcome.succeeded, outcome
        print(
            f"{args.sends} sends: CPU per send mean {statistics.mean(cpu) * 1000:.2f} ms, "
            f"median {statistics.median(cpu) * 1000:.2f} ms; "
            f"wall median {statistics.median(wall) * 1000:.2f} ms"
        )
    finally:
        receiver.terminate()
        receiver.wait()


if __name__ == "__main__":
    main()
