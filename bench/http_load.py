"""The HTTP side of bench/ledger.py: the web servers it can start and the load it sends.

Servers (``SERVERS``, ``--server``): the one production runs (``sandbox/serving.py``) and
the alternatives it was measured against, each on 2 cores' worth of processes and threads.

Load generators: wrk (C, ``bench/http_load.lua``) when it is installed, else Python
http.client threads in this process. The Python client costs about as much CPU per request
as the server's HTTP handling and shares the same 2 cores, so it caps what (b) and (e) can
show; wrk costs a few per cent of that. Both run one connection per client, each client
posting its own bodies one after the other with a fresh Idempotency-Key per request (or
sending a GET, for an item without a body), and count the answers that are not the expected
status. An empty secret sends no ``Authorization`` header.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).with_name("http_load.lua")

# name -> (what it is, default processes, default threads per process)
SERVERS = {
    "gunicorn-gthread": ("gunicorn, gthread workers (Python HTTP parsing, a thread pool)", 4, 2),
    "gunicorn-sync": ("gunicorn, sync workers (one request at a time, no keep-alive)", 8, 1),
    "granian": ("granian, WSGI (Rust HTTP/1.1 and I/O, Python threads for the app)", 2, 4),
    "uwsgi": ("uWSGI (pyuwsgi) with an HTTP/1.1 keep-alive socket", 4, 2),
    "waitress": ("waitress (pure Python, one process, threads)", 1, 8),
}


APP = "sandbox.wsgi:application"


def server_command(name: str, port: int, processes: int, threads: int, app: str = APP) -> list[str]:
    python = sys.executable
    bind = f"127.0.0.1:{port}"
    if name.startswith("gunicorn"):
        worker_class = name.removeprefix("gunicorn-")
        return [
            *(python, "-m", "gunicorn", app, "--bind", bind, "--workers", str(processes)),
            *("--worker-class", worker_class, "--threads", str(threads)),
            *("--keep-alive", "30", "--timeout", "120", "--log-level", "warning"),
        ]
    if name == "granian":
        return [
            *(python, "-m", "granian", "--interface", "wsgi", "--no-ws", "--http", "1"),
            *("--workers", str(processes), "--blocking-threads", str(threads)),
            *("--log-level", "warning", "--host", "127.0.0.1", "--port", str(port), app),
        ]
    if name == "uwsgi":
        return [
            *(python, "-c", "import sys, pyuwsgi; sys.exit(pyuwsgi.run())"),
            *("--http11-socket", bind, "--module", app, "--master", "--need-app"),
            *("--processes", str(processes), "--threads", str(threads), "--enable-threads"),
            *("--die-on-term", "--disable-logging", "--harakiri", "120", "--lazy-apps"),
        ]
    if name == "waitress":
        return [
            *(python, "-m", "waitress", f"--listen={bind}", f"--threads={threads}"),
            *("--connection-limit=100", app),
        ]
    raise ValueError(name)


def start_server(
    name: str,
    port: int,
    processes: int,
    threads: int,
    env: dict[str, str],
    cwd: Path,
    app: str = APP,
) -> subprocess.Popen:
    process = subprocess.Popen(
        server_command(name, port, processes, threads, app),
        cwd=cwd,
        env=env,
        start_new_session=True,
        # uWSGI writes its banner and a line per queued connection: its errors too, alas.
        stdout=subprocess.DEVNULL if name == "uwsgi" else None,
        stderr=subprocess.DEVNULL if name == "uwsgi" else None,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited at start-up ({process.returncode})")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status in (200, 503):
                return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    sys.exit(f"{name} did not answer on port {port}")


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc): a server's master and its workers."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += process_tree(int(child))
    return found


def process_cpu(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


class CpuProbe:
    """CPU spent by the app (the web server's processes, its master included) and by
    PostgreSQL (the bench database's backends) during a phase: what each request costs,
    whatever else runs on the box. A process that appears during the phase (a backend
    opened by a thread the warm-up did not reach) counts whole."""

    def __init__(self, server: subprocess.Popen, backends: Callable[[], list[int]]) -> None:
        self.server = server
        self.backends = backends

    def _sample(self) -> tuple[dict[int, float], dict[int, float]]:
        app = {pid: process_cpu([pid]) for pid in process_tree(self.server.pid)}
        return app, {pid: process_cpu([pid]) for pid in self.backends()}

    def __enter__(self) -> CpuProbe:
        self.app0, self.db0 = self._sample()
        return self

    def __exit__(self, *exc) -> None:
        app1, db1 = self._sample()
        self.app = sum(cpu - self.app0.get(pid, 0.0) for pid, cpu in app1.items())
        self.db = sum(cpu - self.db0.get(pid, 0.0) for pid, cpu in db1.items())

    def ceiling(self, count: float) -> float:
        """Transfers per second that all cores could carry at this CPU cost, load-free."""
        spent = self.app + self.db
        return (os.cpu_count() or 1) * count / spent if spent else 0.0

    def app_ms(self, count: float) -> float:
        """Milliseconds of app CPU per transfer."""
        return 1000 * self.app / count if count else 0.0

    def db_ms(self, count: float) -> float:
        return 1000 * self.db / count if count else 0.0

    def per(self, count: float) -> str:
        if not count:
            return "n/a"
        return f"app {self.app_ms(count):.2f} ms + db {self.db_ms(count):.2f} ms CPU"


def show_load(name: str, load: Load, count: float) -> None:
    client = 1000 * load.client_cpu / count if count else 0.0
    print(f"    load generator ({load.generator}): {client:.2f} ms CPU per request", flush=True)
    if load.failures:
        print(
            f"    {name}: {load.failures} unexpected answers {load.statuses}, first: "
            f"{load.first_unexpected}",
            flush=True,
        )


# --- Load --------------------------------------------------------------------------------

# One request of a client: path, JSON body (None: a GET), the status that counts as done.
Item = tuple[str, dict | None, int]


@dataclass
class Load:
    """What a phase of requests did: answers with the expected status per second, the
    others, and the load generator's own CPU seconds."""

    rate: float
    done: int
    failures: int
    client_cpu: float
    generator: str
    statuses: dict[str, int] = field(default_factory=dict)
    first_unexpected: str = ""


def generator_available(name: str) -> bool:
    return name == "python" or shutil.which("wrk") is not None


def run_load(
    generator: str,
    port: int,
    secret: str,
    work: list[list[Item]],
    seconds: float | None,
) -> Load:
    """Client i sends ``work[i]`` in turn, repeated for ``seconds``, or once each when
    ``seconds`` is None (then the phase lasts until every client is through)."""
    if generator == "wrk":
        return _wrk(port, secret, work, seconds)
    return _python(port, secret, work, seconds)


def _wrk(port: int, secret: str, work: list[list[Item]], seconds: float | None) -> Load:
    clients = len(work)
    with tempfile.NamedTemporaryFile("w", suffix=".work", delete=False) as file:
        file.write(f"{'once' if seconds is None else 'repeat'}\n{secret}\n{uuid.uuid4().hex}\n")
        for client, items in enumerate(work):
            for path, body, expected in items:
                payload = "" if body is None else json.dumps(body)
                file.write(f"{client}\t{path}\t{payload}\t{expected}\n")
    duration = "1800s" if seconds is None else f"{round(seconds)}s"
    command = [
        *("wrk", "--threads", str(clients), "--connections", str(clients)),
        *("--duration", duration, "--timeout", "120s", "--script", str(LUA)),
        *(f"http://127.0.0.1:{port}", "--", file.name),
    ]
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        out, finished = "", 0
        for line in process.stdout:
            out += line
            finished += line.startswith("finished ")
            if finished == clients:  # "once": everyone is through, wrk would sleep on
                # os.kill, not Popen.send_signal: that polls first, and a wrk already gone
                # would be reaped there, leaving wait4 below nothing to reap (ECHILD).
                os.kill(process.pid, signal.SIGINT)
        # Reaped here rather than by Popen.wait, for its rusage: wrk's own CPU.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        os.unlink(file.name)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode or not lines:
        sys.exit(f"wrk failed ({process.returncode}):\n{out}")
    summary = json.loads(lines[-1])
    done = summary["expected"]
    answered = sum(summary["statuses"].values())
    failures = answered - done + summary["socket_errors"] + summary["timeouts"]
    return Load(
        rate=done / (summary["duration_us"] / 1e6),
        done=done,
        failures=failures,
        client_cpu=usage.ru_utime + usage.ru_stime,
        generator="wrk",
        statuses=summary["statuses"],
        first_unexpected=summary["first_unexpected"],
    )


class Client:
    """One keep-alive connection (reopened when the server closes it, as a sync worker
    does after every answer)."""

    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.secret = secret
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def post(self, path: str, body: dict | None) -> tuple[int, bytes]:
        """POST ``body`` as JSON, or GET ``path`` when ``body`` is None."""
        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            headers["Idempotency-Key"] = str(uuid.uuid4())
        for attempt in range(2):
            try:
                method = "GET" if payload is None else "POST"
                self.connection.request(method, path, payload, headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _python(port: int, secret: str, work: list[list[Item]], seconds: float | None) -> Load:
    clients = len(work)
    stop_at = [0.0]
    done = [0] * clients
    statuses: dict[str, int] = {}
    unexpected: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def worker(index: int) -> None:
        client = Client(port, secret)
        items = work[index]
        barrier.wait()
        n = 0
        while n < len(items) if seconds is None else time.perf_counter() < stop_at[0]:
            path, body, expected = items[n % len(items)]
            status, answer = client.post(path, body)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == expected:
                done[index] += 1
            elif not unexpected:
                unexpected.append(f"{status} {answer[:300]!r}")
            n += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu = time.process_time()
    started = time.perf_counter()
    stop_at[0] = started + (seconds or 0)
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return Load(
        rate=sum(done) / elapsed,
        done=sum(done),
        failures=sum(statuses.values()) - sum(done),
        client_cpu=time.process_time() - cpu,
        generator="python",
        statuses=statuses,
        first_unexpected=unexpected[0] if unexpected else "",
    )
