"""The floors under bench/ledger.py's HTTP single transfers (phase (g)): what a request
costs before the ledger does anything, measured in the same run, through the same server
command, processes and threads, and the same load generator and client count as (b):

  (g1) the WSGI floor: bench/floor_app.py, a fixed 200 from a bare WSGI application, the
       web server's own cost per request;
  (g2) the Django floor: the sandbox answering ``GET /api/v1/tenant`` with the bench's API
       key: the whole middleware stack, DRF, the key checked through its cached record
       (one Redis round trip, no SQL), a four-field answer rendered from the tenant the key
       brought; no ledger work, no table read;
  (g2') the same floor without credentials: ``GET /jwks/platform.json``, the platform's
       public keys (no SQL, no Redis), through every middleware a dashboard page passes.

Not chosen: ``/healthz`` asks PostgreSQL and the broker; an unknown path's 404 and a
request without a key's 401 make ``django.request`` write a warning per request (the
``django`` logger stays at INFO whatever LOG_LEVEL says), which would be measured too.

``verdict`` says how far HTTP single is above the Django floor, in CPU per request (app and
database, the load generator left out), and what CPU per transfer 0.25 x pgbench would
allow on these cores: their CPU seconds per second over that rate.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.http_load import CpuProbe, Item, Load, run_load, show_load, start_server, stop

FLOOR_APP = "bench.floor_app:application"
TARGET = 0.25  # issue 12: HTTP single transfers >= 0.25 x pgbench


@dataclass
class Floor:
    label: str  # the row of the printed table
    key: str  # the prefix of its keys in ledger.json
    load: Load
    probe: CpuProbe

    @property
    def app_ms(self) -> float:
        return self.probe.app_ms(self.load.done)

    @property
    def cpu_ms(self) -> float:
        """App and database CPU per request, as the transfers' figures add them."""
        return self.app_ms + self.probe.db_ms(self.load.done)


def _measure(
    label: str,
    key: str,
    work: list[list[Item]],
    secret: str,
    *,
    generator: str,
    port: int,
    server: subprocess.Popen,
    backends: Callable[[], list[int]],
    seconds: float,
    log: Callable[[str], None],
) -> Floor:
    run_load(generator, port, secret, work, 1)  # warm-up
    log(f"{label}: {work[0][0][0]}, {len(work)} clients, {seconds}s")
    with CpuProbe(server, backends) as probe:
        load = run_load(generator, port, secret, work, seconds)
    log(f"    per request: {probe.per(load.done)}")
    show_load(label, load, load.done)
    return Floor(label, key, load, probe)


def wsgi_floor(
    server_name: str,
    workers: int,
    threads: int,
    *,
    port: int,
    env: dict[str, str],
    root: Path,
    clients: int,
    generator: str,
    seconds: float,
    log: Callable[[str], None],
) -> Floor:
    """(g1): bench/floor_app.py on a server of its own, started and stopped here."""
    server = start_server(server_name, port, workers, threads, env, root, app=FLOOR_APP)
    try:
        work: list[list[Item]] = [[("/", None, 200)]] * clients
        return _measure(
            "(g1) WSGI floor",
            "floor_wsgi",
            work,
            "",
            generator=generator,
            port=port,
            server=server,
            backends=lambda: [],  # no database
            seconds=seconds,
            log=log,
        )
    finally:
        stop(server)


def django_floors(
    secret: str,
    port: int,
    server: subprocess.Popen,
    backends: Callable[[], list[int]],
    *,
    clients: int,
    generator: str,
    seconds: float,
    log: Callable[[str], None],
) -> list[Floor]:
    """(g2) and (g2') on the sandbox's server, the one (b) ran on."""
    measure = partial(
        _measure,
        generator=generator,
        port=port,
        server=server,
        backends=backends,
        seconds=seconds,
        log=log,
    )
    keyed: list[list[Item]] = [[("/api/v1/tenant", None, 200)]] * clients
    public: list[list[Item]] = [[("/jwks/platform.json", None, 200)]] * clients
    return [
        measure("(g2) Django floor, API key", "floor_django", keyed, secret),
        measure("(g2') Django floor, public", "floor_django_public", public, ""),
    ]


def results(floors: list[Floor], pgbench_tps: float, single: CpuProbe, transfers: int) -> dict:
    """ledger.json's keys of the floors: per floor ``<key>_rps``, ``<key>_ratio_to_pgbench``
    and ``<key>_app_cpu_ms``; then HTTP single's app + database CPU per transfer (``single``
    over its ``transfers``) over the Django floor's per request, and the CPU per transfer
    that 0.25 x pgbench allows."""
    out: dict[str, float] = {}
    for floor in floors:
        out[f"{floor.key}_rps"] = round(floor.load.rate, 1)
        out[f"{floor.key}_ratio_to_pgbench"] = round(floor.load.rate / pgbench_tps, 3)
        out[f"{floor.key}_app_cpu_ms"] = round(floor.app_ms, 3)
    out["single_transfer_cpu_ratio_to_django_floor"] = round(
        _ratio(single, transfers, _django(floors)), 2
    )
    out["cpu_budget_ms_per_transfer_at_target"] = round(budget_ms(pgbench_tps), 3)
    return out


def rows(floors: list[Floor], pgbench_tps: float) -> list[tuple[str, float, float, str]]:
    """The floors' rows of bench/ledger.py's table: requests per second, not transfers."""
    return [
        (floor.label, floor.load.rate, floor.load.rate / pgbench_tps, "floor, req/s")
        for floor in floors
    ]


def budget_ms(pgbench_tps: float) -> float:
    """CPU milliseconds per transfer that TARGET x pgbench leaves on these cores."""
    return 1000 * (os.cpu_count() or 1) / (TARGET * pgbench_tps)


def verdict(floors: list[Floor], pgbench_tps: float, single: CpuProbe, transfers: int) -> list[str]:
    """The lines that say what limits HTTP single, from the figures of this run."""
    django = _django(floors)
    lines = [
        f"CPU per request, {floor.label}: {floor.probe.per(floor.load.done)}; all cores busy "
        f"with nothing else (load generator excluded) would carry ~"
        f"{floor.probe.ceiling(floor.load.done):.0f}/s"
        for floor in floors
    ]
    lines.append(
        f"HTTP single costs {_ratio(single, transfers, django):.1f} x the Django floor's CPU "
        f"({single.per(transfers)} per transfer against {django.cpu_ms:.2f} ms per "
        f"authenticated GET); {TARGET} x pgbench ({TARGET * pgbench_tps:.0f}/s) would need <= "
        f"{budget_ms(pgbench_tps):.2f} ms CPU per transfer on these {os.cpu_count()} cores "
        f"(app, database and load generator together; pgbench itself spends at most "
        f"{budget_ms(pgbench_tps) * TARGET:.2f} ms per transaction, everything included)"
    )
    return lines


def _ratio(single: CpuProbe, transfers: int, django: Floor) -> float:
    """HTTP single's app + database CPU per transfer over the Django floor's per request."""
    if not transfers or not django.cpu_ms:
        return 0.0
    return (single.app_ms(transfers) + single.db_ms(transfers)) / django.cpu_ms


def _django(floors: list[Floor]) -> Floor:
    return next(floor for floor in floors if floor.key == "floor_django")
