"""/healthz: is the database answering, can we reach the broker, and are the queues moving?

``status`` is ``ok``; ``degraded`` (still 200) when the broker cannot be reached or a queue
is past ``SANDBOX_HEALTH_QUEUE_DEPTH_LIMIT`` messages or its oldest waiting message is older
than ``SANDBOX_HEALTH_QUEUE_AGE_LIMIT_SECONDS``; ``unavailable`` (503) only when the
database is down. ``queues`` gives, per Celery queue, ``depth`` (messages waiting) and
``oldest_age_seconds`` (null when empty or unknown): on Redis from LLEN and the
``sandbox_sent_at`` header ``sandbox.celery`` stamps on every published task, on the
filesystem broker from the message files in the queue folder and their mtime.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from sandbox.celery import SENT_AT_HEADER
from sandbox.celery import app as celery_app

# kombu's Redis transport keeps a queue's priorities 1-9 in sibling lists named
# ``queue + "\x06\x16" + step`` (steps 3, 6, 9 by default); priority 0 is the queue itself.
_REDIS_PRIORITY_SEPARATOR = "\x06\x16"


def _check_database() -> dict:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is the answer, not an error of ours
        return {"ok": False, "error": str(exc)[:200]}
    return {
        "ok": True,
        "vendor": connection.vendor,
        "latency_ms": round((time.monotonic() - started) * 1000, 1),
    }


def queue_names() -> list[str]:
    """The default queue, declared queues, and every queue a route names."""
    conf = celery_app.conf
    names = {conf.task_default_queue}
    for queue in conf.task_queues or ():
        names.add(getattr(queue, "name", str(queue)))
    routes = conf.task_routes
    if isinstance(routes, dict):
        for route in routes.values():
            if isinstance(route, dict) and route.get("queue"):
                names.add(str(getattr(route["queue"], "name", route["queue"])))
    return sorted(names)


def _filesystem_queues(names: list[str], now: float) -> dict[str, dict]:
    options = celery_app.conf.broker_transport_options or {}
    folder = Path(options.get("data_folder_in", "data_in"))
    found: dict[str, list[float]] = {name: [] for name in names}
    for entry in folder.iterdir() if folder.is_dir() else ():
        # <time>_<uuid>.<queue>.msg
        parts = entry.name.split(".")
        if len(parts) >= 3 and parts[-1] == "msg" and parts[-2] in found:
            try:
                found[parts[-2]].append(entry.stat().st_mtime)
            except FileNotFoundError:  # consumed while we looked
                continue
    return {
        name: {
            "depth": len(mtimes),
            "oldest_age_seconds": round(max(0.0, now - min(mtimes)), 1) if mtimes else None,
        }
        for name, mtimes in found.items()
    }


def _redis_sent_at(raw: bytes | str | None) -> float | None:
    if raw is None:
        return None
    try:
        sent_at = json.loads(raw).get("headers", {}).get(SENT_AT_HEADER)
        return float(sent_at) if sent_at is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def _redis_queues(channel: Any, names: list[str], now: float) -> dict[str, dict]:
    client = channel.client
    # The client prefixes LLEN's key with global_keyprefix itself, but not LINDEX's.
    prefix = getattr(channel, "global_keyprefix", "") or ""
    steps = getattr(channel, "priority_steps", [0, 3, 6, 9])
    result = {}
    for name in names:
        keys = [name if not step else f"{name}{_REDIS_PRIORITY_SEPARATOR}{step}" for step in steps]
        depth, oldest = 0, None
        for key in keys:
            length = int(client.llen(key))
            if not length:
                continue
            depth += length
            # LPUSH to publish, BRPOP to consume: the oldest message is the last one.
            sent_at = _redis_sent_at(client.lindex(prefix + key, -1))
            if sent_at is not None:
                oldest = sent_at if oldest is None else min(oldest, sent_at)
        result[name] = {
            "depth": depth,
            "oldest_age_seconds": round(max(0.0, now - oldest), 1) if oldest else None,
        }
    return result


def _check_broker() -> tuple[dict, dict[str, dict]]:
    started = time.monotonic()
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            transport = conn.transport_cls
            latency = round((time.monotonic() - started) * 1000, 1)
            names, now = queue_names(), time.time()
            driver = conn.transport.driver_type
            if driver == "filesystem":
                queues = _filesystem_queues(names, now)
            elif driver == "redis":
                queues = _redis_queues(conn.default_channel, names, now)
            else:
                queues = {name: {"depth": None, "oldest_age_seconds": None} for name in names}
    except Exception as exc:
        return {"ok": False, "error": str(exc)[:200]}, {}
    return {"ok": True, "transport": str(transport), "latency_ms": latency}, queues


def thresholds() -> dict[str, int]:
    return {
        "queue_depth": settings.SANDBOX_HEALTH_QUEUE_DEPTH_LIMIT,
        "queue_age_seconds": settings.SANDBOX_HEALTH_QUEUE_AGE_LIMIT_SECONDS,
    }


def _problems(broker: dict, queues: dict[str, dict], limits: dict[str, int]) -> list[str]:
    problems = [] if broker["ok"] else ["broker unreachable"]
    for name, queue in queues.items():
        if (queue["depth"] or 0) > limits["queue_depth"]:
            problems.append(f"queue {name}: {queue['depth']} messages waiting")
        if (queue["oldest_age_seconds"] or 0) > limits["queue_age_seconds"]:
            problems.append(f"queue {name}: oldest message {queue['oldest_age_seconds']} s old")
    return problems


def healthz(request) -> JsonResponse:
    database = _check_database()
    broker, queues = _check_broker()
    limits = thresholds()
    problems = _problems(broker, queues, limits)
    if not database["ok"]:
        status = "unavailable"
        problems.insert(0, "database unreachable")
    else:
        status = "degraded" if problems else "ok"
    return JsonResponse(
        {
            "status": status,
            "problems": problems,
            "database": database,
            "broker": broker,
            "queues": queues,
            "thresholds": limits,
        },
        status=503 if status == "unavailable" else 200,
    )
