#!/usr/bin/env python
"""Fault drills (issue 13, item 6). A script, never a test.

    python bench/faults.py [--clients 6] [--seconds 60] [--keep]

Builds a world of its own in a temporary folder: a PostgreSQL cluster (initdb + pg_ctl on
a spare port), a Redis on a spare port (no persistence: killing it loses its queues), the
sandbox served by gunicorn, Celery workers and beat (``WORKER_COMMANDS``, ``BEAT_COMMAND``),
and a webhook receiver counting deliveries by event id. Client threads send transfers
through the HTTP API (an Idempotency-Key each, retried with the same key on a 5xx or a
broken connection, as a careful client does) while three faults hit:

  1. a Celery worker killed with SIGKILL (then started again);
  2. the broker killed with SIGKILL and started again EMPTY: every queued message is lost;
  3. PostgreSQL's postmaster killed with SIGKILL (its backends too), then started again
     (crash recovery).

Then it waits for webhooks to drain and reconciles: what clients were told (201 and a
transaction id) against the ledger, every event against the deliveries received, runs
``verify_ledger`` and ``verify_anchors``, closes the day (the platform clock advanced a day)
and verifies again. Writes ``bench/results/faults.json``: transfers_sent, acknowledged,
in_ledger, lost, duplicated, events_missing, faults_survived (and more detail).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "faults.json"
BIN = Path(sys.executable).parent
CELERY = str(BIN / "celery")
GUNICORN = str(BIN / "gunicorn")
DRAIN_SECONDS = 600  # at most, waiting for webhooks after the load
STALL_SECONDS = 180  # give up earlier when no delivery arrived for this long

# The Celery processes, one command each: adapt here when queues change (add "-Q", ...).
WORKER_COMMANDS = [
    [CELERY, "-A", "sandbox", "worker", "-n", f"faults-{n}@%h", "-c", "2", "-l", "warning",
     "--without-gossip", "--without-mingle", "--without-heartbeat"]
    for n in (1, 2)
]  # fmt: skip
BEAT_COMMAND = [CELERY, "-A", "sandbox", "beat", "-l", "warning"]

STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on port {port} after {seconds} s")


# --- The world: PostgreSQL, Redis, the sandbox's processes -----------------------------------


class World:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.logs = folder / "logs"
        self.logs.mkdir()
        self.pg_port, self.redis_port = free_port(), free_port()
        self.web_port, self.hook_port = free_port(), free_port()
        self.pg_data = folder / "pg"
        self.pg_bin = pg_bin_dir()
        self.redis: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen | None] = [None] * len(WORKER_COMMANDS)
        self.beat: subprocess.Popen | None = None

    # PostgreSQL refuses to run as root: as root, its tools run as the postgres user.
    def _as_postgres(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    def pg_init(self) -> None:
        self.pg_data.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.folder, self.pg_data):
                os.chown(path, user.pw_uid, user.pw_gid)
            os.chmod(self.folder, 0o755)
        subprocess.run(
            self._as_postgres(
                [str(self.pg_bin / "initdb"), "-D", str(self.pg_data), "-U", "postgres",
                 "--auth=trust", "-E", "UTF8", "--no-sync"]
            ),
            check=True, capture_output=True,
        )  # fmt: skip

    def pg_start(self) -> None:
        # fsync off: the faults here kill processes, never the machine, and the kernel keeps
        # what a killed process wrote, so crash recovery sees the same WAL as with fsync on;
        # it spares a shared, slow disk. synchronous_commit stays on: a commit is in the WAL
        # (not in shared memory, which a postmaster kill -9 loses) before the client hears.
        options = f"-p {self.pg_port} -k {self.pg_data} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            self._as_postgres(
                [str(self.pg_bin / "pg_ctl"), "-D", str(self.pg_data), "-w", "-t", "120",
                 "-l", str(self.pg_data / "server.log"), "-o", options, "start"]
            ),
            check=True, capture_output=True,
        )  # fmt: skip

    def pg_stop(self) -> None:
        subprocess.run(
            self._as_postgres(
                [str(self.pg_bin / "pg_ctl"), "-D", str(self.pg_data), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )  # fmt: skip

    def postmaster_pid(self) -> int:
        return int((self.pg_data / "postmaster.pid").read_text().split()[0])

    def pg_kill(self) -> None:
        """SIGKILL the postmaster, then its orphaned backends (as a machine crash would take
        them all; a new postmaster will not start while they hold shared memory)."""
        postmaster = self.postmaster_pid()
        children = children_of(postmaster)
        os.kill(postmaster, signal.SIGKILL)
        time.sleep(0.5)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def createdb(self) -> None:
        subprocess.run(
            [str(self.pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port),
             "-U", "postgres", "faults"],
            check=True,
        )  # fmt: skip

    def event_ids(self, tenant: str) -> list[str]:
        """The tenant's events, straight from PostgreSQL (cheaper than a Django process)."""
        done = subprocess.run(
            [str(self.pg_bin / "psql"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U",
             "postgres", "-d", "faults", "-Atc",
             "SELECT e.id FROM events_event e JOIN tenants_node n ON n.id = e.node_id "
             f"WHERE n.tenant_id = '{uuid.UUID(tenant)}'"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.split()

    def redis_start(self) -> None:
        self.redis = self._spawn(
            "redis",
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
        )  # fmt: skip
        wait_port(self.redis_port)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in list(env):
            if name.endswith("_FILE"):
                env.pop(name)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "sandbox.settings",
                "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.pg_port}/faults",
                "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/1",
                "DEBUG": "false",
                "SECRET_KEY": "faults-only-" + "s" * 40,
                "CLEARING_MASTER_KEY": "faults-master-key-" + "m" * 40,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SESSION_COOKIE_SECURE": "false",
                "CSRF_COOKIE_SECURE": "false",
                "SANDBOX_WEBHOOK_ALLOW_LOOPBACK": "true",
                "SANDBOX_VAR_DIR": str(self.folder / "var"),
                "LOG_LEVEL": "WARNING",
                "DB_CONN_MAX_AGE": "60",
                "PYTHONPATH": str(ROOT),
                "PYTHONWARNINGS": "ignore",
            }
        )
        return env

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        out = (self.logs / f"{name}.log").open("ab")
        return subprocess.Popen(
            args, cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(),
            capture_output=True, text=True, check=check,
        )  # fmt: skip

    def web_start(self) -> None:
        self.web = self._spawn(
            "web",
            [GUNICORN, "sandbox.wsgi:application", "--bind", f"127.0.0.1:{self.web_port}",
             "--workers", "2", "--worker-class", "gthread", "--threads", "4",
             "--timeout", "60", "--log-level", "warning"],
        )  # fmt: skip
        wait_port(self.web_port)

    def worker_start(self, index: int) -> None:
        self.workers[index] = self._spawn(f"worker-{index}", WORKER_COMMANDS[index])

    def beat_start(self) -> None:
        self.beat = self._spawn("beat", [*BEAT_COMMAND, "-s", str(self.folder / "beat")])

    def stop_all(self) -> None:
        for process in [self.web, self.beat, *self.workers, self.redis]:
            if process is not None and process.poll() is None:
                killpg(process, signal.SIGTERM)
        time.sleep(2)
        for process in [self.web, self.beat, *self.workers, self.redis]:
            if process is not None and process.poll() is None:
                killpg(process, signal.SIGKILL)
        self.pg_stop()


def pg_bin_dir() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        raise SystemExit("No PostgreSQL server binaries under /usr/lib/postgresql/*/bin.")
    return versions[-1].parent


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def killpg(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    if sig == signal.SIGKILL:
        process.wait()


# --- The webhook receiver ---------------------------------------------------------------------


class Receiver:
    """Counts deliveries by event id (the body's ``id``) and answers 200."""

    def __init__(self, port: int) -> None:
        self.counts: Counter[str] = Counter()
        lock = threading.Lock()
        counts = self.counts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event_id = json.loads(body)["id"]
                except (ValueError, KeyError, TypeError):
                    event_id = None
                if event_id:
                    with lock:
                        counts[event_id] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


# --- Clients ----------------------------------------------------------------------------------


class Client(threading.Thread):
    """Sends transfers until told to stop; each with its own Idempotency-Key, retried with
    the same key on a 5xx, a 409 (the first try still in flight) or a broken connection."""

    RETRY_FOR_SECONDS = 180

    def __init__(self, number: int, port: int, secret: str, pair: list[str], stop: threading.Event):
        super().__init__(daemon=True)
        self.number, self.port, self.secret, self.pair, self.stop = number, port, secret, pair, stop
        self.sent: dict[str, str | None] = {}  # ref -> the transaction id the client was told
        self.refused: dict[str, str] = {}  # ref -> the error code a 4xx gave
        self.retries = 0
        self.conn: http.client.HTTPConnection | None = None

    def post(self, ref: str, body: bytes) -> tuple[int, dict]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {
            "Authorization": f"Bearer {self.secret}",
            "Content-Type": "application/json",
            "Idempotency-Key": ref,
        }
        try:
            self.conn.request("POST", "/api/v1/transfers", body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            return 0, {}
        try:
            return response.status, json.loads(data or b"{}")
        except ValueError:
            return response.status, {}

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            ref = f"faults-{self.number}-{n}-{uuid.uuid4().hex[:8]}"
            source, destination = self.pair if n % 2 == 0 else self.pair[::-1]
            body = json.dumps(
                {
                    "source_account_id": source,
                    "destination_account_id": destination,
                    "amount": str(100 + n % 50),
                    "currency": "KRW",
                    "memo": "fault drill",
                    "metadata": {"ref": ref},
                }
            ).encode()
            self.sent[ref] = None
            deadline = time.monotonic() + self.RETRY_FOR_SECONDS
            while True:
                status, data = self.post(ref, body)
                if status == 201:
                    self.sent[ref] = data["id"]
                    break
                if 400 <= status < 500 and status not in (409, 429):
                    self.refused[ref] = f"{status} {data.get('code', '')}"
                    break
                if time.monotonic() > deadline:
                    break  # never told: an unknown outcome, not an acknowledged transfer
                self.retries += 1
                time.sleep(0.5)
            n += 1


# --- Reconciliation ---------------------------------------------------------------------------

SETUP = """
import json, sys
from sandbox.tenants import services as ts
from sandbox.tenants.models import Tenant
from wallets import services as ws
from wallets.locking import retrying
from wallets.posting import Leg, Posting, post_one

hook, clients = sys.argv[1], int(sys.argv[2])
tenant = Tenant.objects.create(name="Faults Pay", status=Tenant.Status.ACTIVE)
secret = ts.api_key_create(tenant=tenant, name="faults", actor=ts.SYSTEM).secret
nodes = [ts.node_create(tenant=tenant, actor=ts.SYSTEM, name=f"Node {i}", country="KR",
                        base_currency="KRW", webhook_url=hook) for i in range(2)]
pairs = []
for c in range(clients):
    pair = []
    for node in nodes:
        account = ws.account_create(wallet=node.wallet, actor=ts.SYSTEM, currency="KRW",
                                    name=f"client {c}")
        settlement = ws.platform_account(purpose="settlement", currency="KRW",
                                         bank_code=account.bank_code)
        retrying(post_one)(Posting(kind="deposit", tenant_id=tenant.pk, legs=[
            Leg(settlement.pk, -10**9, "KRW"), Leg(account.pk, 10**9, "KRW")]))
        pair.append(str(account.pk))
    pairs.append(pair)
print(json.dumps({"tenant": str(tenant.pk), "secret": secret, "pairs": pairs}))
"""

FACTS = """
import json, sys
from collections import defaultdict
from sandbox.events.models import Event, WebhookDelivery
from wallets.models import LedgerTransaction

tenant = sys.argv[1]
by_ref = defaultdict(list)
for uuid, metadata in LedgerTransaction.objects.filter(tenant_id=tenant).values_list(
        "uuid", "metadata"):
    if isinstance(metadata, dict) and metadata.get("ref"):
        by_ref[metadata["ref"]].append(str(uuid))
events = [str(e) for e in Event.objects.filter(node__tenant_id=tenant).values_list("id", flat=True)]
undelivered = WebhookDelivery.objects.filter(tenant_id=tenant).exclude(status="succeeded").count()
print(json.dumps({"by_ref": by_ref, "events": events, "deliveries_not_succeeded": undelivered}))
"""

CLOSE = """
import json
from django.contrib.auth import get_user_model
from clearing import closing
from clearing.encoding import today
from sandbox.events import clocks
from sandbox.tenants.services import Actor

operator = get_user_model().objects.create(email="ops@faults.invalid", is_staff=True)
day = today()
clocks.platform_clock_advance(actor=Actor(user=operator), seconds=86400)
outcome = closing.close_day(day=day, triggered_by="bench/faults.py")
print(json.dumps({"day": day.isoformat(), "result": outcome.result,
                  "transactions": outcome.close.leaf_count, "root": outcome.close.root}))
"""


def shell(world: World, code: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code, *args],
        cwd=ROOT, env=world.env(), capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"a Django step failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- The run ----------------------------------------------------------------------------------


def fault_worker_kill(world: World) -> str:
    victim = world.workers[0]
    assert victim is not None
    killpg(victim, signal.SIGKILL)  # the worker and its pool, mid-task
    time.sleep(2)
    world.worker_start(0)
    return "worker kill -9"


def fault_broker_loss(world: World) -> str:
    assert world.redis is not None
    killpg(world.redis, signal.SIGKILL)  # no persistence: every queued message is gone
    time.sleep(5)
    world.redis_start()
    return "broker lost with its queue"


def fault_postmaster_kill(world: World) -> str:
    world.pg_kill()
    time.sleep(3)
    world.pg_start()  # crash recovery from the WAL
    return "postmaster kill -9"


FAULTS = [(0.15, fault_worker_kill), (0.4, fault_broker_loss), (0.65, fault_postmaster_kill)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=60, help="how long the load runs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="fsbx-faults-"))
    world = World(folder)
    log(f"world in {folder}: PostgreSQL :{world.pg_port}, Redis :{world.redis_port}, "
        f"web :{world.web_port}, receiver :{world.hook_port}")  # fmt: skip
    results: dict = {}
    try:
        world.pg_init()
        world.pg_start()
        world.createdb()
        world.redis_start()
        log("migrating")
        world.manage("migrate", "-v", "0")
        hook = f"http://127.0.0.1:{world.hook_port}/hook"
        books = shell(world, SETUP, hook, str(options.clients))
        receiver = Receiver(world.hook_port)
        world.web_start()
        for index in range(len(WORKER_COMMANDS)):
            world.worker_start(index)
        world.beat_start()
        time.sleep(5)

        stop = threading.Event()
        clients = [
            Client(c, world.web_port, books["secret"], books["pairs"][c], stop)
            for c in range(options.clients)
        ]
        log(f"load: {options.clients} clients for {options.seconds} s")
        load_started = time.monotonic()
        for client in clients:
            client.start()
        survived = []
        for at, fault in FAULTS:
            time.sleep(max(0.0, load_started + at * options.seconds - time.monotonic()))
            log(f"fault: {fault.__name__}")
            survived.append(fault(world))
            log(f"       {survived[-1]}: done, load goes on")
        time.sleep(max(0.0, load_started + options.seconds - time.monotonic()))
        stop.set()
        log("load stopped; waiting for clients' last retries")
        for client in clients:
            client.join(timeout=Client.RETRY_FOR_SECONDS + 30)

        sent = {ref: told for client in clients for ref, told in client.sent.items()}
        refused = {ref: code for client in clients for ref, code in client.refused.items()}
        log(f"{len(sent)} transfers sent; waiting for webhooks to drain")
        drain_started = time.monotonic()
        deadline = drain_started + DRAIN_SECONDS
        last_progress, last_missing = drain_started, None
        while True:
            events = world.event_ids(books["tenant"])
            missing = [e for e in events if receiver.counts[e] == 0]
            now = time.monotonic()
            if missing != last_missing:
                last_progress, last_missing = now, missing
            if not missing or now > deadline or now - last_progress > STALL_SECONDS:
                break
            log(f"       {len(missing)} of {len(events)} events not delivered yet")
            time.sleep(5)
        drain_seconds = time.monotonic() - drain_started
        facts = shell(world, FACTS, books["tenant"])
        missing = [e for e in facts["events"] if receiver.counts[e] == 0]

        acknowledged = {ref: txn for ref, txn in sent.items() if txn}
        by_ref = facts["by_ref"]
        in_ledger = [ref for ref, txn in acknowledged.items() if txn in by_ref.get(ref, [])]
        duplicated = [ref for ref, txns in facts["by_ref"].items() if len(txns) > 1]
        unknown = [ref for ref, txn in sent.items() if not txn and ref not in refused]
        log("verifying and closing the day")
        verify_ledger = world.manage("verify_ledger", check=False)
        verify_anchors = world.manage("verify_anchors", check=False)
        close = shell(world, CLOSE)
        after_close = world.manage("verify_anchors", check=False)
        results = {
            "transfers_sent": len(sent),
            "acknowledged": len(acknowledged),
            "in_ledger": len(in_ledger),
            "lost": len(acknowledged) - len(in_ledger),
            "duplicated": len(duplicated),
            "events_missing": len(missing),
            "faults_survived": survived,
            "detail": {
                "clients": options.clients,
                "load_seconds": options.seconds,
                "refused_4xx": Counter(refused.values()),
                "never_told_but_in_ledger": sum(1 for r in unknown if facts["by_ref"].get(r)),
                "never_told_not_in_ledger": sum(1 for r in unknown if not facts["by_ref"].get(r)),
                "client_retries": sum(c.retries for c in clients),
                "events": len(facts["events"]),
                "deliveries_received": sum(receiver.counts.values()),
                "drain_seconds": round(drain_seconds, 1),
                "events_delivered_more_than_once": sum(
                    1 for e in facts["events"] if receiver.counts[e] > 1
                ),
                "deliveries_not_succeeded": facts["deliveries_not_succeeded"],
                "verify_ledger": (verify_ledger.stdout + verify_ledger.stderr).strip(),
                "verify_anchors": (verify_anchors.stdout + verify_anchors.stderr).strip(),
                "close": close,
                "verify_anchors_after_close": (after_close.stdout + after_close.stderr).strip(),
                "worker_commands": [
                    " ".join(Path(a).name if i == 0 else a for i, a in enumerate(c))
                    for c in WORKER_COMMANDS
                ],
            },
        }
        ok = (
            results["lost"] == 0 and results["duplicated"] == 0
            and results["events_missing"] == 0 and verify_ledger.returncode == 0
            and verify_anchors.returncode == 0 and after_close.returncode == 0
            and close["result"] == "closed"
        )  # fmt: skip
        results["verdict"] = "held" if ok else "FAILED"
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
        print(json.dumps({k: v for k, v in results.items() if k != "detail"}, indent=2))
        log(f"wrote {RESULTS.relative_to(ROOT)}: {results['verdict']}")
    finally:
        world.stop_all()
        if options.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if results.get("verdict") != "held":
        sys.exit(1)


if __name__ == "__main__":
    main()
