#!/usr/bin/env python3
"""One-command sandbox: `python3 dev.py up` runs it, `python3 dev.py test` tests it.

Standard library only, so it works on a fresh machine with nothing but Python 3.11+:
it makes its own virtual environment (.venv), installs the project into it, and runs
everything from there. With no environment variables set, the sandbox uses SQLite and
Celery's embedded filesystem broker; set DATABASE_URL / CELERY_BROKER_URL / REDIS_URL to
use PostgreSQL and Redis instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("SANDBOX_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".sandbox-installed"
# The outbox relay and the scheduler sweep run every few seconds: at INFO the worker would
# log them endlessly. SANDBOX_WORKER_LOG_LEVEL=INFO shows every task.
LOG_LEVEL = os.environ.get("SANDBOX_WORKER_LOG_LEVEL", "WARNING")


LOGS = ROOT / "var" / "log"
# What reaches the terminal once the sandbox runs: warnings and errors (and the traceback
# lines that follow one); everything else stays in the process's file under var/log/.
LOUD = re.compile(r"(?<![%@\w])(WARNING|ERROR|CRITICAL|FATAL)\b|^Traceback|\w(Warning|Error): ")
# The same warning from two processes (or twice from one) is printed once: compared without
# the timestamp, process id and worker name that make each line unique.
NOISE = re.compile(r"\[[^\]]*\]|^[0-9-]+[ T][0-9:,.]+|\b(pid|PID)[: ]*[0-9]+|@\S+")


def say(message: str) -> None:
    print(f"\033[1;34m==>\033[0m {message}", flush=True)


def ensure_environment() -> None:
    """Create .venv and install the project (with test extras) when pyproject changes."""
    if not PYTHON.exists():
        say(f"Creating a virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    say("Installing the sandbox and its dependencies (first run takes a minute)")
    log = VENV / "install.log"
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check"]
    with log.open("w") as output:

        def install(*args: str) -> bool:
            command = [*pip, "install", *args]
            return not subprocess.run(
                command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
            ).returncode

        # The web server, granian (the `serve` extra), comes as a compiled wheel: where
        # none fits this platform or Python, the sandbox is served by gunicorn instead.
        if not install("--upgrade", "pip") or not (
            install("-e", f"{ROOT}[dev,serve]") or install("-e", f"{ROOT}[dev]")
        ):
            sys.exit(
                f"Installation failed; the whole output is in {log}:\n{log.read_text()[-3000:]}"
            )
    if not (BIN / "granian").exists():
        say(f"granian could not be installed here (see {log}); the web server is gunicorn")
    STAMP.write_text(wanted)


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    # Local runs are development runs unless told otherwise; production sets DEBUG=false
    # and a real SECRET_KEY (see the README).
    env.setdefault("DEBUG", "true")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(PYTHON), "manage.py", *args], check=True, cwd=ROOT, env=env)


def free_port(preferred: int) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 50)]:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    sys.exit(f"No free port near {preferred}.")


def wait_until_healthy(url: str, processes: list[subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit(f"A sandbox process exited during start-up; see {LOGS}.")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"The web server did not answer at {url}/healthz within {timeout:.0f}s.")


class Relay:
    """Copies each process's output to its file under var/log/ and lets through to the
    terminal only warnings and errors (``LOUD``), each distinct one once."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def follow(self, name: str, process: subprocess.Popen, path: Path) -> threading.Thread:
        def pump() -> None:
            assert process.stdout is not None
            in_traceback = False
            with path.open("a", encoding="utf-8", errors="replace") as log:
                for line in iter(process.stdout.readline, ""):
                    log.write(line)
                    log.flush()
                    loud = bool(LOUD.search(line))
                    if line.startswith("Traceback"):
                        in_traceback = True
                    elif in_traceback and not line.startswith((" ", "\t")):
                        in_traceback = False
                        loud = True  # the exception's own line ends a traceback
                    if loud or in_traceback:
                        self.show(name, line.rstrip())

        thread = threading.Thread(target=pump, name=f"relay {name}", daemon=True)
        thread.start()
        return thread

    def show(self, name: str, line: str) -> None:
        key = NOISE.sub("", line).strip()
        with self.lock:
            if key in self.seen:
                return
            self.seen.add(key)
            if len(self.seen) > 10_000:
                self.seen.clear()
        print(f"[{name}] {line}", flush=True)


def log_file(name: str) -> Path:
    return LOGS / (name.replace(" ", "-") + ".log")


def workers(args: argparse.Namespace) -> dict[str, list[str]]:
    """A Celery worker per work queue (settings.CELERY_TASK_QUEUES), so that the simulated
    bank never waits behind webhook deliveries or clearing jobs. The webhook worker runs a
    pool of threads: an attempt mostly waits on the receiver, so one process keeps many in
    flight (sandbox.events.webhooks says why threads)."""

    def worker(queue: str, *options: str) -> list[str]:
        return [
            str(BIN / "celery"),
            "-A",
            "sandbox",
            "worker",
            "--queues",
            queue,
            "--hostname",
            f"{queue}@%h",
            "--loglevel",
            LOG_LEVEL,
            *options,
        ]

    return {
        "worker bank": worker("bank", "--concurrency", str(args.worker_concurrency)),
        "worker webhooks": worker(
            "webhooks", "--pool", "threads", "--concurrency", str(args.webhook_concurrency)
        ),
        "worker clearing": worker("clearing", "--concurrency", "1"),
        "worker default": worker("default", "--concurrency", "1"),
    }


def web(args: argparse.Namespace, port: int) -> list[str]:
    """The web server: granian, as in production (README, *Production*), or gunicorn where
    granian's wheel could not be installed. Both run ``--web-workers`` processes of 4
    threads: a request waits on PostgreSQL about as long as it computes, so threads overlap
    those waits while the processes keep both cores busy (docs/scaling.md, *Serving*)."""
    access_log = LOGS / "access.log"
    if not (BIN / "granian").exists():
        return [
            *(str(BIN / "gunicorn"), "sandbox.wsgi", "--bind", f"127.0.0.1:{port}"),
            *("--workers", str(args.web_workers), "--threads", "4"),
            *("--access-logfile", str(access_log), "--log-level", "warning"),
        ]
    # granian logs through Python's logging: its own lines to the output (web.log), the
    # access lines to access.log, as gunicorn's --access-logfile did.
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "generic": {"format": "[%(levelname)s] %(message)s"},
            "access": {"format": "%(message)s"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "generic"},
            "access": {
                "class": "logging.FileHandler",
                "formatter": "access",
                "filename": str(access_log),
            },
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
    config_file = LOGS / "granian-logging.json"
    config_file.write_text(json.dumps(config, indent=2))
    return [
        *(str(BIN / "granian"), "--interface", "wsgi", "--no-ws", "--http", "1"),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--workers", str(args.web_workers), "--blocking-threads", "4"),
        *("--respawn-failed-workers", "--log-level", "warning", "--log-config", str(config_file)),
        *("--access-log", "sandbox.wsgi:application"),
    ]


def up(args: argparse.Namespace) -> int:
    ensure_environment()
    env = base_env()
    port = free_port(args.port)
    url = f"http://127.0.0.1:{port}"
    env.setdefault("SANDBOX_BASE_URL", url)
    say("Migrating the database")
    manage("migrate", "--noinput", "-v", "0", env=env)
    say("Loading demo data")
    # Its logins are printed once, below, with the URL.
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / "seed.log").open("w") as seed_log:
        seeded = subprocess.run(
            [str(PYTHON), "manage.py", "seed_demo"],
            cwd=ROOT,
            env=env,
            stdout=seed_log,
            stderr=subprocess.STDOUT,
        )
    if seeded.returncode:
        sys.exit(f"Loading the demo data failed:\n{(LOGS / 'seed.log').read_text()[-3000:]}")
    commands = {
        "web": web(args, port),
        **workers(args),
        "beat": [str(BIN / "celery"), "-A", "sandbox", "beat", "--loglevel", LOG_LEVEL],
    }
    processes = []
    relay = Relay()
    # A plain `kill` of dev.py must stop the children too (they run in their own sessions,
    # so Ctrl-C reaches only us): turn SIGTERM into the same orderly exit as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for name, command in commands.items():
        say(f"Starting {name} (log: {log_file(name).relative_to(ROOT)})")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        relay.follow(name, process, log_file(name))
        processes.append(process)
    try:
        wait_until_healthy(url, processes)
        print(
            f"\n  Fintech Sandbox is running at {url}\n"
            f"  API docs: {url}/api/docs/   Operator console: {url}/operator/\n"
            "  Demo logins (password sandbox-demo-2026):\n"
            "    operator@sandbox.test    operator (console + admin)\n"
            "    owner@kimchipay.test     Kimchi Pay, Seoul node (KRW)\n"
            "    owner@sakuraremit.test   Sakura Remit, Tokyo node (JPY)\n"
            f"  Logs: {LOGS.relative_to(ROOT)}/ (access.log: every request; web.log,\n"
            "  worker-*.log, beat.log: each process). Only warnings and errors show here.\n"
            "  Press Ctrl-C to stop.\n",
            flush=True,
        )
        if args.exit_when_ready:
            return 0
        while all(p.poll() is None for p in processes):
            time.sleep(1)
        say("A process stopped; shutting the others down.")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()  # each parent stops its own children cleanly
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test(args: argparse.Namespace) -> int:
    ensure_environment()
    env = base_env()
    workers = args.workers or ("2" if (os.cpu_count() or 1) > 1 else "0")
    command = [str(PYTHON), "-m", "pytest", "-n", workers, *args.extra]
    say(" ".join(command[2:]))
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - the point is to say so on old Pythons
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}.")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "up", help="install, migrate, seed demo data, run web + a worker per queue + beat"
    )
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run.add_argument("--web-workers", type=int, default=2)
    run.add_argument(
        "--worker-concurrency", type=int, default=2, help="processes of the bank worker"
    )
    run.add_argument(
        "--webhook-concurrency",
        type=int,
        default=16,
        help="threads of the webhook worker (attempts in flight at once)",
    )
    run.add_argument(
        "--exit-when-ready", action="store_true", help="stop once healthy (smoke test)"
    )
    run.set_defaults(handler=up)
    check = commands.add_parser("test", help="install and run the whole test suite")
    check.add_argument("--workers", help="pytest-xdist workers (default: 2)")
    check.set_defaults(handler=test)
    install = commands.add_parser("setup", help="only create .venv and install")
    install.set_defaults(handler=lambda args: ensure_environment() or 0)
    # Whatever dev.py does not know is passed on to pytest: `dev.py test -k ledger -x`.
    args, extra = parser.parse_known_args()
    args.extra = extra
    if args.extra and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(args.extra)}")
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
